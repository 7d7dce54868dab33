package ratelimit

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/principal"
)

// testKeyHeader stands in for a service's authentication: the test's auth
// middleware turns it into the request's principal.
const testKeyHeader = "X-Test-Key-Id"

// authenticate is the stand-in for a service's auth middleware.
func authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if id := c.Request().Header.Get(testKeyHeader); id != "" {
			principal.Set(c, principal.Principal{KeyID: id})
		}
		return next(c)
	}
}

// newServer starts a real echo behind httptest.NewServer with the errkit
// middleware installed (request IDs, recovery, the error handler), the
// stand-in auth and the rate limiter configured by cfg, and routes
// GET/POST /v1/things/:id and GET /health.
func newServer(t *testing.T, cfg RateLimitConfig) (*httptest.Server, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	e := echo.New()
	require.NoError(t, middleware.Install(e, middleware.Config{Logger: zap.New(core)}))
	mw, err := cfg.ToMiddleware()
	require.NoError(t, err)
	e.Use(authenticate, mw)
	ok := func(c echo.Context) error { return c.String(http.StatusOK, "ok") }
	e.GET("/v1/things/:id", ok)
	e.POST("/v1/things/:id", ok)
	e.GET("/health", ok)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv, logs
}

// response is what a test checks of an HTTP response.
type response struct {
	status     int
	policy     string
	state      string
	retryAfter string
	requestID  string
	body       string
}

// do sends method path with key as the authenticated key ID ("" for none).
func do(t *testing.T, srv *httptest.Server, method, path, key string) response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set(testKeyHeader, key)
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{
		status:     resp.StatusCode,
		policy:     resp.Header.Get(HeaderRateLimitPolicy),
		state:      resp.Header.Get(HeaderRateLimit),
		retryAfter: resp.Header.Get("Retry-After"),
		requestID:  resp.Header.Get(echo.HeaderXRequestID),
		body:       string(body),
	}
}

func TestRateLimitEndToEnd(t *testing.T) {
	store, clk := newFakeStore(t, 0)
	srv, _ := newServer(t, RateLimitConfig{
		Store: store,
		Classes: map[string]Rate{
			ClassRead:  {PerSecond: 1, Burst: 2},
			ClassWrite: {PerSecond: 0.5, Burst: 1},
		},
		Routes: map[string]string{"/health": ""},
	})
	limited := func(reqID string, retryAfterMs string) string {
		return `{"error":{"code":"RATE_LIMITED","message":"Rate limit exceeded. Retry after the time given in Retry-After.",` +
			`"requestId":"` + reqID + `","details":{"retryAfterMs":` + retryAfterMs + `}}}`
	}
	steps := []struct {
		name    string
		advance time.Duration
		method  string
		path    string
		key     string
		want    response // for a 429, want.body holds details.retryAfterMs
	}{
		{"first read", 0, "GET", "/v1/things/1", "key_a",
			response{status: 200, policy: `"read";q=2;w=2`, state: `"read";r=1;t=1`, body: "ok"}},
		{"same route template, other id: same bucket", 0, "GET", "/v1/things/2", "key_a",
			response{status: 200, policy: `"read";q=2;w=2`, state: `"read";r=0;t=2`, body: "ok"}},
		{"empty bucket", 0, "GET", "/v1/things/3", "key_a",
			response{status: 429, policy: `"read";q=2;w=2`, state: `"read";r=0;t=2`, retryAfter: "1", body: "1000"}},
		{"denied together: staggered one slot later", 0, "HEAD", "/v1/things/3", "key_a",
			response{status: 429, policy: `"read";q=2;w=2`, state: `"read";r=0;t=2`, retryAfter: "2"}},
		{"denied together: two slots later", 0, "GET", "/v1/things/3", "key_a",
			response{status: 429, policy: `"read";q=2;w=2`, state: `"read";r=0;t=2`, retryAfter: "2", body: "1250"}},
		{"other key, own bucket", 0, "GET", "/v1/things/1", "key_b",
			response{status: 200, policy: `"read";q=2;w=2`, state: `"read";r=1;t=1`, body: "ok"}},
		{"other class, own bucket", 0, "POST", "/v1/things/1", "key_a",
			response{status: 200, policy: `"write";q=1;w=2`, state: `"write";r=0;t=2`, body: "ok"}},
		{"write empty", 0, "POST", "/v1/things/1", "key_a",
			response{status: 429, policy: `"write";q=1;w=2`, state: `"write";r=0;t=2`, retryAfter: "2", body: "2000"}},
		{"unauthenticated: not limited, no headers", 0, "GET", "/v1/things/1", "",
			response{status: 200, body: "ok"}},
		{"unlimited route", 0, "GET", "/health", "key_a",
			response{status: 200, body: "ok"}},
		{"waited exactly retryAfterMs", time.Second, "GET", "/v1/things/1", "key_a",
			response{status: 200, policy: `"read";q=2;w=2`, state: `"read";r=0;t=2`, body: "ok"}},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		got := do(t, srv, st.method, st.path, st.key)
		require.True(t, middleware.ValidRequestID(got.requestID), "%s: request ID %q", st.name, got.requestID)
		want := st.want
		want.requestID = got.requestID
		if st.method == "HEAD" {
			want.body = ""
		} else if want.status == 429 {
			want.body = limited(got.requestID, want.body)
		}
		assert.Equal(t, want, got, st.name)
		if want.status == 429 && want.body != "" {
			err := apierror.Decode(got.status, []byte(got.body))
			require.Error(t, err)
			wait, ok := apierror.As(err)
			require.True(t, ok)
			after, ok := wait.RetryAfter()
			require.True(t, ok)
			assert.Equal(t, got.retryAfter, strconv.FormatInt(apierror.RetryAfterSeconds(after), 10), "%s: Retry-After agrees with retryAfterMs", st.name)
		}
	}
}

