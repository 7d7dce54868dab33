package middleware

import (
	"errors"
	"log/slog"

	"github.com/labstack/echo/v4"

	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/httperror"
)

// Config is the configuration of Install.
type Config struct {
	// Logger is used by every part whose own Logger field is nil: the
	// request-scoped loggers, the error handler and the access log.
	// Default requestid.DefaultLogger() (JSON lines at info on stderr). A
	// service on zap passes slog.New(zapslog.NewHandler(z.Core())).
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
//  1. request IDs (RequestID), first, so that everything after has the ID;
//  2. AccessLog, when cfg.AccessLog is set;
//  3. recovery (Recover): a panic in any later middleware, the router's
//     404/405 handlers or a route handler becomes INTERNAL;
//  4. e.HTTPErrorHandler = NewErrorHandler(cfg.ErrorHandler);
//  5. the events of cfg.Events: one event.KindRequest per request, and
//     the error handler's event.KindError.
//
// The three are fused into a single middleware: echo v4 applies middleware
// again on every request, one closure allocation each. For the same reason,
// compose a route's own chain once when registering it (handler :=
// mw1(mw2(h))) rather than passing route or group middleware, on a hot
// path.
//
// The middleware is registered with e.Use, where it also wraps echo's
// router 404 and 405 handlers, so call Install before adding your own
// middleware: what you add afterwards runs inside it. Middleware added with
// e.Pre runs before it: errors it returns are still rendered (with a fresh
// request ID), but its panics are not recovered. Set cfg.Pre to register
// with e.Pre instead, which puts Pre middleware added later inside too, at
// the cost of one more closure allocation per request in echo.
//
// Install returns an error, and changes nothing, when e is nil or a config
// is invalid.
func Install(e *echo.Echo, cfg Config) error {
	if e == nil {
		return errors.New("errkit/middleware: Install: nil *echo.Echo")
	}
	rcfg := cfg.RequestID
	if rcfg.Logger == nil {
		rcfg.Logger = cfg.Logger
	}
	st := rcfg.stamper()
	rc, err := cfg.Recover.recoverer()
	if err != nil {
		return err
	}
	hcfg := cfg.ErrorHandler
	if hcfg.Logger == nil {
		hcfg.Logger = cfg.Logger
	}
	if hcfg.Events == nil {
		hcfg.Events = cfg.Events
	}
	handler, err := NewErrorHandler(hcfg)
	if err != nil {
		return err
	}
	var al *accessLogger
	if cfg.AccessLog != nil {
		acfg := *cfg.AccessLog
		if acfg.Logger == nil {
			acfg.Logger = cfg.Logger
		}
		al = acfg.logger()
	}
	chain := fused(st, al, rc, cfg.Events)
	if cfg.Pre {
		e.Pre(chain)
	} else {
		e.Use(chain)
	}
	e.HTTPErrorHandler = handler
	return nil
}

// fused is RequestID, AccessLog (when al is not nil) and Recover as one
// middleware, firing event.KindRequest to events: echo v4 applies its
// middleware again on every request, one closure allocation each, so
// Install registers one.
func fused(st *stamper, al *accessLogger, rc *recoverer, events event.Hook) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		recovering := func(c echo.Context) (err error) {
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
		return func(c echo.Context) error {
			if !st.skipper(c) {
				st.stamp(c)
			}
			if r := c.Request(); events != nil || event.FromContext(r.Context()) != nil {
				event.Fire(r.Context(), events, event.Event{Kind: event.KindRequest, Method: event.StandardMethod(r.Method)})
			}
			if al == nil {
				return recovering(c)
			}
			return al.serve(c, recovering)
		}
	}
}
