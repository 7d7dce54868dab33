package echo5_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/echo5"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/ratelimit"
	"github.com/layershq/errkit/requestid"
)

// TestRateLimit serves a rate-limited echo route over a real listener: the
// limiter sees the route template c.Path(), an admitted request carries the
// RateLimit headers, a denied one is the RATE_LIMITED envelope with
// Retry-After, the RateLimit headers and X-Request-Id equal to requestId,
// and a skipped one is not limited.
func TestRateLimit(t *testing.T) {
	store, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{
		SweepInterval: -1,
		Clock:         func() time.Duration { return time.Hour }, // time stands still
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	l, err := ratelimit.New(ratelimit.Config{
		Store:   store,
		Classes: map[string]ratelimit.Rate{"read": {PerSecond: 10, Burst: 10}, "write": {PerSecond: 10, Burst: 10}, "things": {PerSecond: 0.5, Burst: 1}},
		Routes:  map[string]string{"GET /v1/things/:id": "things"},
	})
	require.NoError(t, err)

	var logs bytes.Buffer
	e := echo.New()
	require.NoError(t, echo5.Install(e, echo5.Config{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}))
	authenticate := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if id := c.Request().Header.Get("X-Test-Key-Id"); id != "" {
				echo5.SetPrincipal(c, principal.Principal{KeyID: id})
			}
			return next(c)
		}
	}
	e.Use(authenticate, echo5.RateLimitWithConfig(echo5.RateLimitConfig{
		Skipper: func(c *echo.Context) bool { return c.Request().Header.Get("X-Skip") != "" },
		Limiter: l,
	}))
	e.GET("/v1/things/:id", func(c *echo.Context) error { return c.String(http.StatusOK, "ok") })
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	const limited = `{"error":{"code":"RATE_LIMITED","message":"Rate limit exceeded. Retry after the time given in Retry-After.","requestId":"%s","details":{"retryAfterMs":2000}}}`
	steps := []struct {
		name                      string
		key                       string
		skip                      bool
		status                    int
		policy, state, retryAfter string
		body                      string // %s: the request ID
	}{
		{"admitted", "key_a", false, 200, `"things";q=1;w=2`, `"things";r=0;t=2`, "", "ok"},
		{"denied", "key_a", false, 429, `"things";q=1;w=2`, `"things";r=0;t=2`, "2", limited},
		{"skipped despite the empty bucket", "key_a", true, 200, "", "", "", "ok"},
		{"unauthenticated: not limited", "", false, 200, "", "", "", "ok"},
	}
	for _, st := range steps {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/things/1", nil)
		require.NoError(t, err)
		if st.key != "" {
			req.Header.Set("X-Test-Key-Id", st.key)
		}
		if st.skip {
			req.Header.Set("X-Skip", "1")
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())

		id := resp.Header.Get(requestid.Header)
		require.True(t, requestid.Valid(id), "%s: X-Request-Id %q", st.name, id)
		assert.Equal(t, st.status, resp.StatusCode, st.name)
		assert.Equal(t, st.policy, resp.Header.Get("RateLimit-Policy"), st.name)
		assert.Equal(t, st.state, resp.Header.Get("RateLimit"), st.name)
		assert.Equal(t, st.retryAfter, resp.Header.Get("Retry-After"), st.name)
		if st.status == 429 {
			var env struct {
				Error struct {
					RequestID string `json:"requestId"`
				} `json:"error"`
			}
			require.NoError(t, json.Unmarshal(body, &env), st.name)
			assert.Equal(t, id, env.Error.RequestID, "%s: requestId is X-Request-Id", st.name)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), st.name)
			assert.Equal(t, fmt.Sprintf(st.body, id), string(body), st.name)
		} else {
			assert.Equal(t, st.body, string(body), st.name)
		}
	}
}

func TestRateLimitConfigErrors(t *testing.T) {
	mw, err := echo5.RateLimitConfig{}.ToMiddleware()
	assert.EqualError(t, err, "errkit/echo5: RateLimitConfig.Limiter is nil")
	assert.Nil(t, mw)
	assert.Panics(t, func() { echo5.RateLimitWithConfig(echo5.RateLimitConfig{}) })
	assert.Panics(t, func() { echo5.RateLimit(nil) })
	l, err := ratelimit.New(ratelimit.Config{})
	require.NoError(t, err)
	assert.NotPanics(t, func() { echo5.RateLimit(l) })
}
