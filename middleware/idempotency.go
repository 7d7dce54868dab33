package middleware

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

	"github.com/layershq/errkit/idempotency"
)

// IdempotencyConfig configures the Idempotency middleware.
type IdempotencyConfig struct {
	// Skipper, when it returns true, lets the request through untouched,
	// Idempotency-Key or not. Default: never skip.
	Skipper echomw.Skipper

	// Guard holds the Idempotency-Key contract and its store (see
	// idempotency.New). Required.
	Guard *idempotency.Guard
}

// Idempotency returns the idempotency middleware of g. It panics when g is
// nil.
//
// It calls g.Serve with the request, the route template c.Path() and the
// path parameters (c.ParamNames(), c.ParamValues()), after authentication
// (which records the key ID with SetPrincipal): a replay is written with
// Idempotent-Replayed: true and the next handler does not run; a refusal
// (VALIDATION, PAYLOAD_TOO_LARGE, CONFLICT with Retry-After already set,
// IDEMPOTENCY_CONFLICT, INTERNAL) is returned to the errkit error handler;
// otherwise the next handler runs once under the key's lease and its 2xx
// response is stored. An error the handler returns (or a panic) releases
// the key and is returned as it is.
func Idempotency(g *idempotency.Guard) echo.MiddlewareFunc {
	return IdempotencyWithConfig(IdempotencyConfig{Guard: g})
}

// IdempotencyWithConfig returns the Idempotency middleware with cfg. It
// panics on a configuration error (a nil Guard), as echo's own middleware
// do; use cfg.ToMiddleware to get the error instead.
func IdempotencyWithConfig(cfg IdempotencyConfig) echo.MiddlewareFunc {
	mw, err := cfg.ToMiddleware()
	if err != nil {
		panic(err)
	}
	return mw
}

// ToMiddleware returns the Idempotency middleware for cfg, or an error when
// cfg.Guard is nil. It never panics.
func (cfg IdempotencyConfig) ToMiddleware() (echo.MiddlewareFunc, error) {
	if cfg.Guard == nil {
		return nil, errors.New("errkit/middleware: IdempotencyConfig.Guard is nil")
	}
	skipper := cfg.Skipper
	if skipper == nil {
		skipper = echomw.DefaultSkipper
	}
	g := cfg.Guard
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if skipper(c) {
				return next(c)
			}
			var buf [4]idempotency.Param // most routes: no allocation
			params := buf[:0]
			values := c.ParamValues()
			for i, name := range c.ParamNames() {
				var v string
				if i < len(values) {
					v = values[i]
				}
				params = append(params, idempotency.Param{Name: name, Value: v})
			}
			// The Guard writes replays onto echo's Response, so that its
			// Status and Committed (read by the access log and the error
			// handler) stay true.
			res := c.Response()
			return g.Serve(res, c.Request(), c.Path(), params, func(w http.ResponseWriter, r *http.Request) error {
				if r != c.Request() {
					c.SetRequest(r)
				}
				if w == http.ResponseWriter(res) {
					return next(c) // passed through, not captured
				}
				// w captures the response and writes through to res. The
				// handler gets a Response of its own on it: pointing
				// res.Writer at w would loop, w writing to res.
				c.SetResponse(echo.NewResponse(w, c.Echo()))
				defer c.SetResponse(res)
				return next(c)
			})
		}
	}, nil
}
