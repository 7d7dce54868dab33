package ratelimit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/requestid"
)

// thingsRoute is the route template of /v1/things/<id>, as echo's c.Path()
// gives it.
const thingsRoute = "/v1/things/:id"

// harness drives a Limiter as an adapter does: it stamps a request ID,
// records the principal, calls Limit with the response header and the route
// template, and renders a returned error with errkit's error writer. Logs of
// the request logger and of the error writer are captured as JSON lines.
type harness struct {
	l       *Limiter
	stamper *requestid.Stamper
	writer  *httperror.Writer
	logs    *bytes.Buffer
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l, err := New(cfg)
	require.NoError(t, err)
	w, err := httperror.New(httperror.Config{Logger: logger})
	require.NoError(t, err)
	return &harness{l: l, stamper: requestid.NewStamper(requestid.Config{Logger: logger}), writer: w, logs: logs}
}

// response is what a test checks of one answered request. retryAfter is
// the Retry-After the limiter set, before the error writer ran; the writer's
// own is checked against it in do.
type response struct {
	status     int
	policy     string
	state      string
	retryAfter string
	requestID  string
	body       string
	err        error
}

// do sends method target on route with key as the authenticated key ID (""
// for none) and answers it as an adapter would: the limiter's error through
// the error writer, otherwise 200 "ok".
func (hs *harness) do(t *testing.T, method, target, route, key string) response {
	t.Helper()
	rec := httptest.NewRecorder()
	r := hs.stamper.Stamp(rec.Header(), httptest.NewRequest(method, target, nil))
	if key != "" {
		r = principal.Set(r, principal.Principal{KeyID: key})
	}
	err := hs.l.Limit(rec.Header(), r, route)
	retryAfter := rec.Header().Get("Retry-After")
	if err != nil {
		hs.writer.Write(rec, r, err)
		assert.Equal(t, retryAfter, rec.Header().Get("Retry-After"), "the limiter's Retry-After is the error writer's")
	} else {
		rec.WriteHeader(http.StatusOK)
		if method != http.MethodHead {
			_, _ = rec.WriteString("ok")
		}
	}
	return response{
		status:     rec.Code,
		policy:     rec.Header().Get(HeaderRateLimitPolicy),
		state:      rec.Header().Get(HeaderRateLimit),
		retryAfter: retryAfter,
		requestID:  rec.Header().Get(requestid.Header),
		body:       rec.Body.String(),
		err:        err,
	}
}

// logLine is one captured JSON log line.
type logLine map[string]any

// lines returns the captured log lines whose message starts with prefix.
func lines(t *testing.T, buf *bytes.Buffer, prefix string) []logLine {
	t.Helper()
	var out []logLine
	sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
	for sc.Scan() {
		var l logLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), sc.Text())
		if msg, _ := l["msg"].(string); strings.HasPrefix(msg, prefix) {
			out = append(out, l)
		}
	}
	require.NoError(t, sc.Err())
	return out
}

