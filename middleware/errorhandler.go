package middleware

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/internal/reqstate"
)

// ErrorHandlerConfig configures the error handler built by NewErrorHandler.
// Every zero field has a default; see httperror.Config, whose fields these
// are.
type ErrorHandlerConfig struct {
	// Logger receives one line per error response. Default
	// requestid.DefaultLogger().
	Logger *slog.Logger

	// ClientErrorLevel is the level 4xx errors are logged at. Default (nil):
	// slog.LevelDebug. INTERNAL and WORKFLOW_START_FAILED are always logged
	// at error level.
	ClientErrorLevel slog.Leveler

	// UpstreamErrorLevel is the level of the other 5xx codes. Default
	// (nil): slog.LevelWarn.
	UpstreamErrorLevel slog.Leveler

	// MaxBodyBytes is the request body limit reported in details.maxBytes
	// when a 413 comes from echo's own BodyLimit middleware (whose error
	// does not carry the limit). Zero: such a 413 renders PAYLOAD_TOO_LARGE
	// without details. Negative is a configuration error.
	MaxBodyBytes int64

	// DefaultRetryAfter is the wait reported for a 429 raised by echo or a
	// third-party middleware when no Retry-After header was set before it.
	// Default (0): one second. Negative is a configuration error.
	DefaultRetryAfter time.Duration

	// Events, if set, receives one event.KindError per request answered
	// with an error (see httperror.Config.Events), with c.Path() as the
	// route: a route template, or "" when the router matched nothing.
	Events event.Hook

	// StackLogInterval is how often an identical panic stack is logged in
	// full (see httperror.Config.StackLogInterval): 0 is
	// httperror.DefaultStackLogInterval, negative logs every stack.
	StackLogInterval time.Duration
}

// DefaultErrorHandlerConfig is the default error handler configuration:
// every field at its default, which is what any zero field of an
// ErrorHandlerConfig means too.
var DefaultErrorHandlerConfig = ErrorHandlerConfig{}

// NewErrorHandler returns an echo.HTTPErrorHandler that renders every error
// as the contract's envelope through httperror's one render path (see that
// package for what is written and logged). Install it as e.HTTPErrorHandler
// (Install does).
//
// echo's own errors are translated for the mapping table of
// httperror.Mapping: an *echo.HTTPError becomes an httperror.StatusError
// with its status, its string message and its internal error; an
// *echo.BindingError a StatusError naming the field. The route in the log
// line is c.Path(), the route template. When the response is already
// committed nothing is written and the error is logged; an error already
// rendered for this request (echo's Logger middleware calls c.Error and
// returns the error too) is not rendered or logged again. A 404 answered by
// a RouteNotFound route, such as the ones echo (4.10 and later) registers
// for a group with middleware, gets the Allow header the router would have
// sent for its 405 when other methods are served at the path.
//
// It returns an error when cfg is invalid.
func NewErrorHandler(cfg ErrorHandlerConfig) (echo.HTTPErrorHandler, error) {
	w, err := newWriter(cfg)
	if err != nil {
		return nil, err
	}
	return handler(w), nil
}

// newWriter returns the httperror.Writer of cfg, translating echo's errors.
func newWriter(cfg ErrorHandlerConfig) (*httperror.Writer, error) {
	return httperror.New(httperror.Config{
		Logger:             cfg.Logger,
		ClientErrorLevel:   cfg.ClientErrorLevel,
		UpstreamErrorLevel: cfg.UpstreamErrorLevel,
		MaxBodyBytes:       cfg.MaxBodyBytes,
		DefaultRetryAfter:  cfg.DefaultRetryAfter,
		Translate:          translate,
		Events:             cfg.Events,
		StackLogInterval:   cfg.StackLogInterval,
	})
}

// handler is the echo.HTTPErrorHandler that renders through w.
func handler(w *httperror.Writer) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		res := c.Response()
		if !res.Committed && c.Path() != "" && res.Header().Get(echo.HeaderAllow) == "" &&
			w.Map(err, res.Header()).Code() == apierror.CodeNotFound {
			routeNotFoundAllow(c, res.Header())
		}
		r := request(c)
		w.WriteMeta(res, r, err, httperror.Meta{Route: c.Path(), Committed: res.Committed})
		remember(c, r)
	}
}

// stateKey is where the error handler keeps a request's errkit state in
// echo's context once it has answered an error.
const stateKey = "errkit.requestState"

// request returns the request to answer c's error for: c's own, or, when
// an outer middleware put back a request without errkit's state after
// errkit answered an error, the request errkit answered it for. Tracing
// middleware does that (otelecho restores the request it started with,
// and returns the error it already handed to the error handler), and the
// error echo then hands over again must be recognised as the same one:
// answered, logged and counted once, under the request's own ID.
func request(c echo.Context) *http.Request {
	r := c.Request()
	if reqstate.From(r.Context()) == nil {
		if s, ok := c.Get(stateKey).(*reqstate.State); ok {
			return s.Request()
		}
	}
	return r
}

// remember keeps the state of r, which an error was answered for, in c
// for request. Only a request that ended in an error pays for it (echo
// allocates its context's store on the first Set).
func remember(c echo.Context, r *http.Request) {
	if s := reqstate.From(r.Context()); s != nil && c.Get(stateKey) == nil {
		c.Set(stateKey, s)
	}
}

