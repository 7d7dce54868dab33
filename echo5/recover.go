package echo5

import (
	"fmt"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/layershq/errkit/httperror"
)

// RecoverConfig configures the Recover middleware.
type RecoverConfig struct {
	// Skipper skips the middleware for a request. Default: never skip.
	Skipper middleware.Skipper

	// StackSize is the maximum number of bytes of stack trace kept in
	// httperror.PanicError.Stack. Default (0): httperror.DefaultStackSize.
	// Negative is a configuration error.
	StackSize int
}

// DefaultRecoverConfig is the default Recover configuration.
var DefaultRecoverConfig = RecoverConfig{Skipper: middleware.DefaultSkipper, StackSize: httperror.DefaultStackSize}

// Recover returns the Recover middleware with the default configuration.
//
// Recover turns a panic anywhere below it into a returned
// *httperror.PanicError (it does not call the error handler itself, so the
// error is handled exactly once, by whatever runs the chain), which the
// errkit error handler renders as INTERNAL and logs with the stack of the
// panicking goroutine and the request ID. The server keeps serving. A
// panic with http.ErrAbortHandler is re-panicked, as net/http expects, to
// abort the response.
//
// echo's own middleware.Recover works with the errkit error handler too:
// its *middleware.PanicStackError is rendered as INTERNAL and its stack
// logged, never sent (see [NewErrorHandler]), as long as its
// DisablePrintStack is off; with it on, echo returns the bare panic value
// as an error, which is then mapped like any returned error.
func Recover() echo.MiddlewareFunc { return RecoverWithConfig(DefaultRecoverConfig) }

// RecoverWithConfig returns the Recover middleware with cfg. It panics on a
// configuration error; use cfg.ToMiddleware to get the error instead.
func RecoverWithConfig(cfg RecoverConfig) echo.MiddlewareFunc { return mustMiddleware(cfg) }

// ToMiddleware returns the Recover middleware for cfg, or an error when
// StackSize is negative; it implements echo.MiddlewareConfigurator.
func (cfg RecoverConfig) ToMiddleware() (echo.MiddlewareFunc, error) {
	rc, err := cfg.recoverer()
	if err != nil {
		return nil, err
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) (err error) {
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
	}, nil
}

// recoverer is a configured Recover middleware, separate from the closure so
// that Install can fuse it with the request IDs into one middleware.
type recoverer struct {
	skipper   middleware.Skipper
	stackSize int
}

func (cfg RecoverConfig) recoverer() (*recoverer, error) {
	if cfg.StackSize < 0 {
		return nil, fmt.Errorf("errkit/echo5: RecoverConfig.StackSize is negative (%d)", cfg.StackSize)
	}
	rc := &recoverer{skipper: cfg.Skipper, stackSize: cfg.StackSize}
	if rc.skipper == nil {
		rc.skipper = middleware.DefaultSkipper
	}
	return rc, nil
}
