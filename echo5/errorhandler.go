package echo5

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/internal/reqstate"
)

// ErrorHandlerConfig configures the error handler built by
// [NewErrorHandler]. Every zero field has a default; see httperror.Config,
// whose fields these are.
type ErrorHandlerConfig struct {
	// Logger receives one line per error response. Default
	// requestid.DefaultLogger() ([Install] passes its own default).
	Logger *slog.Logger

	// ClientErrorLevel is the level 4xx errors are logged at. Default (nil):
	// slog.LevelDebug. INTERNAL and WORKFLOW_START_FAILED are always logged
	// at error level.
	ClientErrorLevel slog.Leveler

	// UpstreamErrorLevel is the level of the other 5xx codes. Default
	// (nil): slog.LevelWarn.
	UpstreamErrorLevel slog.Leveler

	// MaxBodyBytes is the request body limit reported in details.maxBytes
	// when a 413 comes from echo's own BodyLimit middleware
	// (echo.ErrStatusRequestEntityTooLarge does not carry the limit). Zero:
	// such a 413 renders PAYLOAD_TOO_LARGE without details. Negative is a
	// configuration error.
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
// ([Install] does).
//
// echo v5's own errors are described for the mapping table of
// httperror.Mapping by their status, read through echo.HTTPStatusCoder
// (never by asserting *echo.HTTPError, which v5's predefined errors are
// not): an *echo.HTTPError adds its message and its wrapped error, an
// *echo.BindingError the field that failed to bind, and the predefined
// errors (echo.ErrNotFound, ...) their status text. A recovered panic,
// errkit's *httperror.PanicError or echo's *middleware.PanicStackError,
// is always INTERNAL, its stack logged and never sent. The route in the
// log line is c.Path(), the route template.
//
// When the response is already committed (seen through
// echo.UnwrapResponse) nothing is written and the error is logged; an error
// already rendered for this request (echo's RequestLogger with HandleError
// hands it to the error handler and returns it too) is not rendered or
// logged again. A 404 answered by a RouteNotFound route, such as the ones
// echo groups with middleware register, gets the Allow header the router
// would have sent for its 405 when other methods are served at the path.
//
// It returns an error when cfg is invalid.
func NewErrorHandler(cfg ErrorHandlerConfig) (echo.HTTPErrorHandler, error) {
	w, err := httperror.New(httperror.Config{
		Logger:             cfg.Logger,
		ClientErrorLevel:   cfg.ClientErrorLevel,
		UpstreamErrorLevel: cfg.UpstreamErrorLevel,
		MaxBodyBytes:       cfg.MaxBodyBytes,
		DefaultRetryAfter:  cfg.DefaultRetryAfter,
		Translate:          translate,
		Events:             cfg.Events,
		StackLogInterval:   cfg.StackLogInterval,
	})
	if err != nil {
		return nil, err
	}
	return func(c *echo.Context, err error) { handle(w, c, err) }, nil
}

// handle renders err as the answer to c's request.
func handle(w *httperror.Writer, c *echo.Context, err error) {
	if err == nil {
		return
	}
	rw := c.Response()
	committed := false
	if res, uerr := echo.UnwrapResponse(rw); uerr == nil {
		committed = res.Committed
	}
	if _, ok := err.(*apierror.Error); !ok {
		err = panicOf(c, err)
	}
	if !committed && w.Map(err, rw.Header()).Code() == apierror.CodeNotFound {
		routeNotFoundAllow(c, rw.Header())
	}
	r := request(c)
	w.WriteMeta(rw, r, err, httperror.Meta{Route: c.Path(), Committed: committed})
	remember(c, r)
}

// stateKey is where the error handler keeps a request's errkit state in
// echo's context once it has answered an error.
const stateKey = "errkit.requestState"

// request returns the request to answer c's error for: c's own, or, when
// an outer middleware put back a request without errkit's state after
// errkit answered an error, the request errkit answered it for. Tracing
// middleware does that (it restores the request it started with, and
// returns the error it already handed to the error handler), and the
// error echo then hands over again must be recognised as the same one:
// answered, logged and counted once, under the request's own ID.
func request(c *echo.Context) *http.Request {
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
func remember(c *echo.Context, r *http.Request) {
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

// HTTPErrorHandler is the error handler of [NewErrorHandler] with
// [DefaultErrorHandlerConfig] (logging to stderr). Prefer [Install] or
// NewErrorHandler with your own logger.
func HTTPErrorHandler(c *echo.Context, err error) { defaultHandler()(c, err) }

// sentinels are echo v5's predefined errors: values of an unexported type
// whose only method besides Error is StatusCode. Their text is their
// status text, meant for clients.
var sentinels = [...]error{
	echo.ErrBadRequest, echo.ErrUnauthorized, echo.ErrForbidden, echo.ErrNotFound,
	echo.ErrMethodNotAllowed, echo.ErrRequestTimeout, echo.ErrStatusRequestEntityTooLarge,
	echo.ErrUnsupportedMediaType, echo.ErrTooManyRequests, echo.ErrInternalServerError,
	echo.ErrBadGateway, echo.ErrServiceUnavailable,
}

// translate describes echo v5's errors for httperror's mapping (it is
// httperror.Config.Translate, which the writer calls for an error that is
// no *apierror.Error, panic, *http.MaxBytesError or *httperror.StatusError):
// the first *echo.BindingError of err's tree, else the first
// echo.HTTPStatusCoder when it is an *echo.HTTPError or one of echo's
// predefined errors. Other status coders are left to the writer, which
// maps them by their status alone.
func translate(err error) *httperror.StatusError {
	var be *echo.BindingError
	if errors.As(err, &be) {
		se := &httperror.StatusError{Status: http.StatusBadRequest, Field: be.Field}
		if he := be.HTTPError; he != nil {
			if he.Code != 0 {
				se.Status = he.Code
			}
			se.Cause = he.Unwrap()
		}
		return se
	}
	var sc echo.HTTPStatusCoder
	if !errors.As(err, &sc) {
		return nil
	}
	if he, ok := sc.(*echo.HTTPError); ok {
		if he == nil {
			return nil
		}
		// HTTPError keeps its wrapped error unexported: Unwrap is the way in.
		return &httperror.StatusError{Status: sc.StatusCode(), Message: he.Message, Cause: he.Unwrap()}
	}
	if e, ok := sc.(error); ok {
		for _, s := range sentinels {
			if e == s {
				return &httperror.StatusError{Status: sc.StatusCode(), Message: http.StatusText(sc.StatusCode())}
			}
		}
	}
	return nil
}

// panicKey is the echo context key under which panicOf keeps its
// conversion, so that the same panic handed to the error handler twice (by
// AccessLog or RequestLogger, then by echo) is the same error both times
// and rendered once.
const panicKey = "errkit.echo5.panic"

// converted is a *middleware.PanicStackError and what it became.
type converted struct {
	from *middleware.PanicStackError
	to   *httperror.PanicError
}

// panicOf returns err, or, when err's tree holds echo's
// *middleware.PanicStackError, the *httperror.PanicError it stands for. The
// writer renders a PanicError as INTERNAL whatever the panic value (an
// *apierror.Error included, which PanicStackError would otherwise unwrap
// to), logs its Stack under "stack" and never sends it, while the
// PanicStackError's own Error text has the stack in it.
func panicOf(c *echo.Context, err error) error {
	var pse *middleware.PanicStackError
	if !errors.As(err, &pse) || pse == nil {
		return err
	}
	if prev, ok := c.Get(panicKey).(converted); ok && prev.from == pse {
		return prev.to
	}
	var v any = pse.Err
	if pse.Err == nil {
		v = "echo: recovered panic"
	}
	pe := &httperror.PanicError{Value: v, Stack: pse.Stack}
	c.Set(panicKey, converted{from: pse, to: pe})
	return pe
}

// probeMethods are the methods whose routes a Allow header lists after
// OPTIONS, in the order echo's router writes them.
var probeMethods = [...]string{
	http.MethodConnect, http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodPatch,
	http.MethodPost, echo.PROPFIND, http.MethodPut, http.MethodTrace, echo.REPORT, echo.QUERY,
}

// routeNotFoundAllow sets on h the Allow header of a NOT_FOUND that a
// RouteNotFound route answered while routes for other methods exist at the
// path. echo v5 groups with middleware register such routes ("<prefix>"
// and "<prefix>/*") so that their middleware run on unknown paths; the
// router then prefers them over its 405, and the Allow header a 405 carries
// is lost. The methods are found by routing the same path with each method
// on a context from echo's pool, so the answer is the router's own; it
// costs one lookup per method, on such 404s only.
func routeNotFoundAllow(c *echo.Context, h http.Header) {
	e := c.Echo()
	if e == nil || c.Request() == nil || h.Get(echo.HeaderAllow) != "" {
		return
	}
	if c.RouteInfo().Method != echo.RouteNotFound {
		return // a route handler's 404, or the router's own
	}
	router := e.Router()
	probe := e.AcquireContext()
	defer e.ReleaseContext(probe)
	req := *c.Request() // the router writes Pattern into the request it routes
	var b strings.Builder
	for _, m := range probeMethods {
		if m == c.Request().Method {
			continue
		}
		req.Method = m
		probe.Reset(&req, nil)
		router.Route(probe)
		if probe.RouteInfo().Method != m {
			continue // a 404 or 405 route, or GET standing in for HEAD
		}
		if b.Len() == 0 {
			b.WriteString(http.MethodOptions)
		}
		b.WriteString(", ")
		b.WriteString(m)
	}
	probe.Reset(nil, nil) // the pool keeps no reference to this request
	if b.Len() > 0 {
		h.Set(echo.HeaderAllow, b.String())
	}
}
