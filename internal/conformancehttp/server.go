// Package conformancehttp is errkit's conformance suite's server on
// net/http: the one the nethttp adapter's test runs, and the one the
// generated OpenAPI document is validated against.
package conformancehttp

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/conformance"
	"github.com/layershq/errkit/nethttp"
)

// NewServer mounts the suite's routes on a ServeMux, each with
// the middleware it names, in the suite's order, and the operator API
// below AdminPrefix. ServeMux has no groups: a grouped route is mounted at
// its full path.
func NewServer(t *testing.T, f *conformance.Fixtures) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range f.Routes() {
		h := nethttp.Handler(rt.Handler)
		if rt.Idempotency {
			h = nethttp.Idempotency(f.Idempotency)(h)
		}
		if rt.BodyLimit {
			h = nethttp.BodyLimit(conformance.MaxBodyBytes)(h)
		}
		if rt.RateLimit {
			h = nethttp.RateLimit(f.Limiter)(h)
		}
		if rt.KillSwitch {
			h = nethttp.KillSwitch(f.KillSwitch)(h)
		}
		if rt.Auth {
			h = authenticate(f, h)
		}
		if rt.Identify {
			h = identify(f, h)
		}
		if rt.GlobalKillSwitch {
			h = nethttp.KillSwitch(f.GlobalKillSwitch)(h)
		}
		mux.Handle(rt.Method+" "+rt.Path, h)
	}
	admin := http.StripPrefix(conformance.AdminPrefix, nethttp.Admin(f.Admin))
	mux.Handle(conformance.AdminPrefix, admin)
	mux.Handle(conformance.AdminPrefix+"/", admin)
	f.Template = func(rt conformance.Route) string { return rt.Method + " " + rt.Path }
	f.AdminRoute = conformance.AdminPrefix + "/"
	h, err := nethttp.Install(mux, nethttp.Config{Logger: f.Logger})
	require.NoError(t, err)
	return h
}

// authenticate is a service's authentication middleware.
func authenticate(f *conformance.Fixtures, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authed, err := f.Authenticate(r)
		if err != nil {
			nethttp.Error(w, r, err)
			return
		}
		next.ServeHTTP(w, authed)
	})
}

// identify is a service's lenient authentication middleware.
func identify(f *conformance.Fixtures, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, f.Identify(r))
	})
}
