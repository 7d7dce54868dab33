package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
)

// PanicError is the error the Recover middleware returns for a recovered
// panic. The error handler always renders it as INTERNAL (whatever the panic
// value is, an *apierror.Error included) and logs Value and Stack against
// the request ID.
type PanicError struct {
	// Value is what was passed to panic.
	Value any
	// Stack is the stack trace of the panicking goroutine, possibly cut at
	// RecoverConfig.StackSize bytes.
	Stack []byte
}

// Error returns "panic: " and the panic value. It is for logs only: the
// error handler never renders it.
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value when it is an error, so that errors.Is and
// errors.As see through the panic.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// RecoverConfig configures the Recover middleware.
type RecoverConfig struct {
	// Skipper skips the middleware for a request. Default: never skip.
	Skipper echomw.Skipper

	// StackSize is the maximum number of bytes of stack trace kept in
	// PanicError.Stack. Default (0): 8 KB. Negative is a configuration error.
	StackSize int
}

// DefaultRecoverConfig is the default Recover configuration.
var DefaultRecoverConfig = RecoverConfig{Skipper: echomw.DefaultSkipper, StackSize: 8 << 10}

// Recover returns the Recover middleware with the default configuration.
//
// Recover turns a panic anywhere below it into a returned *PanicError (it
// does not call the error handler itself, so the error is handled exactly
// once, by whatever runs the chain), which the errkit error handler renders
// as INTERNAL and logs with the stack and the request ID. The server keeps
// serving. A panic with http.ErrAbortHandler is re-panicked, as net/http
// expects, to abort the response.
func Recover() echo.MiddlewareFunc { return RecoverWithConfig(DefaultRecoverConfig) }

// RecoverWithConfig returns the Recover middleware with cfg. It panics on a
// configuration error; use cfg.ToMiddleware to get the error instead.
func RecoverWithConfig(cfg RecoverConfig) echo.MiddlewareFunc {
	mw, err := cfg.ToMiddleware()
	if err != nil {
		panic(err)
	}
	return mw
}

// ToMiddleware returns the Recover middleware for cfg, or an error when
// StackSize is negative.
func (cfg RecoverConfig) ToMiddleware() (echo.MiddlewareFunc, error) {
	rc, err := cfg.recoverer()
	if err != nil {
		return nil, err
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			if rc.skipper(c) {
				return next(c)
			}
			defer func() {
				if v := recover(); v != nil {
					err = rc.panicError(v)
				}
			}()
			return next(c)
		}
	}, nil
}

// recoverer is a configured Recover middleware, separate from the closure so
// that Install can fuse it with the request IDs into one middleware.
type recoverer struct {
	skipper   echomw.Skipper
	stackSize int
}

func (cfg RecoverConfig) recoverer() (*recoverer, error) {
	if cfg.StackSize < 0 {
		return nil, fmt.Errorf("errkit/middleware: RecoverConfig.StackSize is negative (%d)", cfg.StackSize)
	}
	rc := &recoverer{skipper: cfg.Skipper, stackSize: cfg.StackSize}
	if rc.skipper == nil {
		rc.skipper = echomw.DefaultSkipper
	}
	if rc.stackSize == 0 {
		rc.stackSize = DefaultRecoverConfig.StackSize
	}
	return rc, nil
}

// panicError turns a recovered panic value into a *PanicError with the
// stack, re-panicking http.ErrAbortHandler.
func (rc *recoverer) panicError(v any) error {
	if e, ok := v.(error); ok && errors.Is(e, http.ErrAbortHandler) {
		panic(v)
	}
	stack := make([]byte, rc.stackSize)
	stack = stack[:runtime.Stack(stack, false)]
	return &PanicError{Value: v, Stack: stack}
}
