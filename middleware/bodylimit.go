package middleware

import (
	"fmt"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

	"github.com/layershq/errkit/httperror"
)

// BodyLimitConfig configures the BodyLimit middleware.
type BodyLimitConfig struct {
	// Skipper skips the middleware for a request. Default: never skip.
	Skipper echomw.Skipper

	// MaxBytes is the largest request body accepted, in bytes. It must be
	// positive.
	MaxBytes int64
}

// BodyLimit returns a BodyLimit middleware accepting bodies of at most
// maxBytes bytes. It panics when maxBytes is not positive.
//
// Unlike echo's BodyLimit, whose 413 does not say what the limit was, a body
// over the limit fails with PAYLOAD_TOO_LARGE carrying details.maxBytes:
// immediately when Content-Length announces it, and otherwise when the
// handler reads past the limit (see httperror.LimitBody). Use it per route
// group for per-type caps.
func BodyLimit(maxBytes int64) echo.MiddlewareFunc {
	return BodyLimitWithConfig(BodyLimitConfig{MaxBytes: maxBytes})
}

// BodyLimitWithConfig returns the BodyLimit middleware with cfg. It panics
// on a configuration error; use cfg.ToMiddleware to get the error instead.
func BodyLimitWithConfig(cfg BodyLimitConfig) echo.MiddlewareFunc {
	mw, err := cfg.ToMiddleware()
	if err != nil {
		panic(err)
	}
	return mw
}

// ToMiddleware returns the BodyLimit middleware for cfg, or an error when
// MaxBytes is not positive.
func (cfg BodyLimitConfig) ToMiddleware() (echo.MiddlewareFunc, error) {
	if cfg.MaxBytes <= 0 {
		return nil, fmt.Errorf("errkit/middleware: BodyLimitConfig.MaxBytes must be positive, got %d", cfg.MaxBytes)
	}
	skipper := cfg.Skipper
	if skipper == nil {
		skipper = echomw.DefaultSkipper
	}
	limit := cfg.MaxBytes
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if skipper(c) {
				return next(c)
			}
			if err := httperror.LimitBody(c.Response().Writer, c.Request(), limit); err != nil {
				return err
			}
			return next(c)
		}
	}, nil
}