// defaultHandler is the handler of HTTPErrorHandler.
var defaultHandler = sync.OnceValue(func() echo.HTTPErrorHandler {
	h, err := NewErrorHandler(DefaultErrorHandlerConfig)
	if err != nil {
		panic(err) // DefaultErrorHandlerConfig is valid
	}
	return h
})

// HTTPErrorHandler is the error handler of NewErrorHandler with
// DefaultErrorHandlerConfig (logging to stderr). Prefer Install or
// NewErrorHandler with your own logger.
func HTTPErrorHandler(err error, c echo.Context) { defaultHandler()(err, c) }

// translate describes echo's errors for httperror's mapping: the first
// *echo.BindingError or else the first *echo.HTTPError in err's tree (a
// BindingError first: it is the more precise of the two), searched in the
// order errors.As searches, errors.Join trees included.
func translate(err error) *httperror.StatusError {
	var be *echo.BindingError
	var he *echo.HTTPError
	findEcho(err, &be, &he)
	switch {
	case be != nil:
		return &httperror.StatusError{Status: statusOr(be.HTTPError), Field: be.Field, Cause: be.HTTPError}
	case he != nil:
		msg, _ := he.Message.(string)
		return &httperror.StatusError{Status: he.Code, Message: msg, Cause: he.Internal}
	}
	return nil
}

// findEcho records in *be and *he the first *echo.BindingError and
// *echo.HTTPError of err's tree, depth first, and stops at a BindingError.
func findEcho(err error, be **echo.BindingError, he **echo.HTTPError) {
	for err != nil && *be == nil {
		switch t := err.(type) {
		case *echo.BindingError:
			*be = t
			return
		case *echo.HTTPError:
			if *he == nil {
				*he = t
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				findEcho(e, be, he)
			}
			return
		default:
			return
		}
	}
}

// statusOr is the status of he, or 400 when there is none.
func statusOr(he *echo.HTTPError) int {
	if he == nil || he.Code == 0 {
		return http.StatusBadRequest
	}
	return he.Code
}

// probeMethods are the methods whose routes an Allow header lists after
// OPTIONS, in the order echo's router writes them. Routes of other methods
// (echo lists them last, in no fixed order) are not probed.
var probeMethods = [...]string{
	http.MethodConnect, http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodPatch,
	http.MethodPost, echo.PROPFIND, http.MethodPut, http.MethodTrace, echo.REPORT,
}

// routeNotFoundAllow sets on h the Allow header of a NOT_FOUND that a
// RouteNotFound route answered while routes for other methods exist at the
// path. Since echo 4.10, a group with middleware registers such routes
// ("<prefix>" and "<prefix>/*") so that its middleware run on unknown
// paths; the router then prefers them over its 405, and the Allow header a
// 405 carries is lost.
//
// Everything is asked of the router that routed the request, on a context
// from echo's pool. A method named RouteNotFound matches no route of a
// real method, so routing the path with it finds the RouteNotFound route
// the request was answered by, if any, at the cost of one lookup: on any
// other NOT_FOUND (a handler's, or the router's own) it finds another
// route, or a 405, or nothing. Then each method is routed in turn. A route
// of a real method can share its template with a RouteNotFound route (a
// group's g.GET("/*")), which only the router's table of routes tells
// apart; it is read only then.
func routeNotFoundAllow(c echo.Context, h http.Header) {
	e, req := c.Echo(), c.Request()
	if e == nil || req == nil || req.URL == nil {
		return
	}
	router := e.Router()
	if rs := e.Routers(); len(rs) > 0 { // echo's own choice of router
		if r, ok := rs[req.Host]; ok {
			router = r
		}
	}
	path := echo.GetPath(req)
	probe := e.AcquireContext()
	defer func() {
		probe.Reset(nil, nil) // the pool keeps nothing of this request
		e.ReleaseContext(probe)
	}()
	// route routes path with method and returns the template of the route
	// found, false for a 405 or no route.
	route := func(method string) (string, bool) {
		probe.Reset(nil, nil)
		router.Find(method, path, probe)
		if _, is405 := probe.Get(echo.ContextKeyHeaderAllow).(string); is405 {
			return "", false
		}
		return probe.Path(), probe.Path() != ""
	}
	notFound, ok := route(echo.RouteNotFound)
	if !ok || notFound != c.Path() {
		return // not answered by a RouteNotFound route
	}
	var routes []*echo.Route
	registered := func(method string) bool {
		if routes == nil {
			routes = router.Routes()
		}
		for _, r := range routes {
			if r.Method == method && r.Path == notFound {
				return true
			}
		}
		return false
	}
	var b strings.Builder
	for _, m := range probeMethods {
		if m == req.Method {
			continue
		}
		if p, ok := route(m); !ok || p == notFound && !registered(m) {
			continue // the RouteNotFound route again
		}
		if b.Len() == 0 {
			b.WriteString(http.MethodOptions)
		}
		b.WriteString(", ")
		b.WriteString(m)
	}
	if b.Len() > 0 && !registered(req.Method) {
		h.Set(echo.HeaderAllow, b.String())
	}
}