func TestLimitDecisions(t *testing.T) {
	store, clk := newFakeStore(t, 0)
	hs := newHarness(t, Config{
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
	// Read: interval 1s, window 2s, stagger step min(1s, 2s/16) = 125ms.
	steps := []struct {
		name    string
		advance time.Duration
		method  string
		target  string
		route   string
		key     string
		want    response      // for a 429, want.body holds details.retryAfterMs
		wait    time.Duration // a 429's exact retry-after
	}{
		{"first read", 0, "GET", "/v1/things/1", thingsRoute, "key_a",
			response{status: 200, policy: `"read";q=2;w=2`, state: `"read";r=1;t=1`, body: "ok"}, 0},
		{"same route template, other id: same bucket", 0, "GET", "/v1/things/2", thingsRoute, "key_a",
			response{status: 200, policy: `"read";q=2;w=2`, state: `"read";r=0;t=2`, body: "ok"}, 0},
		{"empty bucket", 0, "GET", "/v1/things/3", thingsRoute, "key_a",
			response{status: 429, policy: `"read";q=2;w=2`, state: `"read";r=0;t=2`, retryAfter: "1", body: "1000"}, time.Second},
		{"denied together: staggered one slot later", 0, "HEAD", "/v1/things/3", thingsRoute, "key_a",
			response{status: 429, policy: `"read";q=2;w=2`, state: `"read";r=0;t=2`, retryAfter: "2"}, 1125 * time.Millisecond},
		{"denied together: two slots later", 0, "GET", "/v1/things/3", thingsRoute, "key_a",
			response{status: 429, policy: `"read";q=2;w=2`, state: `"read";r=0;t=2`, retryAfter: "2", body: "1250"}, 1250 * time.Millisecond},
		{"other key, own bucket", 0, "GET", "/v1/things/1", thingsRoute, "key_b",
			response{status: 200, policy: `"read";q=2;w=2`, state: `"read";r=1;t=1`, body: "ok"}, 0},
		{"other class, own bucket", 0, "POST", "/v1/things/1", thingsRoute, "key_a",
			response{status: 200, policy: `"write";q=1;w=2`, state: `"write";r=0;t=2`, body: "ok"}, 0},
		{"write empty", 0, "POST", "/v1/things/1", thingsRoute, "key_a",
			response{status: 429, policy: `"write";q=1;w=2`, state: `"write";r=0;t=2`, retryAfter: "2", body: "2000"}, 2 * time.Second},
		{"unauthenticated: not limited, no headers", 0, "GET", "/v1/things/1", thingsRoute, "",
			response{status: 200, body: "ok"}, 0},
		{"unlimited route", 0, "GET", "/health", "/health", "key_a",
			response{status: 200, body: "ok"}, 0},
		{"waited exactly retryAfterMs", time.Second, "GET", "/v1/things/1", thingsRoute, "key_a",
			response{status: 200, policy: `"read";q=2;w=2`, state: `"read";r=0;t=2`, body: "ok"}, 0},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		got := hs.do(t, st.method, st.target, st.route, st.key)
		require.True(t, requestid.Valid(got.requestID), "%s: request ID %q", st.name, got.requestID)
		want := st.want
		want.requestID = got.requestID
		if want.status == 429 {
			want.err = apierror.RateLimited(st.wait)
		}
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
// policy tests (the Redis outage test in redisstore uses a real stopped
// Redis).
type failingStore struct{ err error }

func (f failingStore) Allow(context.Context, string, Class, int) (Decision, error) {
	return Decision{}, f.err
}

func TestLimitStoreFailurePolicy(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.7:6379: secret-host refused")
	internal := func(id string) string {
		return `{"error":{"code":"INTERNAL","message":"` + apierror.InternalMessage + `","requestId":"` + id + `"}}`
	}
	for _, failClosed := range []bool{false, true} {
		t.Run(map[bool]string{false: "fail-open", true: "fail-closed"}[failClosed], func(t *testing.T) {
			var hooked atomic.Int64
			fallback := &bytes.Buffer{}
			hs := newHarness(t, Config{
				Store:      failingStore{err: cause},
				FailClosed: failClosed,
				OnStoreError: func(r *http.Request, err error) {
					assert.ErrorIs(t, err, cause)
					assert.NotEmpty(t, requestid.FromContext(r.Context()), "OnStoreError gets the request")
					hooked.Add(1)
				},
				// Not used: the request has a request ID, so its own
				// logger is.
				Logger: slog.New(slog.NewJSONHandler(fallback, nil)),
			})
			got := hs.do(t, "GET", "/v1/things/1", thingsRoute, "key_a")
			assert.Equal(t, int64(1), hooked.Load(), "OnStoreError calls")
			assert.Empty(t, got.policy)
			assert.Empty(t, got.state)
			assert.Empty(t, got.retryAfter)
			assert.NotContains(t, got.body, "secret-host")
			if failClosed {
				assert.Equal(t, 500, got.status)
				assert.Equal(t, internal(got.requestID), got.body)
				assert.ErrorIs(t, got.err, cause, "the INTERNAL error keeps the cause for the error writer's log")
			} else {
				assert.Equal(t, 200, got.status)
				assert.Equal(t, "ok", got.body)
				assert.NoError(t, got.err)
			}
			entries := lines(t, hs.logs, "ratelimit: decision failed")
			require.Len(t, entries, 1)
			assert.Equal(t, got.requestID, entries[0]["requestId"], "logged with the request ID")
			assert.Contains(t, entries[0]["error"], "secret-host", "the cause is logged")
			assert.Equal(t, map[bool]string{false: "WARN", true: "ERROR"}[failClosed], entries[0]["level"])
			assert.Zero(t, fallback.Len(), "Config.Logger is for requests without a request ID")
		})
	}
}

// TestLimitStoreFailureWithoutRequestID: a request that no adapter stamped
// is logged to Config.Logger.
func TestLimitStoreFailureWithoutRequestID(t *testing.T) {
	cause := errors.New("redis: connection refused")
	logs := &bytes.Buffer{}
	l, err := New(Config{Store: failingStore{err: cause}, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	require.NoError(t, err)
	r := principal.Set(httptest.NewRequest(http.MethodGet, "/v1/things/1", nil), principal.Principal{KeyID: "key_a"})
	h := http.Header{}
	require.NoError(t, l.Limit(h, r, thingsRoute), "fail-open")
	assert.Empty(t, h)
	entries := lines(t, logs, "ratelimit: decision failed; request allowed (fail-open)")
	require.Len(t, entries, 1)
	assert.Equal(t, cause.Error(), entries[0]["error"])
	assert.NotContains(t, entries[0], "requestId")
}

func TestLimitUnknownClassIsAFailureNotADenial(t *testing.T) {
	for _, failClosed := range []bool{false, true} {
		var hooked atomic.Int64
		hs := newHarness(t, Config{
			ClassFunc:    func(*http.Request) string { return "nope" },
			FailClosed:   failClosed,
			OnStoreError: func(*http.Request, error) { hooked.Add(1) },
		})
		got := hs.do(t, "GET", "/v1/things/1", thingsRoute, "key_a")
		assert.Equal(t, map[bool]int{false: 200, true: 500}[failClosed], got.status, "fail-closed %v", failClosed)
		assert.False(t, apierror.HasCode(got.err, apierror.CodeRateLimited))
		assert.Equal(t, int64(1), hooked.Load())
	}
}

func TestLimitRoutes(t *testing.T) {
	classes := map[string]Rate{"read": {PerSecond: 1, Burst: 1}, "write": {PerSecond: 1, Burst: 1}, "things": {PerSecond: 1, Burst: 5}}
	routes := map[string]string{"POST /v1/things/:id": "things", "/v1/things/{id}": "things", "GET /health": ""}
	tests := []struct {
		name         string
		method       string
		route        string
		policy       string // "" when not limited
		state        string
		secondStatus int // the same request again
	}{
		{"method and template", "POST", thingsRoute, `"things";q=5;w=5`, `"things";r=4;t=1`, 200},
		{"other method: ClassFunc", "GET", thingsRoute, `"read";q=1;w=1`, `"read";r=0;t=1`, 429},
		{"template for any method", "DELETE", "/v1/things/{id}", `"things";q=5;w=5`, `"things";r=4;t=1`, 200},
		{"ServeMux pattern: method ignored", "PUT", "GET /v1/things/{id}", `"things";q=5;w=5`, `"things";r=4;t=1`, 200},
		{"ServeMux pattern: host ignored", "PUT", "api.example.com/v1/things/{id}", `"things";q=5;w=5`, `"things";r=4;t=1`, 200},
		{"unlimited for its method", "GET", "/health", "", "", 200},
		{"HEAD on a GET route is that route", "HEAD", "/health", "", "", 200},
		{"unlimited route, other method: ClassFunc", "POST", "/health", `"write";q=1;w=1`, `"write";r=0;t=1`, 429},
		{"raw path is not a template", "POST", "/v1/things/1", `"write";q=1;w=1`, `"write";r=0;t=1`, 429},
		{"no route", "GET", "", `"read";q=1;w=1`, `"read";r=0;t=1`, 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, _ := newFakeStore(t, 0)
			hs := newHarness(t, Config{Store: store, Classes: classes, Routes: routes})
			got := hs.do(t, tt.method, "/v1/things/1", tt.route, "key_a")
			assert.Equal(t, 200, got.status)
			assert.Equal(t, tt.policy, got.policy)
			assert.Equal(t, tt.state, got.state)
			got = hs.do(t, tt.method, "/v1/things/1", tt.route, "key_a")
			assert.Equal(t, tt.secondStatus, got.status)
		})
	}
}

func TestLimitCost(t *testing.T) {
	store, _ := newFakeStore(t, 0)
	hs := newHarness(t, Config{Store: store, Cost: 2, Classes: map[string]Rate{"read": {PerSecond: 1, Burst: 5}, "write": {PerSecond: 1, Burst: 2}}})
	for i, want := range []response{
		{status: 200, policy: `"read";q=5;w=5`, state: `"read";r=3;t=2`},
		{status: 200, policy: `"read";q=5;w=5`, state: `"read";r=1;t=4`},
		{status: 429, policy: `"read";q=5;w=5`, state: `"read";r=1;t=4`, retryAfter: "1"},
	} {
		got := hs.do(t, "GET", "/v1/things/1", thingsRoute, "key_a")
		assert.Equal(t, want, response{status: got.status, policy: got.policy, state: got.state, retryAfter: got.retryAfter}, "request %d", i)
	}
	got := hs.do(t, "POST", "/v1/things/1", thingsRoute, "key_a")
	assert.Equal(t, `"write";r=0;t=2`, got.state, "a cost equal to the burst passes once")
}

// recordingStore wraps a Store and records every decision it is asked for;
// with deny it turns every decision into a denial.
type recordingStore struct {
	Store
	calls atomic.Int64
	deny  bool
}

func (s *recordingStore) Allow(ctx context.Context, key string, class Class, cost int) (Decision, error) {
	s.calls.Add(1)
	d, err := s.Store.Allow(ctx, key, class, cost)
	if s.deny && err == nil {
		d.Allowed, d.RetryAfter = false, 3*time.Second
	}
	return d, err
}

// embeddingStore embeds a *MemoryStore (every method of it is promoted) and
// overrides Allow: the wrapper a limiter with a fast path for memory stores
// would silently bypass.
type embeddingStore struct {
	*MemoryStore
	calls atomic.Int64
}

func (s *embeddingStore) Allow(ctx context.Context, key string, class Class, cost int) (Decision, error) {
	s.calls.Add(1)
	return s.MemoryStore.Allow(ctx, key, class, cost)
}

// TestLimitGoesThroughStore: every decision goes through the configured
// Store's Allow, including when the store wraps or embeds a *MemoryStore,
// so a wrapper never silently takes another path.
func TestLimitGoesThroughStore(t *testing.T) {
	tests := []struct {
		name       string
		wrap       func(*MemoryStore) (Store, *atomic.Int64)
		wantStatus int
		retryAfter string
	}{
		{"wrapper observes", func(m *MemoryStore) (Store, *atomic.Int64) {
			s := &recordingStore{Store: m}
			return s, &s.calls
		}, 200, ""},
		{"wrapper decides", func(m *MemoryStore) (Store, *atomic.Int64) {
			s := &recordingStore{Store: m, deny: true}
			return s, &s.calls
		}, 429, "3"},
		{"embedded memory store", func(m *MemoryStore) (Store, *atomic.Int64) {
			s := &embeddingStore{MemoryStore: m}
			return s, &s.calls
		}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem, _ := newFakeStore(t, 0)
			store, calls := tt.wrap(mem)
			hs := newHarness(t, Config{Store: store})
			for i := range 5 {
				got := hs.do(t, "GET", "/v1/things/1", thingsRoute, "key_a")
				assert.Equal(t, tt.wantStatus, got.status, "request %d", i)
				assert.Equal(t, tt.retryAfter, got.retryAfter, "request %d", i)
				assert.Equal(t, int64(i+1), calls.Load(), "request %d went through the wrapper's Allow", i)
			}
			assert.Equal(t, 1, mem.Len(), "the wrapped memory store made the decisions")
		})
	}
}

func TestNewConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"negative cost", Config{Cost: -1}},
		{"cost above a burst", Config{Cost: 11}},
		{"empty classes", Config{Classes: map[string]Rate{}}},
		{"bad class name", Config{Classes: map[string]Rate{`re"ad`: {PerSecond: 1, Burst: 1}}}},
		{"bad rate", Config{Classes: map[string]Rate{"read": {PerSecond: 0, Burst: 1}}}},
		{"route to unknown class", Config{Routes: map[string]string{"/x": "nope"}}},
		{"route without slash", Config{Routes: map[string]string{"x": "read"}}},
		{"lower-case method", Config{Routes: map[string]string{"get /x": "read"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(tt.cfg)
			assert.Error(t, err)
			assert.Nil(t, l)
		})
	}
	l, err := New(Config{})
	require.NoError(t, err, "the zero Config is valid")
	r := principal.Set(httptest.NewRequest(http.MethodGet, "/", nil), principal.Principal{KeyID: "k"})
	h := http.Header{}
	require.NoError(t, l.Limit(h, r, "/"))
	assert.Equal(t, `"read";q=40;w=2`, h.Get(HeaderRateLimitPolicy), "the default classes")
}

// TestLimitAllocations: an admitted decision over a MemoryStore costs one
// allocation (both RateLimit header values), whatever the route.
func TestLimitAllocations(t *testing.T) {
	store, _ := newFakeStore(t, 0)
	l, err := New(Config{Store: store, Classes: map[string]Rate{ClassRead: {PerSecond: 1e9, Burst: 1000}, ClassWrite: DefaultWriteRate},
		Routes: map[string]string{"GET /v1/things/{id}": ClassRead}})
	require.NoError(t, err)
	r := principal.Set(httptest.NewRequest(http.MethodGet, "/v1/things/1", nil), principal.Principal{KeyID: "key_a"})
	h := http.Header{}
	for _, route := range []string{thingsRoute, "GET /v1/things/{id}"} {
		allocs := testing.AllocsPerRun(100, func() {
			if err := l.Limit(h, r, route); err != nil {
				t.Fatal(err)
			}
		})
		assert.Equal(t, 1.0, allocs, route)
	}
}