// failingStore is a store whose every decision fails, for the failure
// policy tests (the Redis outage test below uses a real stopped Redis).
type failingStore struct{ err error }

func (f failingStore) Allow(context.Context, string, Class, int) (Decision, error) {
	return Decision{}, f.err
}

func TestRateLimitStoreFailurePolicy(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.7:6379: secret-host refused")
	internal := func(id string) string {
		return `{"error":{"code":"INTERNAL","message":"` + apierror.InternalMessage + `","requestId":"` + id + `"}}`
	}
	for _, failClosed := range []bool{false, true} {
		t.Run(map[bool]string{false: "fail-open", true: "fail-closed"}[failClosed], func(t *testing.T) {
			var hooked atomic.Int64
			srv, logs := newServer(t, RateLimitConfig{
				Store:      failingStore{err: cause},
				FailClosed: failClosed,
				OnStoreError: func(c echo.Context, err error) {
					assert.ErrorIs(t, err, cause)
					hooked.Add(1)
				},
			})
			got := do(t, srv, "GET", "/v1/things/1", "key_a")
			assert.Equal(t, int64(1), hooked.Load(), "OnStoreError calls")
			assert.Empty(t, got.policy)
			assert.Empty(t, got.state)
			assert.Empty(t, got.retryAfter)
			assert.NotContains(t, got.body, "secret-host")
			if failClosed {
				assert.Equal(t, 500, got.status)
				assert.Equal(t, internal(got.requestID), got.body)
			} else {
				assert.Equal(t, 200, got.status)
				assert.Equal(t, "ok", got.body)
			}
			entries := logs.FilterMessageSnippet("ratelimit: decision failed").All()
			require.Len(t, entries, 1)
			assert.Equal(t, got.requestID, entries[0].ContextMap()["requestId"], "logged with the request ID")
			assert.Contains(t, entries[0].ContextMap()["error"], "secret-host", "the cause is logged")
		})
	}
}

func TestRateLimitUnknownClassIsAFailureNotADenial(t *testing.T) {
	var hooked atomic.Int64
	srv, _ := newServer(t, RateLimitConfig{
		ClassFunc:    func(echo.Context) string { return "nope" },
		OnStoreError: func(echo.Context, error) { hooked.Add(1) },
	})
	got := do(t, srv, "GET", "/v1/things/1", "key_a")
	assert.Equal(t, 200, got.status)
	assert.Equal(t, int64(1), hooked.Load())
}

