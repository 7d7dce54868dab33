package middleware_test

import (
	"net/http"
	"regexp"
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
// middleware it names, in the suite's order.
func newConformanceServer(t *testing.T, f *conformance.Fixtures) http.Handler {
	e := echo.New()
	require.NoError(t, errkitmw.Install(e, errkitmw.Config{Logger: f.Logger}))
	for _, rt := range f.Routes() {
		var mws []echo.MiddlewareFunc
		if rt.Auth {
			mws = append(mws, authenticate(f))
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
		e.Add(rt.Method, wildcard.ReplaceAllString(rt.Path, ":$1"), func(c echo.Context) error {
			r := c.Request()
			for i, name := range c.ParamNames() {
				r.SetPathValue(name, c.ParamValues()[i])
			}
			return handler(c.Response(), r)
		}, mws...)
	}
	return e
}

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
