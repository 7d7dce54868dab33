package echo5

import (
	"fmt"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/layershq/errkit/httperror"
)

// BodyLimitConfig configures the BodyLimit middleware.
type BodyLimitConfig struct {
	// Skipper skips the middleware for a request. Default: never skip.
	Skipper middleware.Skipper

	// MaxBytes is the largest request body accepted, in bytes. It must be
	// positive.
	MaxBytes int64
}

// BodyLimit returns a BodyLimit middleware accepting bodies of at most
// maxBytes bytes. It panics when maxBytes is not positive.
//
// Unlike echo's BodyLimit, whose echo.ErrStatusRequestEntityTooLarge does
// not say what the limit was, a body over the limit fails with
// PAYLOAD_TOO_LARGE carrying details.maxBytes: immediately when
// Content-Length announces it, and otherwise when the handler (or c.Bind)
// reads past the limit (see httperror.LimitBody). Use it per route or group
// for per-type caps.
func BodyLimit(maxBytes int64) echo.MiddlewareFunc {
	return BodyLimitWithConfig(BodyLimitConfig{MaxBytes: maxBytes})
}

// BodyLimitWithConfig returns the BodyLimit middleware with cfg. It panics
// on a configuration error; use cfg.ToMiddleware to get the error instead.
func BodyLimitWithConfig(cfg BodyLimitConfig) echo.MiddlewareFunc { return mustMiddleware(cfg) }

// ToMiddleware returns the BodyLimit middleware for cfg, or an error when
// MaxBytes is not positive; it implements echo.MiddlewareConfigurator.
func (cfg BodyLimitConfig) ToMiddleware() (echo.MiddlewareFunc, error) {
	if cfg.MaxBytes <= 0 {
		return nil, fmt.Errorf("errkit/echo5: BodyLimitConfig.MaxBytes must be positive, got %d", cfg.MaxBytes)
	}
	skipper := cfg.Skipper
	if skipper == nil {
		skipper = middleware.DefaultSkipper
	}
	limit := cfg.MaxBytes
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if skipper(c) {
				return next(c)
			}
			if err := httperror.LimitBody(c.Response(), c.Request(), limit); err != nil {
				return err
			}
			return next(c)
		}
	}, nil
}
