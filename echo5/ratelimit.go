package echo5

import (
	"errors"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/layershq/errkit/ratelimit"
)

// RateLimitConfig configures the RateLimit middleware.
type RateLimitConfig struct {
	// Skipper, when it returns true, lets the request through unlimited and
	// without RateLimit headers. Default: never skip.
	Skipper middleware.Skipper

	// Limiter makes the decisions (see ratelimit.New). Required.
	Limiter *ratelimit.Limiter
}

// RateLimit returns the rate-limit middleware of l. It panics when l is
// nil.
//
// It calls l.Limit with the response header, the request and the route
// template c.Path(), after authentication (which records the key ID with
// [SetPrincipal]): an admitted or unlimited request goes on with the
// RateLimit headers set; for a denied one it returns
// apierror.RateLimited(retryAfter), with Retry-After already set, to the
// errkit error handler, as it does the INTERNAL of a fail-closed store
// failure. The returned error has StatusCode() 429, so echo's RequestLogger
// and echo.ResolveResponseStatus see the status before any error handler
// runs.
func RateLimit(l *ratelimit.Limiter) echo.MiddlewareFunc {
	return RateLimitWithConfig(RateLimitConfig{Limiter: l})
}

// RateLimitWithConfig returns the RateLimit middleware with cfg. It panics
// on a configuration error (a nil Limiter), as echo's own middleware do;
// use cfg.ToMiddleware to get the error instead.
func RateLimitWithConfig(cfg RateLimitConfig) echo.MiddlewareFunc { return mustMiddleware(cfg) }

// ToMiddleware returns the RateLimit middleware for cfg, or an error when
// cfg.Limiter is nil; it implements echo.MiddlewareConfigurator and never
// panics.
func (cfg RateLimitConfig) ToMiddleware() (echo.MiddlewareFunc, error) {
	if cfg.Limiter == nil {
		return nil, errors.New("errkit/echo5: RateLimitConfig.Limiter is nil")
	}
	skipper := cfg.Skipper
	if skipper == nil {
		skipper = middleware.DefaultSkipper
	}
	l := cfg.Limiter
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if skipper(c) {
				return next(c)
			}
			if err := l.Limit(c.Response().Header(), c.Request(), c.Path()); err != nil {
				return err
			}
			return next(c)
		}
	}, nil
}
