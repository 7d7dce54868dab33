package echo5

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/layershq/errkit/idempotency"
)

// IdempotencyConfig configures the Idempotency middleware.
type IdempotencyConfig struct {
	// Skipper, when it returns true, lets the request through untouched,
	// Idempotency-Key or not. Default: never skip.
	Skipper middleware.Skipper

	// Guard holds the Idempotency-Key contract and its store (see
	// idempotency.New). Required.
	Guard *idempotency.Guard
}

// Idempotency returns the idempotency middleware of g. It panics when g is
// nil.
//
// It calls g.Serve with the request, the route template c.Path() and the
// path parameters (c.PathValues(), in route order), after authentication
// (which records the key ID with [SetPrincipal]): a replay is written with
// Idempotent-Replayed: true and the next handler does not run; a refusal
// (VALIDATION, PAYLOAD_TOO_LARGE, CONFLICT with Retry-After already set,
// IDEMPOTENCY_CONFLICT, INTERNAL) is returned to the errkit error handler;
// otherwise the next handler runs once under the key's lease, on a
// response writer that passes its response through to echo's and captures
// it, and its 2xx response is stored. An error the handler returns (or a
// panic) releases the key and is returned as it is.
func Idempotency(g *idempotency.Guard) echo.MiddlewareFunc {
	return IdempotencyWithConfig(IdempotencyConfig{Guard: g})
}

// IdempotencyWithConfig returns the Idempotency middleware with cfg. It
// panics on a configuration error (a nil Guard), as echo's own middleware
// do; use cfg.ToMiddleware to get the error instead.
func IdempotencyWithConfig(cfg IdempotencyConfig) echo.MiddlewareFunc { return mustMiddleware(cfg) }

// ToMiddleware returns the Idempotency middleware for cfg, or an error when
// cfg.Guard is nil; it implements echo.MiddlewareConfigurator and never
// panics.
func (cfg IdempotencyConfig) ToMiddleware() (echo.MiddlewareFunc, error) {
	if cfg.Guard == nil {
		return nil, errors.New("errkit/echo5: IdempotencyConfig.Guard is nil")
	}
	skipper := cfg.Skipper
	if skipper == nil {
		skipper = middleware.DefaultSkipper
	}
	g := cfg.Guard
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if skipper(c) {
				return next(c)
			}
			var buf [4]idempotency.Param // most routes: no allocation
			params := buf[:0]
			for _, pv := range c.PathValues() {
				params = append(params, idempotency.Param{Name: pv.Name, Value: pv.Value})
			}
			// Replays are written onto echo's response, so that its Status
			// and Committed (read by the access log and the error handler
			// through echo.UnwrapResponse) stay true.
			res := c.Response()
			return g.Serve(res, c.Request(), c.Path(), params, func(w http.ResponseWriter, r *http.Request) error {
				// w is res, or a writer that captures the response and
				// writes it through to res; it unwraps to res, so echo
				// still finds its *echo.Response underneath.
				c.SetRequest(r)
				c.SetResponse(w)
				defer c.SetResponse(res)
				return next(c)
			})
		}
	}, nil
}
