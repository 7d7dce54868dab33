package retry

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/nethttp"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/ratelimit"
	"github.com/layershq/errkit/requestid"
)

// quietLogger drops every line: these tests look at the wire.
var quietLogger = slog.New(slog.DiscardHandler)

// install serves mux behind errkit's net/http adapter.
func install(t *testing.T, mux *http.ServeMux) *httptest.Server {
	t.Helper()
	h, err := nethttp.Install(mux, nethttp.Config{Logger: quietLogger})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// TestEndToEndRateLimitedThenAdmitted runs the client against errkit's own
// net/http adapter over a real listener: a handler answers RATE_LIMITED the
// first time (the adapter's error writer renders the envelope and sets
// Retry-After) and 200 the second. The client waits exactly the
// retryAfterMs, resends the same Idempotency-Key and body, and returns the
// success.
func TestEndToEndRateLimitedThenAdmitted(t *testing.T) {
	mux := http.NewServeMux()
	type seen struct{ key, body, requestID string }
	var (
		mu   sync.Mutex
		hits []seen
	)
	mux.Handle("POST /v1/projects/{id}/content", nethttp.Handler(func(w http.ResponseWriter, r *http.Request) error {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		n := len(hits)
		hits = append(hits, seen{r.Header.Get(IdempotencyKeyHeader), string(b), requestid.FromContext(r.Context())})
		mu.Unlock()
		if n == 0 {
			return apierror.RateLimited(1500 * time.Millisecond)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, err := io.WriteString(w, `{"containerId":"cnt_1"}`)
		return err
	}))
	srv := install(t, mux)

	clk := newFakeClock()
	rec := &recorder{}
	c := &Client{Transport: &Transport{Base: srv.Client().Transport, Clock: clk, OnAttempt: rec.On}}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/projects/p1/content", strings.NewReader(`{"hook":"h"}`))
	require.NoError(t, err)
	resp, err := c.Do(context.Background(), req)
	require.NoError(t, err)
	defer resp.Body.Close()

	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.JSONEq(t, `{"containerId":"cnt_1"}`, readBody(t, resp))
	assert.Equal(t, []time.Duration{1500 * time.Millisecond}, clk.Waits())
	assert.Equal(t, []Decision{Retry, Done}, rec.Decisions())

	require.Len(t, rec.attempts, 2)
	first := rec.attempts[0]
	assert.Equal(t, "2", first.Response.Header.Get("Retry-After"), "the error writer's Retry-After, whole seconds rounded up")
	rl, ok := apierror.As(first.Err)
	require.True(t, ok)
	assert.Equal(t, apierror.CodeRateLimited, rl.Code())
	assert.Contains(t, first.Reason, "details.retryAfterMs")

	require.Len(t, hits, 2)
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{32}$`), hits[0].key)
	assert.Equal(t, hits[0].key, hits[1].key)
	assert.Equal(t, `{"hook":"h"}`, hits[0].body)
	assert.Equal(t, hits[0].body, hits[1].body)
	assert.Equal(t, hits[0].requestID, rl.RequestID(), "the decoded error carries the server's requestId")
	assert.NotEqual(t, hits[0].requestID, hits[1].requestID)
}

// TestEndToEndKillSwitchNotRetried: a policy gate from the real adapter
// comes back once, decoded, with its requestId and details.
func TestEndToEndKillSwitchNotRetried(t *testing.T) {
	mux := http.NewServeMux()
	var (
		mu   sync.Mutex
		hits int
	)
	mux.Handle("GET /v1/whoami", nethttp.Handler(func(http.ResponseWriter, *http.Request) error {
		mu.Lock()
		hits++
		mu.Unlock()
		return apierror.KillSwitch("organization")
	}))
	srv := install(t, mux)

	clk := newFakeClock()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/whoami", nil)
	require.NoError(t, err)
	_, err = (&Client{Transport: &Transport{Base: srv.Client().Transport, Clock: clk}}).Do(context.Background(), req)
	require.Error(t, err)
	assert.Equal(t, 1, hits)
	assert.Empty(t, clk.Waits())
	assert.Equal(t, 1, AttemptsOf(err))
	assert.True(t, apierror.HasCode(err, apierror.CodeKillSwitch))
	d, ok := apierror.DetailsAs[apierror.KillSwitchDetails](err)
	require.True(t, ok)
	assert.Equal(t, apierror.KillSwitchScope("organization"), d.Scope)
	ae, _ := apierror.As(err)
	assert.Regexp(t, `^req_[0-9A-HJKMNP-TV-Z]{26}$`, ae.RequestID())
}

// TestEndToEndRealRateLimiter runs the client against errkit's whole
// rate-limiting stack over a real listener: nethttp.Install, an auth
// middleware setting the principal, and the rate limiter on a memory store with burst 1 at 1 request per second. The limiter's clock is the
// client's fake clock, so the wait the client takes is exactly the one that
// makes the token exist: the first call is admitted, the second is denied
// with RATE_LIMITED, waited out and then admitted, with no real sleeping.
func TestEndToEndRealRateLimiter(t *testing.T) {
	clk := newFakeClock()
	origin := clk.Now()
	store, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{
		SweepInterval: -1,
		Clock:         func() time.Duration { return clk.Now().Sub(origin) },
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })

	lim, err := ratelimit.New(ratelimit.Config{
		Store:   store,
		Classes: map[string]ratelimit.Rate{ratelimit.ClassRead: {PerSecond: 1, Burst: 1}, ratelimit.ClassWrite: {PerSecond: 1, Burst: 1}},
	})
	require.NoError(t, err)
	var (
		mu   sync.Mutex
		hits int
	)
	whoami := nethttp.Handler(func(w http.ResponseWriter, r *http.Request) error {
		mu.Lock()
		hits++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, err := io.WriteString(w, `{"keyId":"`+principal.KeyID(r)+`"}`)
		return err
	})
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, principal.Set(r, principal.Principal{KeyID: "key_full", OrganizationID: "org_demo"}))
		})
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/whoami", auth(nethttp.RateLimit(lim)(whoami)))
	srv := install(t, mux)

	rec := &recorder{}
	c := &Client{Transport: &Transport{Base: srv.Client().Transport, Clock: clk, OnAttempt: rec.On}}
	get := func() *http.Response {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/whoami", nil)
		require.NoError(t, err)
		resp, err := c.Do(context.Background(), req)
		require.NoError(t, err)
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}

	first := get()
	assert.Equal(t, http.StatusOK, first.StatusCode)
	assert.Empty(t, clk.Waits(), "the first call finds a full bucket")

	second := get()
	assert.Equal(t, http.StatusOK, second.StatusCode)
	assert.JSONEq(t, `{"keyId":"key_full"}`, readBody(t, second))
	assert.Equal(t, 2, hits, "the denied attempt never reached the handler")

	waits := clk.Waits()
	require.Len(t, waits, 1, "one wait: the denied attempt, then admitted")
	assert.Equal(t, time.Second, waits[0], "the wait is exactly details.retryAfterMs: one token at 1/s")
	require.Len(t, rec.attempts, 3)
	denied := rec.attempts[1]
	assert.Equal(t, http.StatusTooManyRequests, denied.Response.StatusCode)
	assert.Equal(t, "1", denied.Response.Header.Get("Retry-After"))
	d, ok := apierror.DetailsAs[apierror.RateLimitedDetails](denied.Err)
	require.True(t, ok)
	assert.Equal(t, int64(1000), d.RetryAfterMs)
	assert.Equal(t, []Decision{Done, Retry, Done}, rec.Decisions())
}
