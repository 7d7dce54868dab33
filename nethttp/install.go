package nethttp

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/layershq/errkit/accesslog"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/internal/reqstate"
	"github.com/layershq/errkit/requestid"
)

// Config configures [Install]. Every zero field has a default.
type Config struct {
	// Logger is used by every part: the request-scoped loggers
	// (requestid.Logger), the error writer and the access log. Default
	// requestid.DefaultLogger().
	Logger *slog.Logger

	// RequestID configures the request IDs (for example TrustInbound, off
	// by default). Its Logger defaults to Logger.
	RequestID requestid.Config

	// ErrorHandler configures the error writer. Its Logger defaults to
	// Logger, its Route to Route.
	ErrorHandler httperror.Config

	// AccessLog, when not nil, writes one line per request (see
	// accesslog.Logger). Its Logger defaults to Logger.
	AccessLog *accesslog.Config

	// StackSize is the maximum number of bytes of a recovered panic's stack
	// that are logged. Default (0): httperror.DefaultStackSize.
	StackSize int

	// Route returns the route template of a request, for logs, rate limits
	// and idempotency scopes. Default: r.Pattern (set by Go 1.22+
	// ServeMux once it has routed the request).
	Route func(r *http.Request) string

	// Events, if set, receives an event.KindRequest as each request
	// enters (after its request ID is stamped), and is the default of
	// ErrorHandler.Events, so that it receives every event.KindError too
	// (a request ServeMux matched to no route has the route ""). The
	// concern middleware (RateLimit, KillSwitch, ...) fire to the Events of
	// their own core's Config.
	Events event.Hook
}

// service is an installed configuration; the request state points at it.
type service struct {
	next    http.Handler
	stamper *requestid.Stamper
	errors  *httperror.Writer
	access  *accesslog.Logger // nil: no access log
	stack   int
	route   func(*http.Request) string
	events  event.Hook
}

// Install returns next wrapped in errkit's request handling:
//
//  1. a request ID for every request (X-Request-Id on every response);
//  2. recovery: a panic in next becomes INTERNAL, logged with its stack;
//  3. ServeMux's own 404 and 405 (and any router's http.Error 404 or 405
//     outside a route) answered as NOT_FOUND, keeping Allow;
//  4. the error writer, for [Error] and [Handler];
//  5. the access log, when cfg.AccessLog is set;
//  6. the events of cfg.Events: one event.KindRequest per request, and
//     the error writer's event.KindError.
//
// It returns an error, and no handler, when next is nil or cfg is invalid.
func Install(next http.Handler, cfg Config) (http.Handler, error) {
	if next == nil {
		return nil, errNilHandler
	}
	route := cfg.Route
	if route == nil {
		route = pattern
	}
	ecfg := cfg.ErrorHandler
	if ecfg.Logger == nil {
		ecfg.Logger = cfg.Logger
	}
	if ecfg.Route == nil {
		ecfg.Route = route
	}
	if ecfg.Events == nil {
		ecfg.Events = cfg.Events
	}
	w, err := httperror.New(ecfg)
	if err != nil {
		return nil, err
	}
	if cfg.StackSize < 0 {
		return nil, errNegativeStack
	}
	rcfg := cfg.RequestID
	if rcfg.Logger == nil {
		rcfg.Logger = cfg.Logger
	}
	s := &service{
		next:    next,
		stamper: requestid.NewStamper(rcfg),
		errors:  w,
		stack:   cfg.StackSize,
		route:   route,
		events:  cfg.Events,
	}
	if cfg.AccessLog != nil {
		acfg := *cfg.AccessLog
		if acfg.Logger == nil {
			acfg.Logger = cfg.Logger
		}
		s.access = accesslog.New(acfg)
	}
	return s, nil
}

// pattern is the default route template: what ServeMux matched.
func pattern(r *http.Request) string { return r.Pattern }

// ServeHTTP serves r through the installed chain.
func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var start time.Time
	if s.access != nil {
		start = time.Now()
	}
	rw := &responseWriter{ResponseWriter: w}
	r = s.stamper.Stamp(w.Header(), r)
	st := reqstate.From(r.Context())
	st.Adapter = s
	rw.req, rw.state = r, st
	if ctx := r.Context(); s.events != nil || event.FromContext(ctx) != nil {
		event.Fire(ctx, s.events, event.Event{Kind: event.KindRequest, Method: event.StandardMethod(r.Method)})
	}
	s.serve(rw, r)
	if rw.intercepted != 0 && !rw.wrote {
		// The router's own 404 or 405: answered as the contract's envelope.
		rw.intercepting = false
		s.errors.WriteMeta(rw, r, &httperror.StatusError{Status: rw.intercepted}, httperror.Meta{})
	}
	if s.access != nil {
		s.access.Log(r, rw.route(), rw.statusOr200(), time.Since(start))
	}
}

// serve runs next, rendering a panic as INTERNAL.
func (s *service) serve(rw *responseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			err := httperror.Recovered(v, s.stack)
			// A router answer held back is superseded by the panic's.
			rw.intercepted, rw.intercepting = 0, false
			s.errors.WriteMeta(rw, r, err, httperror.Meta{Route: rw.route(), Committed: rw.wrote})
		}
	}()
	s.next.ServeHTTP(rw, r)
}
