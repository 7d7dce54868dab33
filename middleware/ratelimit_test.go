package middleware_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	errkitmw "github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/ratelimit"
	"github.com/layershq/errkit/requestid"
)

// The rate limiter's wire behaviour (the route's class found by c.Path(),
// the RateLimit headers, RATE_LIMITED, unauthenticated requests not
// limited) is checked by the conformance suite (conformance_test.go).

// TestRateLimitSkipper: a skipped request is not limited, even with its
// bucket empty, and carries no RateLimit headers.
func TestRateLimitSkipper(t *testing.T) {
	store, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{
		SweepInterval: -1,
		Clock:         func() time.Duration { return time.Hour }, // time stands still
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	l, err := ratelimit.New(ratelimit.Config{
		Store:   store,
		Classes: map[string]ratelimit.Rate{"read": {PerSecond: 0.5, Burst: 1}, "write": {PerSecond: 0.5, Burst: 1}},
	})
	require.NoError(t, err)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	require.NoError(t, errkitmw.Install(e, errkitmw.Config{}))
	authenticate := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			errkitmw.SetPrincipal(c, principal.Principal{KeyID: "key_a"})
			return next(c)
		}
	}
	e.Use(authenticate, errkitmw.RateLimitWithConfig(errkitmw.RateLimitConfig{
		Skipper: func(c echo.Context) bool { return c.Request().Header.Get("X-Skip") != "" },
		Limiter: l,
	}))
	e.GET("/v1/things/:id", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	for _, st := range []struct {
		name          string
		skip          bool
		status        int
		policy, state string
	}{
		{"admitted", false, http.StatusOK, `"read";q=1;w=2`, `"read";r=0;t=2`},
		{"denied", false, http.StatusTooManyRequests, `"read";q=1;w=2`, `"read";r=0;t=2`},
		{"skipped despite the empty bucket", true, http.StatusOK, "", ""},
	} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/things/1", nil)
		require.NoError(t, err)
		if st.skip {
			req.Header.Set("X-Skip", "1")
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.True(t, requestid.Valid(resp.Header.Get(requestid.Header)), st.name)
		assert.Equal(t, st.status, resp.StatusCode, st.name)
		assert.Equal(t, st.policy, resp.Header.Get("RateLimit-Policy"), st.name)
		assert.Equal(t, st.state, resp.Header.Get("RateLimit"), st.name)
		if st.status == http.StatusOK {
			assert.Equal(t, "ok", string(body), st.name)
			assert.Empty(t, resp.Header.Values("Retry-After"), st.name)
		}
	}
}

func TestRateLimitConfigErrors(t *testing.T) {
	mw, err := errkitmw.RateLimitConfig{}.ToMiddleware()
	assert.EqualError(t, err, "errkit/middleware: RateLimitConfig.Limiter is nil")
	assert.Nil(t, mw)
	assert.Panics(t, func() { errkitmw.RateLimitWithConfig(errkitmw.RateLimitConfig{}) })
	assert.Panics(t, func() { errkitmw.RateLimit(nil) })
	l, err := ratelimit.New(ratelimit.Config{})
	require.NoError(t, err)
	assert.NotPanics(t, func() { errkitmw.RateLimit(l) })
}