func TestRateLimitSkipperAndRoutes(t *testing.T) {
	store, _ := newFakeStore(t, 0)
	srv, _ := newServer(t, RateLimitConfig{
		Store:   store,
		Skipper: func(c echo.Context) bool { return c.Request().Header.Get("X-Skip") != "" },
		Classes: map[string]Rate{"read": {PerSecond: 1, Burst: 1}, "write": {PerSecond: 1, Burst: 1}, "things": {PerSecond: 1, Burst: 5}},
		Routes:  map[string]string{"POST /v1/things/:id": "things"},
	})
	got := do(t, srv, "POST", "/v1/things/1", "key_a")
	assert.Equal(t, `"things";q=5;w=5`, got.policy)
	assert.Equal(t, `"things";r=4;t=1`, got.state)
	got = do(t, srv, "GET", "/v1/things/1", "key_a")
	assert.Equal(t, `"read";r=0;t=1`, got.state)

	req, err := http.NewRequest("GET", srv.URL+"/v1/things/1", nil)
	require.NoError(t, err)
	req.Header.Set(testKeyHeader, "key_a")
	req.Header.Set("X-Skip", "1")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, "skipped despite the empty bucket")
	assert.Empty(t, resp.Header.Get(HeaderRateLimit))
}

func TestRateLimitConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  RateLimitConfig
	}{
		{"negative cost", RateLimitConfig{Cost: -1}},
		{"cost above a burst", RateLimitConfig{Cost: 11}},
		{"empty classes", RateLimitConfig{Classes: map[string]Rate{}}},
		{"bad class name", RateLimitConfig{Classes: map[string]Rate{`re"ad`: {PerSecond: 1, Burst: 1}}}},
		{"bad rate", RateLimitConfig{Classes: map[string]Rate{"read": {PerSecond: 0, Burst: 1}}}},
		{"route to unknown class", RateLimitConfig{Routes: map[string]string{"/x": "nope"}}},
		{"route without slash", RateLimitConfig{Routes: map[string]string{"x": "read"}}},
		{"lower-case method", RateLimitConfig{Routes: map[string]string{"get /x": "read"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := tt.cfg.ToMiddleware()
			assert.Error(t, err)
			assert.Nil(t, mw)
			assert.Panics(t, func() { RateLimitWithConfig(tt.cfg) })
		})
	}
	assert.NotPanics(t, func() { RateLimit(nil) })
}

// TestRateLimitRedisOutage stops a real Redis under a running limiter:
// fail-open lets requests through, fail-closed answers INTERNAL, and both
// recover when Redis is back, without restarting anything.
func TestRateLimitRedisOutage(t *testing.T) {
	inst := redistest.Private(t)
	client := redisClient(t, inst)
	store, err := NewRedisStore(client, RedisConfig{Timeout: 200 * time.Millisecond})
	require.NoError(t, err)
	classes := map[string]Rate{ClassRead: {PerSecond: 100, Burst: 100}, ClassWrite: {PerSecond: 100, Burst: 100}}
	var openErrs, closedErrs atomic.Int64
	open, _ := newServer(t, RateLimitConfig{Store: store, Classes: classes,
		OnStoreError: func(echo.Context, error) { openErrs.Add(1) }})
	closed, _ := newServer(t, RateLimitConfig{Store: store, Classes: classes, FailClosed: true,
		OnStoreError: func(echo.Context, error) { closedErrs.Add(1) }})

	for _, srv := range []*httptest.Server{open, closed} {
		got := do(t, srv, "GET", "/v1/things/1", "key_a")
		assert.Equal(t, 200, got.status)
		assert.Equal(t, `"read";q=100;w=1`, got.policy)
	}

	inst.Stop(t)
	got := do(t, open, "GET", "/v1/things/1", "key_a")
	assert.Equal(t, 200, got.status, "fail-open passes")
	assert.Empty(t, got.state)
	assert.Equal(t, int64(1), openErrs.Load())
	got = do(t, closed, "GET", "/v1/things/1", "key_a")
	assert.Equal(t, 500, got.status, "fail-closed refuses")
	assert.Equal(t, `{"error":{"code":"INTERNAL","message":"`+apierror.InternalMessage+`","requestId":"`+got.requestID+`"}}`, got.body)
	assert.Equal(t, int64(1), closedErrs.Load())

	inst.Start(t)
	for _, srv := range []*httptest.Server{open, closed} {
		require.Eventually(t, func() bool {
			got := do(t, srv, "GET", "/v1/things/1", "key_a")
			return got.status == 200 && got.state != ""
		}, 5*time.Second, 20*time.Millisecond, "limiter recovers after Redis restarts")
	}
	// The restarted Redis is empty: its script cache too, so EVAL was used.
	got = do(t, closed, "GET", "/v1/things/1", "key_a")
	assert.Equal(t, 200, got.status)
	assert.Equal(t, `"read";q=100;w=1`, got.policy)
}
