package nethttp_test

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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/nethttp"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/ratelimit"
	"github.com/layershq/errkit/requestid"
)

// TestRateLimit serves a rate-limited ServeMux route over a real listener:
// the limiter sees the route pattern, an admitted request carries the
// RateLimit headers, and a denied one is the RATE_LIMITED envelope with
// Retry-After, the RateLimit headers and X-Request-Id equal to requestId.
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
		Routes:  map[string]string{"GET /v1/things/{id}": "things"},
	})
	require.NoError(t, err)

	authenticate := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if id := r.Header.Get("X-Test-Key-Id"); id != "" {
				r = principal.Set(r, principal.Principal{KeyID: id})
			}
			next.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/things/{id}", authenticate(nethttp.RateLimit(l)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))))
	var logs bytes.Buffer
	h, err := nethttp.Install(mux, nethttp.Config{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	const limited = `{"error":{"code":"RATE_LIMITED","message":"Rate limit exceeded. Retry after the time given in Retry-After.","requestId":"%s","details":{"retryAfterMs":2000}}}`
	steps := []struct {
		name                      string
		key                       string
		status                    int
		policy, state, retryAfter string
		body                      string // %s: the request ID
		contentType               string
	}{
		{"admitted", "key_a", 200, `"things";q=1;w=2`, `"things";r=0;t=2`, "", "ok", "text/plain; charset=utf-8"},
		{"denied", "key_a", 429, `"things";q=1;w=2`, `"things";r=0;t=2`, "2", limited, "application/json"},
		{"unauthenticated: not limited", "", 200, "", "", "", "ok", "text/plain; charset=utf-8"},
	}
	for _, st := range steps {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/things/1", nil)
		require.NoError(t, err)
		if st.key != "" {
			req.Header.Set("X-Test-Key-Id", st.key)
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
		assert.Equal(t, st.contentType, resp.Header.Get("Content-Type"), st.name)
		if st.status == 429 {
			var env struct {
				Error struct {
					RequestID string `json:"requestId"`
				} `json:"error"`
			}
			require.NoError(t, json.Unmarshal(body, &env), st.name)
			assert.Equal(t, id, env.Error.RequestID, "%s: requestId is X-Request-Id", st.name)
			assert.Equal(t, fmt.Sprintf(st.body, id), string(body), st.name)
		} else {
			assert.Equal(t, st.body, string(body), st.name)
		}
	}
}

func TestRateLimitNilLimiterPanics(t *testing.T) {
	assert.PanicsWithValue(t, "errkit/nethttp: RateLimit: nil *ratelimit.Limiter", func() { nethttp.RateLimit(nil) })
}
