package middleware

import (
	"log/slog"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

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
	Skipper echomw.Skipper

	// TrustInbound accepts an inbound X-Request-Id header (from a trusted
	// proxy) when it is exactly one well-formed request ID (see
	// requestid.Valid); anything else is ignored, never echoed or logged.
	// Default false: the inbound header is always ignored.
	TrustInbound bool

	// Logger is the base of the request-scoped logger returned by
	// LoggerFrom; it gets a requestId attribute. Default
	// requestid.DefaultLogger().
	Logger *slog.Logger
}

// DefaultRequestIDConfig is the default RequestID configuration: inbound
// request IDs ignored, default logger.
var DefaultRequestIDConfig = RequestIDConfig{Skipper: echomw.DefaultSkipper}

// RequestID returns the RequestID middleware with the default configuration.
//
// The middleware gives every request a fresh request ID before anything else
// runs, sets the X-Request-Id response header, and stores the ID in the
// request's context.Context (which the echo context carries), where
// RequestIDFrom, requestid.FromContext and LoggerFrom find it. Register it
// first, with e.Use (echo runs it around the router's 404 and 405 handlers
// too) or with e.Pre to put e.Pre middleware inside it as well. It costs
// one allocation per request (see requestid.Stamper).
func RequestID() echo.MiddlewareFunc { return RequestIDWithConfig(DefaultRequestIDConfig) }

// RequestIDWithConfig returns the RequestID middleware with cfg. It panics
// on a configuration error, as echo's own middleware do; use
// cfg.ToMiddleware to get the error instead.
func RequestIDWithConfig(cfg RequestIDConfig) echo.MiddlewareFunc {
	mw, err := cfg.ToMiddleware()
	if err != nil {
		panic(err)
	}
	return mw
}

// ToMiddleware returns the RequestID middleware for cfg. Every field's zero
// value has a default, so it currently never fails; the error is there for
// echo's convention and future fields.
func (cfg RequestIDConfig) ToMiddleware() (echo.MiddlewareFunc, error) {
	st := cfg.stamper()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
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
	skipper echomw.Skipper
	st      *requestid.Stamper
}

func (cfg RequestIDConfig) stamper() *stamper {
	st := &stamper{skipper: cfg.Skipper, st: requestid.NewStamper(requestid.Config{TrustInbound: cfg.TrustInbound, Logger: cfg.Logger})}
	if st.skipper == nil {
		st.skipper = echomw.DefaultSkipper
	}
	return st
}

// stamp gives the request of c its ID.
func (st *stamper) stamp(c echo.Context) {
	c.SetRequest(st.st.Stamp(c.Response().Header(), c.Request()))
}

// RequestIDFrom returns the request ID the RequestID middleware stamped on
// c, or "" when it did not run. It reads the ID from the request's
// context.Context, so it keeps working after a middleware derives a new
// context with c.SetRequest(r.WithContext(...)).
func RequestIDFrom(c echo.Context) string {
	if r := c.Request(); r != nil {
		return requestid.FromContext(r.Context())
	}
	return ""
}

// LoggerFrom returns a logger for the request that carries its requestId
// attribute. It never returns nil: without the middleware it returns
// requestid.DefaultLogger(), so that what errkit logs is never dropped.
func LoggerFrom(c echo.Context) *slog.Logger {
	if r := c.Request(); r != nil {
		return requestid.Logger(r.Context())
	}
	return requestid.DefaultLogger()
}
