package middleware

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/requestid"
)

// TestRouteNotFoundAllow drives, over a real listener, the 404s echo's
// RouteNotFound routes answer (those of groups and hosts with middleware,
// and a service's own): where the path serves other methods, the NOT_FOUND
// carries the Allow header echo's router sends for its 405 when the same
// routes are not in a group, in echo's order; where it serves none, or a
// route's handler answered NOT_FOUND, there is no Allow.
func TestRouteNotFoundAllow(t *testing.T) {
	e, _ := newEcho(t, Config{})
	var groupRan atomic.Int64
	mw := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error { groupRan.Add(1); return next(c) }
	}
	thing := func(c echo.Context) error {
		if c.Param("id") == "t_404" {
			return apierror.NotFound()
		}
		return c.String(http.StatusOK, "thing "+c.Param("id"))
	}
	// The same routes in a group with middleware and, for echo's own 405s
	// to compare with, at the top level.
	mount := func(add func(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route, prefix string) {
		add(http.MethodGet, prefix+"/things", okHandler)
		add(http.MethodPost, prefix+"/things", okHandler)
		add(http.MethodPatch, prefix+"/things/:id", thing)
		add(http.MethodGet, prefix+"/things/:id", thing)
		add(http.MethodDelete, prefix+"/things/:id", thing)
	}
	mount(e.Group("/api", mw).Add, "")
	mount(e.Add, "/flat")
	// A real route whose template is the one of the group's own 404 route.
	files := e.Group("/files", mw)
	files.GET("/*", func(echo.Context) error { return apierror.NotFound() })
	files.PUT("/*", okHandler)
	// A host's router, with its own 404 routes.
	e.Host("tenant.example", mw).GET("/h", okHandler)
	// A service's own RouteNotFound route.
	e.RouteNotFound("/custom/*", func(echo.Context) error { return apierror.NotFound() })
	e.GET("/custom/x", okHandler)
	srv := httptest.NewServer(e)
	defer srv.Close()

	call := func(t *testing.T, method, host, path string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		require.NoError(t, err)
		if host != "" {
			req.Host = host
		}
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, res.Header, string(b)
	}

	for _, tc := range []struct {
		name, method, host, path string
		allow                    string // "": none
		// flat is the same request to the ungrouped routes, whose 405's
		// Allow echo's router writes itself.
		flat string
	}{
		{name: "plain path", method: http.MethodPut, path: "/api/things", allow: "OPTIONS, GET, POST", flat: "/flat/things"},
		{name: "parameterised path", method: http.MethodPut, path: "/api/things/t_1", allow: "OPTIONS, DELETE, GET, PATCH", flat: "/flat/things/t_1"},
		{name: "HEAD on a plain path", method: http.MethodHead, path: "/api/things", allow: "OPTIONS, GET, POST", flat: "/flat/things"},
		{name: "HEAD on a parameterised path", method: http.MethodHead, path: "/api/things/t_1", allow: "OPTIONS, DELETE, GET, PATCH", flat: "/flat/things/t_1"},
		{name: "the request's method is not listed", method: http.MethodPost, path: "/api/things/t_1", allow: "OPTIONS, DELETE, GET, PATCH", flat: "/flat/things/t_1"},
		{name: "unknown path in the group", method: http.MethodGet, path: "/api/nowhere"},
		{name: "the group's prefix", method: http.MethodPut, path: "/api"},
		{name: "a handler's NOT_FOUND in the group", method: http.MethodGet, path: "/api/things/t_404"},
		{name: "a handler's NOT_FOUND at the top level", method: http.MethodGet, path: "/flat/things/t_404"},
		{name: "a route sharing the template of the group's 404 route", method: http.MethodGet, path: "/files/f_1"},
		{name: "beside a route sharing the template", method: http.MethodDelete, path: "/files/f_1", allow: "OPTIONS, GET, PUT"},
		{name: "a host's router", method: http.MethodPut, host: "tenant.example", path: "/h", allow: "OPTIONS, GET"},
		{name: "another host", method: http.MethodPut, host: "other.example", path: "/h"},
		{name: "a service's RouteNotFound route", method: http.MethodPut, path: "/custom/x", allow: "OPTIONS, GET"},
		{name: "a service's RouteNotFound route, nothing served", method: http.MethodGet, path: "/custom/y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := groupRan.Load()
			status, hdr, b := call(t, tc.method, tc.host, tc.path)
			require.Equal(t, http.StatusNotFound, status, b)
			requireErrorHeaders(t, hdr)
			if tc.method == http.MethodHead {
				assert.Empty(t, b)
			} else {
				assert.Equal(t, body(apierror.CodeNotFound, hdr.Get(requestid.Header), ""), b)
			}
			if tc.allow == "" {
				assert.Empty(t, hdr.Values("Allow"))
			} else {
				assert.Equal(t, []string{tc.allow}, hdr.Values("Allow"))
			}
			if tc.flat != "" {
				_, flat, _ := call(t, tc.method, "", tc.flat)
				assert.Equal(t, flat.Values("Allow"), hdr.Values("Allow"), "echo's own Allow for the ungrouped routes")
			}
			if tc.path == "/api/nowhere" {
				assert.Equal(t, before+1, groupRan.Load(), "echo ran the group's middleware for its 404")
			}
		})
	}

	// What the groups serve is unchanged.
	for _, path := range []string{"/api/things", "/api/things/t_1"} {
		status, _, b := call(t, http.MethodGet, "", path)
		assert.Equal(t, http.StatusOK, status, path)
		assert.NotEmpty(t, b)
	}
	status, _, _ := call(t, http.MethodGet, "tenant.example", "/h")
	assert.Equal(t, http.StatusOK, status)
}
