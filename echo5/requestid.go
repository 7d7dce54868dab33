package echo5

import (
	"log/slog"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/layershq/errkit/requestid"
)

// HeaderRequestID is the response header that carries the request ID on
// every response.
const HeaderRequestID = requestid.Header

// RequestIDConfig configures the RequestID middleware.
type RequestIDConfig struct {
	// Skipper skips the middleware for a request. A skipped request has no
	// request ID in its context; the error handler still gives an error
	// response a fresh one. Default: never skip.
	Skipper middleware.Skipper

	// TrustInbound accepts an inbound X-Request-Id header (from a trusted
	// proxy) when it is exactly one well-formed request ID (see
	// requestid.Valid); anything else is ignored, never echoed or logged.
	// Default false: the inbound header is always ignored.
	TrustInbound bool

	// Logger is the base of the request-scoped logger returned by
	// [LoggerFrom]; it gets a requestId attribute. Default
	// requestid.DefaultLogger() ([Install] passes its own default).
	Logger *slog.Logger
}

// DefaultRequestIDConfig is the default RequestID configuration: inbound
// request IDs ignored, default logger.
var DefaultRequestIDConfig = RequestIDConfig{Skipper: middleware.DefaultSkipper}

// RequestID returns the RequestID middleware with the default configuration.
//
// It gives every request a fresh request ID before anything after it runs,
// sets the X-Request-Id response header, and stores the ID in the request's
// context.Context, where [RequestIDFrom], requestid.FromContext and
// [LoggerFrom] find it. Register it first, with e.Use (echo v5 runs e.Use
// middleware around the router's 404 and 405 handlers too) or with e.Pre
// to put e.Pre middleware inside it as well. It costs one allocation per
// request (see requestid.Stamper). Unlike echo's own RequestID middleware
// it never echoes an inbound header it does not trust.
func RequestID() echo.MiddlewareFunc { return RequestIDWithConfig(DefaultRequestIDConfig) }

// RequestIDWithConfig returns the RequestID middleware with cfg. It panics
// on a configuration error, as echo's own middleware do; use
// cfg.ToMiddleware to get the error instead.
func RequestIDWithConfig(cfg RequestIDConfig) echo.MiddlewareFunc { return mustMiddleware(cfg) }

// ToMiddleware returns the RequestID middleware for cfg; it implements
// echo.MiddlewareConfigurator. Every field's zero value has a default, so
// it currently never fails; the error is there for echo's convention and
// future fields.
func (cfg RequestIDConfig) ToMiddleware() (echo.MiddlewareFunc, error) {
	st := cfg.stamper()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if !st.skipper(c) {
				st.stamp(c)
			}
			return next(c)
		}
	}, nil
}

// stamper is a configured RequestID middleware, separate from the closure so
// that Install can fuse it with recovery into one middleware.
type stamper struct {
	skipper middleware.Skipper
	st      *requestid.Stamper
}

func (cfg RequestIDConfig) stamper() *stamper {
	st := &stamper{skipper: cfg.Skipper, st: requestid.NewStamper(requestid.Config{TrustInbound: cfg.TrustInbound, Logger: cfg.Logger})}
	if st.skipper == nil {
		st.skipper = middleware.DefaultSkipper
	}
	return st
}

// stamp gives the request of c its ID.
func (st *stamper) stamp(c *echo.Context) {
	c.SetRequest(st.st.Stamp(c.Response().Header(), c.Request()))
}

// RequestIDFrom returns the request ID the RequestID middleware stamped on
// c, or "" when it did not run. It reads the ID from the request's
// context.Context, so it keeps working after a middleware derives a new
// context with c.SetRequest(r.WithContext(...)).
func RequestIDFrom(c *echo.Context) string {
	if r := c.Request(); r != nil {
		return requestid.FromContext(r.Context())
	}
	return ""
}

// LoggerFrom returns a logger for the request that carries its requestId
// attribute. It never returns nil: without the middleware it returns
// requestid.DefaultLogger(), so that what errkit logs is never dropped.
// echo's own c.Logger() is left alone (it is e.Logger, without the ID).
func LoggerFrom(c *echo.Context) *slog.Logger {
	if r := c.Request(); r != nil {
		return requestid.Logger(r.Context())
	}
	return requestid.DefaultLogger()
}

// mustMiddleware is what every XWithConfig does: the middleware of cfg, or
// a panic with its configuration error.
func mustMiddleware(cfg echo.MiddlewareConfigurator) echo.MiddlewareFunc {
	mw, err := cfg.ToMiddleware()
	if err != nil {
		panic(err)
	}
	return mw
}
