package echo5

import (
	"errors"
	"log/slog"

	"github.com/labstack/echo/v5"

	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/httperror"
)

// Config is the configuration of [Install].
type Config struct {
	// Logger is used by every part whose own Logger field is nil: the
	// request-scoped loggers, the error handler and the access log.
	// Default: e.Logger, echo's own *slog.Logger, as it is when Install is
	// called (requestid.DefaultLogger() when that is nil too). A service on
	// zap passes slog.New(zapslog.NewHandler(z.Core())), or sets it as
	// e.Logger.
	Logger *slog.Logger

	// RequestID configures the request IDs (for example TrustInbound).
	RequestID RequestIDConfig

	// Recover configures panic recovery.
	Recover RecoverConfig

	// ErrorHandler configures the error handler; each zero field takes its
	// default (4xx logged at debug, upstream 5xx at warn).
	ErrorHandler ErrorHandlerConfig

	// AccessLog, when not nil, adds the AccessLog middleware.
	AccessLog *AccessLogConfig

	// Pre registers the middleware with e.Pre rather than e.Use (see
	// Install).
	Pre bool

	// Events, if set, receives an event.KindRequest as each request
	// enters (after its request ID is stamped), and is the default of
	// ErrorHandler.Events, so that it receives every event.KindError too,
	// with c.Path() as the route ("" when the router matched nothing). The
	// concern middleware fire to the Events of their own core's Config.
	// A tracing middleware (echo-otel) must be registered before Install
	// for its span to be in the context of the KindRequest event.
	Events event.Hook
}

// Install wires errkit into e, in the order that makes every response carry
// a request ID and every error the contract's envelope:
//
//  1. request IDs ([RequestID]), first, so that everything after has the ID;
//  2. [AccessLog], when cfg.AccessLog is set;
//  3. recovery ([Recover]): a panic in any later middleware, the router's
//     404/405 handlers or a route handler becomes INTERNAL;
//  4. e.HTTPErrorHandler = [NewErrorHandler](cfg.ErrorHandler);
//  5. the events of cfg.Events: one event.KindRequest per request, and
//     the error handler's event.KindError.
//
// Without an access log, request IDs and recovery are fused into a single
// middleware.
//
// The middleware is registered with e.Use, which in echo v5 runs after
// routing and around the router's 404 and 405 handlers too, so call Install
// before adding your own middleware: what you add afterwards runs inside
// it. Middleware added with e.Pre runs before it: errors it returns are
// still rendered (with a fresh request ID), but its panics are not
// recovered. Set cfg.Pre to register with e.Pre instead, which puts Pre
// middleware added later inside too.
//
// Install returns an error, and changes nothing, when e is nil or a config
// is invalid.
func Install(e *echo.Echo, cfg Config) error {
	if e == nil {
		return errors.New("errkit/echo5: Install: nil *echo.Echo")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = e.Logger
	}
	rcfg := cfg.RequestID
	if rcfg.Logger == nil {
		rcfg.Logger = logger
	}
	st := rcfg.stamper()
	rc, err := cfg.Recover.recoverer()
	if err != nil {
		return err
	}
	hcfg := cfg.ErrorHandler
	if hcfg.Logger == nil {
		hcfg.Logger = logger
	}
	if hcfg.Events == nil {
		hcfg.Events = cfg.Events
	}
	handler, err := NewErrorHandler(hcfg)
	if err != nil {
		return err
	}
	var chain []echo.MiddlewareFunc
	if cfg.AccessLog == nil {
		chain = []echo.MiddlewareFunc{fused(st, rc, cfg.Events)}
	} else {
		acfg := *cfg.AccessLog
		if acfg.Logger == nil {
			acfg.Logger = logger
		}
		access, err := acfg.ToMiddleware()
		if err != nil {
			return err
		}
		recov, _ := cfg.Recover.ToMiddleware()
		chain = []echo.MiddlewareFunc{stampAndAnnounce(st, cfg.Events), access, recov}
	}
	if cfg.Pre {
		e.Pre(chain...)
	} else {
		e.Use(chain...)
	}
	e.HTTPErrorHandler = handler
	return nil
}

// fused is RequestID followed by Recover, as one middleware, firing
// event.KindRequest to events in between.
func fused(st *stamper, rc *recoverer, events event.Hook) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) (err error) {
			if !st.skipper(c) {
				st.stamp(c)
			}
			fireRequest(c, events)
			if rc.skipper(c) {
				return next(c)
			}
			defer func() {
				if v := recover(); v != nil {
					err = httperror.Recovered(v, rc.stackSize)
				}
			}()
			return next(c)
		}
	}
}

// stampAndAnnounce is RequestID firing event.KindRequest to events once
// the request is stamped: one middleware, not two, on every request.
func stampAndAnnounce(st *stamper, events event.Hook) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if !st.skipper(c) {
				st.stamp(c)
			}
			fireRequest(c, events)
			return next(c)
		}
	}
}

// fireRequest fires the event.KindRequest of c's request, when anything
// listens.
func fireRequest(c *echo.Context, events event.Hook) {
	if r := c.Request(); events != nil || event.FromContext(r.Context()) != nil {
		event.Fire(r.Context(), events, event.Event{Kind: event.KindRequest, Method: event.StandardMethod(r.Method)})
	}
}
