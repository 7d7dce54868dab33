package middleware_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/conformance"
	errkitmw "github.com/layershq/errkit/middleware"
)

// TestConformance runs errkit's conformance suite on echo v4.
func TestConformance(t *testing.T) {
	conformance.Run(t, newConformanceServer)
}

// wildcard is a ServeMux path parameter, {name}.
var wildcard = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)

// newConformanceServer mounts the suite's routes on echo, each with the
// middleware it names, in the suite's order; a grouped route in the echo
// group of its prefix, which has a middleware; the operator API on the
// group AdminPrefix.
func newConformanceServer(t *testing.T, f *conformance.Fixtures) http.Handler {
	e := echo.New()
	require.NoError(t, errkitmw.Install(e, errkitmw.Config{Logger: f.Logger}))
	// The global guard is router-wide, in front of authentication, and
	// its Skipper exempts the routes that do not ask for it.
	global := map[string]bool{}
	e.Use(errkitmw.KillSwitchWithConfig(errkitmw.KillSwitchConfig{
		Skipper: func(c echo.Context) bool { return !global[c.Request().Method+" "+c.Path()] },
		Guard:   f.GlobalKillSwitch,
	}))
	groups := map[string]*echo.Group{}
	for _, rt := range f.Routes() {
		var mws []echo.MiddlewareFunc
		if rt.GlobalKillSwitch {
			global[rt.Method+" "+wildcard.ReplaceAllString(rt.Path, ":$1")] = true
		}
		if rt.Auth {
			mws = append(mws, authenticate(f))
		}
		if rt.Identify {
			mws = append(mws, identify(f))
		}
		if rt.KillSwitch {
			mws = append(mws, errkitmw.KillSwitch(f.KillSwitch))
		}
		if rt.RateLimit {
			mws = append(mws, errkitmw.RateLimit(f.Limiter))
		}
		if rt.BodyLimit {
			mws = append(mws, errkitmw.BodyLimit(conformance.MaxBodyBytes))
		}
		if rt.Idempotency {
			mws = append(mws, errkitmw.Idempotency(f.Idempotency))
		}
		handler := rt.Handler
		h := func(c echo.Context) error {
			r := c.Request()
			for i, name := range c.ParamNames() {
				r.SetPathValue(name, c.ParamValues()[i])
			}
			return handler(c.Response(), r)
		}
		path := wildcard.ReplaceAllString(rt.Path, ":$1")
		if rt.Group == "" {
			e.Add(rt.Method, path, h, mws...)
			continue
		}
		g, ok := groups[rt.Group]
		if !ok {
			g = e.Group(rt.Group, noop)
			groups[rt.Group] = g
		}
		g.Add(rt.Method, strings.TrimPrefix(path, rt.Group), h, mws...)
	}
	require.NoError(t, errkitmw.RegisterAdmin(e.Group(conformance.AdminPrefix), f.Admin))
	f.Template = func(rt conformance.Route) string { return wildcard.ReplaceAllString(rt.Path, ":$1") }
	f.AdminRoute = conformance.AdminPrefix + "/*"
	return e
}

// noop is a group's middleware: with it, echo answers the group's unknown
// paths with 404 routes of the group's own.
func noop(next echo.HandlerFunc) echo.HandlerFunc { return next }

// authenticate is a service's authentication middleware.
func authenticate(f *conformance.Fixtures) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r, err := f.Authenticate(c.Request())
			if err != nil {
				return err
			}
			c.SetRequest(r)
			return next(c)
		}
	}
}

// identify is a service's lenient authentication middleware.
func identify(f *conformance.Fixtures) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.SetRequest(f.Identify(c.Request()))
			return next(c)
		}
	}
}
