package echo5

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/killswitch"
)

// KillSwitchConfig configures the KillSwitch middleware.
type KillSwitchConfig struct {
	// Skipper, when it returns true, lets the request through unchecked.
	// Default: never skip. killswitch.Config.Skip (for example
	// killswitch.SkipPaths) does the same in every adapter.
	Skipper middleware.Skipper

	// Guard makes the decisions (see killswitch.New). Required.
	Guard *killswitch.Guard
}

// KillSwitch returns the kill-switch middleware of g. It panics when g is
// nil.
//
// It calls g.Check with the response header and the request: a request a
// switch turns off gets apierror.KillSwitch(scope) returned to the errkit
// error handler (with Retry-After already set for a global switch with an
// expected duration), and the next handler does not run. Mount the
// per-caller guard after authentication (which records the principal with
// [SetPrincipal]) and before [RateLimit]; a guard built with
// killswitch.Config.GlobalOnly checks the global switch only and can run
// before authentication (with e.Use, skipping the operator API).
func KillSwitch(g *killswitch.Guard) echo.MiddlewareFunc {
	return KillSwitchWithConfig(KillSwitchConfig{Guard: g})
}

// KillSwitchWithConfig returns the KillSwitch middleware with cfg. It
// panics on a configuration error (a nil Guard), as echo's own middleware
// do; use cfg.ToMiddleware to get the error instead.
func KillSwitchWithConfig(cfg KillSwitchConfig) echo.MiddlewareFunc { return mustMiddleware(cfg) }

// ToMiddleware returns the KillSwitch middleware for cfg, or an error when
// cfg.Guard is nil; it implements echo.MiddlewareConfigurator and never
// panics.
func (cfg KillSwitchConfig) ToMiddleware() (echo.MiddlewareFunc, error) {
	if cfg.Guard == nil {
		return nil, errors.New("errkit/echo5: KillSwitchConfig.Guard is nil")
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
			if err := g.Check(c.Response().Header(), c.Request()); err != nil {
				return err
			}
			return next(c)
		}
	}, nil
}

// RegisterAdmin mounts the operator API a on the group g: every method on
// the group's root and everything below it goes to a, which sees the path
// relative to the group (GET "" or "/" lists, PUT and DELETE /global,
// /organization/:id and /key/:id; see killswitch.Admin). Its errors are
// returned to echo, so the errkit error handler renders them through the
// service's writer and logger. It returns an error, and registers nothing,
// when g or a is nil.
func RegisterAdmin(g *echo.Group, a *killswitch.Admin) error {
	if g == nil {
		return errors.New("errkit/echo5: RegisterAdmin: nil *echo.Group")
	}
	if a == nil {
		return errors.New("errkit/echo5: RegisterAdmin: nil *killswitch.Admin")
	}
	h := func(c *echo.Context) error {
		r, err := belowGroup(c)
		if err != nil {
			return err
		}
		return a.Serve(c.Response(), r)
	}
	g.Any("", h)
	g.Any("/*", h)
	return nil
}

// belowGroup returns c's request with its URL path made relative to the
// group, as http.StripPrefix would: the group's wildcard, which echo's
// router matches (and leaves escaped) on the escaped path when the request
// has one.
func belowGroup(c *echo.Context) (*http.Request, error) {
	r := c.Request()
	rest := "/" + c.Param("*")
	u := *r.URL
	if r.URL.RawPath != "" {
		p, err := url.PathUnescape(rest)
		if err != nil {
			return nil, apierror.NotFound().WithCause(err)
		}
		u.Path, u.RawPath = p, rest
	} else {
		u.Path, u.RawPath = rest, ""
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.URL = &u
	return r2, nil
}
