package idempotency

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/internal/redistest"
)

// forEachStore runs f against the memory and the Redis store. Every call of
// newStore returns a store on the same keyspace: the same MemoryStore, or a
// RedisStore with its own client on the same Redis and prefix (another
// "instance" of the service).
func forEachStore(t *testing.T, f func(t *testing.T, newStore func() Store)) {
	t.Run("memory", func(t *testing.T) {
		s := NewMemoryStore(0)
		f(t, func() Store { return s })
	})
	t.Run("redis", func(t *testing.T) {
		inst := redistest.Server(t)
		prefix := inst.Prefix(t)
		f(t, func() Store { return NewRedisStore(inst.Client(t), prefix) })
	})
}

func TestReplay(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() Store) {
		cr := &creator{}
		srv, _ := newServer(t, IdempotencyConfig{Store: newStore()}, cr.handle)
		req := call{keyID: "key_A", keys: []string{"order-1"}, body: `{"hook":"a"}`}

		first := mustDo(t, srv, req)
		require.Equal(t, http.StatusCreated, first.status, first.body)
		assert.Empty(t, first.header.Values(HeaderReplayed))
		assert.Equal(t, "/v1/content/cnt_1", first.header.Get("Location"))
		assert.Equal(t, "per-run", first.header.Get("X-Not-Replayed"))

		second := mustDo(t, srv, req)
		assert.Equal(t, int64(1), cr.calls.Load(), "the handler runs once")
		assert.Equal(t, first.status, second.status)
		assert.Equal(t, first.body, second.body)
		assert.JSONEq(t, `{"id":"cnt_1","project":"prj_1","body":"{\"hook\":\"a\"}"}`, second.body)
		assert.Equal(t, []string{"true"}, second.header.Values(HeaderReplayed))
		assert.Equal(t, first.header.Values("Location"), second.header.Values("Location"))
		assert.Equal(t, first.header.Values("Content-Type"), second.header.Values("Content-Type"))
		assert.Empty(t, second.header.Values("X-Not-Replayed"), "only ReplayHeaders are replayed")
		assert.NotEqual(t, first.header.Get("X-Request-Id"), second.header.Get("X-Request-Id"),
			"a replay is a new request with its own request ID")

		// PATCH with the same key is another scope: it runs.
		patch := mustDo(t, srv, call{method: http.MethodPatch, keyID: "key_A", keys: []string{"order-1"}, body: `{"hook":"a"}`})
		assert.Equal(t, http.StatusCreated, patch.status)
		assert.Empty(t, patch.header.Values(HeaderReplayed))
		assert.Equal(t, int64(2), cr.calls.Load())
	})
}

func TestIdempotencyConflict(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() Store) {
		cr := &creator{}
		srv, _ := newServer(t, IdempotencyConfig{Store: newStore()}, cr.handle)
		bodyA, bodyB := `{"hook":"a"}`, `{"hook":"b"}`

		first := mustDo(t, srv, call{keyID: "key_A", keys: []string{"order-1"}, body: bodyA})
		require.Equal(t, http.StatusCreated, first.status)

		r := mustDo(t, srv, call{keyID: "key_A", keys: []string{"order-1"}, body: bodyB})
		assert.Equal(t, http.StatusConflict, r.status)
		orig := recompute(http.MethodPost, contentRoute, []byte(bodyA), "projectId", "prj_1")
		cur := recompute(http.MethodPost, contentRoute, []byte(bodyB), "projectId", "prj_1")
		require.NotEqual(t, orig, cur)
		assert.Equal(t, envelope(r, "IDEMPOTENCY_CONFLICT",
			"This Idempotency-Key was used earlier with a different request body.",
			`{"originalRequestHash":"`+orig+`","currentRequestHash":"`+cur+`"}`), r.body)
		assert.Equal(t, int64(1), cr.calls.Load())

		// The conflict changed nothing: the original request still replays.
		again := mustDo(t, srv, call{keyID: "key_A", keys: []string{"order-1"}, body: bodyA})
		assert.Equal(t, first.body, again.body)
		assert.Equal(t, "true", again.header.Get(HeaderReplayed))
		assert.Equal(t, int64(1), cr.calls.Load())
	})
}

// TestConflictAcrossResources: the same key and body sent to another
// resource of the same route template (another projectId), or with another
// query string, is a different request: IDEMPOTENCY_CONFLICT with both
// hashes, never the first resource's response.
func TestConflictAcrossResources(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() Store) {
		cr := &creator{}
		srv, _ := newServer(t, IdempotencyConfig{Store: newStore()}, cr.handle)
		const body = `{"hook":"a"}`
		p1 := call{path: "/v1/projects/p1/content", keyID: "key_A", keys: []string{"order-1"}, body: body}
		p2 := call{path: "/v1/projects/p2/content", keyID: "key_A", keys: []string{"order-1"}, body: body}

		first := mustDo(t, srv, p1)
		require.Equal(t, http.StatusCreated, first.status, first.body)
		assert.JSONEq(t, `{"id":"cnt_1","project":"p1","body":"{\"hook\":\"a\"}"}`, first.body)

		r := mustDo(t, srv, p2)
		assert.Equal(t, http.StatusConflict, r.status)
		orig := recompute(http.MethodPost, contentRoute, []byte(body), "projectId", "p1")
		cur := recompute(http.MethodPost, contentRoute, []byte(body), "projectId", "p2")
		require.NotEqual(t, orig, cur)
		assert.Equal(t, envelope(r, "IDEMPOTENCY_CONFLICT",
			"This Idempotency-Key was used earlier with a different request body.",
			`{"originalRequestHash":"`+orig+`","currentRequestHash":"`+cur+`"}`), r.body)
		assert.Empty(t, r.header.Values(HeaderReplayed))
		assert.Equal(t, int64(1), cr.calls.Load(), "p2's call did not run")

		// The query string is part of the request too: p1?dryRun=true is
		// not a retry of p1.
		q := p1
		q.path += "?dryRun=true"
		r = mustDo(t, srv, q)
		assert.Equal(t, http.StatusConflict, r.status)
		assert.Equal(t, envelope(r, "IDEMPOTENCY_CONFLICT",
			"This Idempotency-Key was used earlier with a different request body.",
			`{"originalRequestHash":"`+orig+`","currentRequestHash":"`+
				recomputeQuery(http.MethodPost, contentRoute, "dryRun=true", []byte(body), "projectId", "p1")+`"}`), r.body)
		assert.Equal(t, int64(1), cr.calls.Load(), "the dry run did not run")

		// p1 still replays; p2 with a fresh key runs.
		again := mustDo(t, srv, p1)
		assert.Equal(t, first.body, again.body)
		assert.Equal(t, "true", again.header.Get(HeaderReplayed))
		p2.keys = []string{"order-2"}
		fresh := mustDo(t, srv, p2)
		assert.Equal(t, http.StatusCreated, fresh.status)
		assert.Contains(t, fresh.body, `"project":"p2"`)
		assert.Equal(t, int64(2), cr.calls.Load())
	})
}

// TestReleaseOnError: a request that fails (returned error, non-2xx status,
// panic) releases the key, and the retry with the same key runs.
func TestReleaseOnError(t *testing.T) {
	failures := []struct {
		name   string
		fail   func(c echo.Context) error
		status int
		body   func(r reply) string // "" to skip the exact body check
	}{
		{"INTERNAL", func(echo.Context) error { return apierror.Internal(errors.New("db down at 10.0.0.7")) },
			500, func(r reply) string {
				return envelope(r, "INTERNAL", apierror.InternalMessage, "")
			}},
		{"WORKFLOW_START_FAILED", func(echo.Context) error { return apierror.WorkflowStartFailed(errors.New("temporal unavailable")) },
			500, func(r reply) string {
				return envelope(r, "WORKFLOW_START_FAILED",
					"The request was accepted, but the job could not start. Retry with the same Idempotency-Key.", "")
			}},
		{"BILLING_EXHAUSTED", func(echo.Context) error { return apierror.BillingExhausted(apierror.BillingInsufficient) },
			402, nil},
		{"written 409", func(c echo.Context) error { return c.JSON(http.StatusConflict, map[string]string{"state": "busy"}) },
			409, func(reply) string { return "{\"state\":\"busy\"}\n" }},
		{"written 2xx then error", func(c echo.Context) error {
			_ = c.JSON(http.StatusAccepted, map[string]string{"state": "half"})
			return errors.New("failed after writing")
		}, 202, nil},
		{"panic", func(echo.Context) error { panic("boom") }, 500, func(r reply) string {
			return envelope(r, "INTERNAL", apierror.InternalMessage, "")
		}},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, newStore func() Store) {
				cr := &creator{}
				var mu sync.Mutex
				failed := false
				h := func(c echo.Context) error {
					mu.Lock()
					first := !failed
					failed = true
					mu.Unlock()
					if first {
						return f.fail(c)
					}
					return cr.handle(c)
				}
				srv, _ := newServer(t, IdempotencyConfig{Store: newStore()}, h)
				req := call{keyID: "key_A", keys: []string{"retry-me"}, body: `{"n":1}`}

				r := mustDo(t, srv, req)
				assert.Equal(t, f.status, r.status)
				if f.body != nil {
					assert.Equal(t, f.body(r), r.body)
				}
				assert.NotContains(t, r.body, "10.0.0.7")

				retry := mustDo(t, srv, req)
				assert.Equal(t, http.StatusCreated, retry.status, retry.body)
				assert.Empty(t, retry.header.Values(HeaderReplayed), "the retry ran")
				assert.Equal(t, int64(1), cr.calls.Load())

				replayed := mustDo(t, srv, req)
				assert.Equal(t, retry.body, replayed.body)
				assert.Equal(t, "true", replayed.header.Get(HeaderReplayed))
				assert.Equal(t, int64(1), cr.calls.Load())
			})
		})
	}
}

// inUse checks a CONFLICT idempotency_key_in_use response.
func inUse(t *testing.T, r reply) {
	t.Helper()
	assert.Equal(t, http.StatusConflict, r.status)
	assert.Equal(t, "1", r.header.Get("Retry-After"))
	assert.Equal(t, envelope(r, "CONFLICT", "The request collides with the current state of the resource.",
		`{"reason":"idempotency_key_in_use"}`), r.body)
}

// TestConcurrentSameKeyGated: while the first request runs, every other
// request with its key is answered CONFLICT idempotency_key_in_use; the
// handler runs once. The requests alternate between two middleware
// instances (two echo servers) sharing one store.
func TestConcurrentSameKeyGated(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() Store) {
		const n = 20
		cr := &creator{}
		gate := make(chan struct{})
		h := func(c echo.Context) error {
			<-gate
			return cr.handle(c)
		}
		srvA, _ := newServer(t, IdempotencyConfig{Store: newStore()}, h)
		srvB, _ := newServer(t, IdempotencyConfig{Store: newStore()}, h)
		req := call{keyID: "key_A", keys: []string{"same-key"}, body: `{"hook":"a"}`}

		replies := make(chan reply, n)
		errs := make(chan error, n)
		for i := range n {
			srv := srvA
			if i%2 == 1 {
				srv = srvB
			}
			go func() {
				r, err := do(srv, req)
				if err != nil {
					errs <- err
					return
				}
				replies <- r
			}()
		}
		// The request holding the lease waits at the gate, so the other
		// n-1 must all come back first, each refused.
		for range n - 1 {
			select {
			case r := <-replies:
				inUse(t, r)
			case err := <-errs:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("timed out waiting for the refused requests")
			}
		}
		close(gate)
		var winner reply
		select {
		case winner = <-replies:
		case err := <-errs:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("timed out waiting for the first request")
		}
		assert.Equal(t, http.StatusCreated, winner.status)
		assert.Equal(t, int64(1), cr.calls.Load())

		for _, srv := range []*httptest.Server{srvA, srvB} {
			r := mustDo(t, srv, req)
			assert.Equal(t, winner.body, r.body)
			assert.Equal(t, "true", r.header.Get(HeaderReplayed))
		}
		assert.Equal(t, int64(1), cr.calls.Load())
	})
}

// TestInProgressConflict: while the first request holds the lease, the
// same key with another fingerprint (another body, another resource) is
// answered IDEMPOTENCY_CONFLICT with both hashes straight away, on either
// instance; the same fingerprint gets CONFLICT idempotency_key_in_use.
func TestInProgressConflict(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() Store) {
		cr := &creator{}
		entered := make(chan struct{})
		gate := make(chan struct{})
		var once sync.Once
		h := func(c echo.Context) error {
			once.Do(func() { close(entered) })
			<-gate
			return cr.handle(c)
		}
		srvA, _ := newServer(t, IdempotencyConfig{Store: newStore()}, h)
		srvB, _ := newServer(t, IdempotencyConfig{Store: newStore()}, h)
		const bodyA, bodyB = `{"hook":"a"}`, `{"hook":"b"}`
		req := call{keyID: "key_A", keys: []string{"busy"}, body: bodyA}
		orig := recompute(http.MethodPost, contentRoute, []byte(bodyA), "projectId", "prj_1")
		conflict := func(t *testing.T, r reply, cur string) {
			t.Helper()
			require.NotEqual(t, orig, cur)
			assert.Equal(t, http.StatusConflict, r.status)
			assert.Empty(t, r.header.Values("Retry-After"))
			assert.Equal(t, envelope(r, "IDEMPOTENCY_CONFLICT",
				"This Idempotency-Key was used earlier with a different request body.",
				`{"originalRequestHash":"`+orig+`","currentRequestHash":"`+cur+`"}`), r.body)
		}

		first := make(chan reply, 1)
		go func() {
			r, _ := do(srvA, req)
			first <- r
		}()
		<-entered
		for _, srv := range []*httptest.Server{srvA, srvB} {
			other := req
			other.body = bodyB
			conflict(t, mustDo(t, srv, other), recompute(http.MethodPost, contentRoute, []byte(bodyB), "projectId", "prj_1"))
			other = req
			other.path = "/v1/projects/prj_2/content"
			conflict(t, mustDo(t, srv, other), recompute(http.MethodPost, contentRoute, []byte(bodyA), "projectId", "prj_2"))
			inUse(t, mustDo(t, srv, req))
		}
		close(gate)
		assert.Equal(t, http.StatusCreated, (<-first).status)
		assert.Equal(t, int64(1), cr.calls.Load())

		other := req
		other.body = bodyB
		conflict(t, mustDo(t, srvB, other), recompute(http.MethodPost, contentRoute, []byte(bodyB), "projectId", "prj_1"))
		assert.Equal(t, "true", mustDo(t, srvB, req).header.Get(HeaderReplayed))
		assert.Equal(t, int64(1), cr.calls.Load())
	})
}

// TestConcurrentSameKeyRace: 20 requests race with the same key across two
// instances; the handler runs exactly once, and every other request gets
// either the replay or CONFLICT idempotency_key_in_use.
func TestConcurrentSameKeyRace(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() Store) {
		const n = 20
		cr := &creator{}
		h := func(c echo.Context) error {
			time.Sleep(5 * time.Millisecond) // long enough for overlaps
			return cr.handle(c)
		}
		srvA, _ := newServer(t, IdempotencyConfig{Store: newStore()}, h)
		srvB, _ := newServer(t, IdempotencyConfig{Store: newStore()}, h)
		req := call{keyID: "key_A", keys: []string{"race-key"}, body: `{"hook":"a"}`}

		start := make(chan struct{})
		results := make([]reply, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			srv := srvA
			if i%2 == 1 {
				srv = srvB
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = do(srv, req)
			}()
		}
		close(start)
		wg.Wait()

		assert.Equal(t, int64(1), cr.calls.Load(), "the handler ran exactly once")
		var original, replays, refused int
		var body string
		for i, r := range results {
			require.NoError(t, errs[i])
			switch {
			case r.status == http.StatusCreated && r.header.Get(HeaderReplayed) == "":
				original++
				body = r.body
			case r.status == http.StatusCreated:
				replays++
			default:
				inUse(t, r)
				refused++
			}
		}
		assert.Equal(t, 1, original)
		assert.Equal(t, n, original+replays+refused)
		for _, r := range results {
			if r.status == http.StatusCreated {
				assert.Equal(t, body, r.body, "replays are identical to the original")
			}
		}
		t.Logf("1 original, %d replays, %d refused", replays, refused)
	})
}

// TestLeaseExpiryAfterCrash: a lease taken by a server that crashed (never
// released) refuses the key until LeaseTTL passes, then the key is free.
func TestLeaseExpiryAfterCrash(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() Store) {
		const lease = 300 * time.Millisecond
		store := newStore()
		cr := &creator{}
		srv, _ := newServer(t, IdempotencyConfig{Store: store, LeaseTTL: lease}, cr.handle)

		skey := storeKey("key_A", http.MethodPost, contentRoute, "crash-key")
		crashedAt := time.Now()
		lk, err := store.Acquire(context.Background(), skey, "crashed-server-token",
			recompute(http.MethodPost, contentRoute, []byte(`{}`), "projectId", "prj_1"), lease)
		require.NoError(t, err)
		require.Equal(t, Acquired, lk.State)
		if rs, ok := store.(*RedisStore); ok {
			pttl, err := rs.client.PTTL(context.Background(), rs.prefix+skey).Result()
			require.NoError(t, err)
			assert.True(t, pttl > 0 && pttl <= lease, "the lease carries its TTL in Redis: %v", pttl)
		}

		req := call{keyID: "key_A", keys: []string{"crash-key"}, body: `{}`}
		if r := mustDo(t, srv, req); time.Since(crashedAt) < lease {
			inUse(t, r)
		}
		var r reply
		require.Eventually(t, func() bool {
			r, err = do(srv, req)
			return err == nil && r.status == http.StatusCreated
		}, 5*time.Second, 25*time.Millisecond, "the crashed server's lease never expired")
		assert.GreaterOrEqual(t, time.Since(crashedAt), lease)
		assert.Equal(t, int64(1), cr.calls.Load())
	})
}

// TestLeaseRenewedWhileHandlerRuns: a handler slower than LeaseTTL keeps its
// lease, so the key stays refused rather than running twice.
func TestLeaseRenewedWhileHandlerRuns(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() Store) {
		const lease = 120 * time.Millisecond
		cr := &creator{}
		entered := make(chan struct{})
		gate := make(chan struct{})
		h := func(c echo.Context) error {
			close(entered)
			<-gate
			return cr.handle(c)
		}
		srv, _ := newServer(t, IdempotencyConfig{Store: newStore(), LeaseTTL: lease}, h)
		req := call{keyID: "key_A", keys: []string{"slow"}, body: `{}`}

		first := make(chan reply, 1)
		go func() {
			r, _ := do(srv, req)
			first <- r
		}()
		<-entered
		for range 4 {
			time.Sleep(lease) // 4 lease lifetimes in total
			inUse(t, mustDo(t, srv, req))
		}
		close(gate)
		assert.Equal(t, http.StatusCreated, (<-first).status)
		assert.Equal(t, "true", mustDo(t, srv, req).header.Get(HeaderReplayed))
		assert.Equal(t, int64(1), cr.calls.Load())
	})
}

func TestScopeIsolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() Store) {
		cr := &creator{}
		srv, _ := newServer(t, IdempotencyConfig{Store: newStore()}, cr.handle)
		body := `{"hook":"a"}`
		a := mustDo(t, srv, call{keyID: "key_A", keys: []string{"shared"}, body: body})
		b := mustDo(t, srv, call{keyID: "key_B", keys: []string{"shared"}, body: body})
		o := mustDo(t, srv, call{path: otherPath, keyID: "key_A", keys: []string{"shared"}, body: body})
		for _, r := range []reply{a, b, o} {
			assert.Equal(t, http.StatusCreated, r.status)
			assert.Empty(t, r.header.Values(HeaderReplayed))
		}
		assert.Equal(t, int64(3), cr.calls.Load(), "two callers and two routes never share a key")

		// Each replays its own response.
		assert.Equal(t, a.body, mustDo(t, srv, call{keyID: "key_A", keys: []string{"shared"}, body: body}).body)
		assert.Equal(t, b.body, mustDo(t, srv, call{keyID: "key_B", keys: []string{"shared"}, body: body}).body)
		assert.Equal(t, o.body, mustDo(t, srv, call{path: otherPath, keyID: "key_A", keys: []string{"shared"}, body: body}).body)
		assert.Equal(t, int64(3), cr.calls.Load())
	})
}

func TestMalformedKey(t *testing.T) {
	const validation = "The request failed validation."
	issue := func(msg string) string {
		return `{"issues":[{"path":"header:Idempotency-Key","message":"` + msg + `"}]}`
	}
	cr := &creator{}
	srv, _ := newServer(t, IdempotencyConfig{}, cr.handle)
	tests := []struct {
		name string
		keys []string
		msg  string
	}{
		{"empty", []string{""}, msgEmpty},
		{"256 chars", []string{strings.Repeat("k", 256)}, msgTooLong},
		{"tab", []string{"ab\tcd"}, msgCharset},
		{"non-ASCII", []string{"clé-secret"}, msgCharset},
		{"sent twice", []string{"one", "two"}, msgRepeated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustDo(t, srv, call{keyID: "key_A", keys: tt.keys, body: `{}`})
			assert.Equal(t, http.StatusUnprocessableEntity, r.status)
			assert.Equal(t, envelope(r, "VALIDATION", validation, issue(tt.msg)), r.body)
			for _, k := range tt.keys {
				if k != "" {
					assert.NotContains(t, r.body, k, "the bad value is never echoed")
				}
			}
		})
	}
	assert.Zero(t, cr.calls.Load())

	// Control characters other than tab never get past net/http's parser,
	// so they are checked through echo directly.
	e, _ := newEcho(t, IdempotencyConfig{}, cr.handle)
	for _, k := range []string{"a\x00b", "a\nb", "a\rb", "a\x7fb", "a\x1bb"} {
		req := httpRequest(http.MethodPost, contentPath, `{}`)
		req.Header.Set(keyIDHeader, "key_A")
		req.Header[HeaderKey] = []string{k}
		rec := serve(e, req)
		assert.Equal(t, http.StatusUnprocessableEntity, rec.status, "%q", k)
		assert.Equal(t, envelope(rec, "VALIDATION", validation, issue(msgCharset)), rec.body)
	}
	assert.Zero(t, cr.calls.Load())

	// Routes or methods that are not opted in ignore the header entirely.
	r := mustDo(t, srv, call{method: http.MethodPut, keyID: "key_A", keys: []string{"clé"}, body: `{}`})
	assert.Equal(t, http.StatusCreated, r.status)
	assert.Equal(t, int64(1), cr.calls.Load())
}

func TestMissingKey(t *testing.T) {
	t.Run("allowed by default", func(t *testing.T) {
		cr := &creator{}
		srv, _ := newServer(t, IdempotencyConfig{}, cr.handle)
		for range 2 {
			r := mustDo(t, srv, call{keyID: "key_A", body: `{}`})
			assert.Equal(t, http.StatusCreated, r.status)
			assert.Empty(t, r.header.Values(HeaderReplayed))
		}
		assert.Equal(t, int64(2), cr.calls.Load(), "without a key every request runs")
	})
	t.Run("required", func(t *testing.T) {
		cr := &creator{}
		srv, _ := newServer(t, IdempotencyConfig{Required: true}, cr.handle)
		r := mustDo(t, srv, call{keyID: "key_A", body: `{}`})
		assert.Equal(t, http.StatusUnprocessableEntity, r.status)
		assert.Equal(t, envelope(r, "VALIDATION", "The request failed validation.",
			`{"issues":[{"path":"header:Idempotency-Key","message":"Idempotency-Key is required on this route."}]}`), r.body)
		r = mustDo(t, srv, call{method: http.MethodPut, keyID: "key_A", body: `{}`})
		assert.Equal(t, http.StatusCreated, r.status, "PUT is not opted in")
		assert.Equal(t, int64(1), cr.calls.Load())
	})
}

func TestBodyCap(t *testing.T) {
	const limit = 16
	cr := &creator{}
	srv, _ := newServer(t, IdempotencyConfig{MaxBodyBytes: limit}, cr.handle)
	tooLarge := func(t *testing.T, r reply) {
		t.Helper()
		assert.Equal(t, http.StatusRequestEntityTooLarge, r.status)
		assert.Equal(t, envelope(r, "PAYLOAD_TOO_LARGE", "The request body exceeds the size limit.", `{"maxBytes":16}`), r.body)
	}

	tooLarge(t, mustDo(t, srv, call{keyID: "key_A", keys: []string{"big"}, body: strings.Repeat("x", limit+1)}))

	// Without Content-Length (chunked), the cap is found while reading.
	req, err := http.NewRequest(http.MethodPost, srv.URL+contentPath, struct{ *strings.Reader }{strings.NewReader(strings.Repeat("y", 4*limit))})
	require.NoError(t, err)
	req.Header.Set(keyIDHeader, "key_A")
	req.ContentLength = -1 // unknown: sent chunked
	req.Header.Set(HeaderKey, "big-chunked")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	tooLarge(t, readReply(t, resp))
	assert.Zero(t, cr.calls.Load())

	// A body at the cap is hashed and handed to the handler intact.
	body := strings.Repeat("z", limit)
	r := mustDo(t, srv, call{keyID: "key_A", keys: []string{"fits"}, body: body})
	assert.Equal(t, http.StatusCreated, r.status)
	var got struct{ Body string }
	require.NoError(t, json.Unmarshal([]byte(r.body), &got))
	assert.Equal(t, body, got.Body)

	// Requests without a key are not read by this middleware at all.
	r = mustDo(t, srv, call{keyID: "key_A", body: strings.Repeat("w", 10*limit)})
	assert.Equal(t, http.StatusCreated, r.status)
}

// TestResponseCap: a 2xx response over MaxResponseBytes reaches the client
// whole but is not stored: the key is released (the retry runs again) and a
// warning carries the request ID. A response at the cap is stored.
func TestResponseCap(t *testing.T) {
	const limit = 64
	forEachStore(t, func(t *testing.T, newStore func() Store) {
		var runs atomic.Int64
		// The response body is as long as the request body, written in
		// two parts.
		h := func(c echo.Context) error {
			runs.Add(1)
			b, err := io.ReadAll(c.Request().Body)
			if err != nil {
				return err
			}
			out := bytes.Repeat([]byte("r"), len(b))
			res := c.Response()
			res.Header().Set(echo.HeaderContentType, echo.MIMETextPlain)
			res.WriteHeader(http.StatusCreated)
			if _, err := res.Write(out[:len(out)/2]); err != nil {
				return err
			}
			_, err = res.Write(out[len(out)/2:])
			return err
		}
		srv, logs := newServer(t, IdempotencyConfig{Store: newStore(), MaxResponseBytes: limit}, h)

		big := call{keyID: "key_A", keys: []string{"big-response"}, body: strings.Repeat("x", limit+1)}
		var ids []string
		for i := range 2 {
			r := mustDo(t, srv, big)
			assert.Equal(t, http.StatusCreated, r.status)
			assert.Equal(t, strings.Repeat("r", limit+1), r.body, "passed through whole")
			assert.Empty(t, r.header.Values(HeaderReplayed))
			assert.Equal(t, int64(i+1), runs.Load(), "not stored: the key was released and the retry ran")
			ids = append(ids, r.header.Get("X-Request-Id"))
		}
		warnings := logs.FilterMessage("idempotency response not stored: larger than MaxResponseBytes").AllUntimed()
		require.Len(t, warnings, 2)
		for i, w := range warnings {
			assert.Equal(t, zapcore.WarnLevel, w.Level)
			f := w.ContextMap()
			assert.Equal(t, ids[i], f["requestId"])
			assert.Equal(t, contentRoute, f["route"])
			assert.Equal(t, int64(limit), f["maxResponseBytes"])
		}
		assert.Empty(t, storeFailures(logs))

		fits := call{keyID: "key_A", keys: []string{"fits"}, body: strings.Repeat("x", limit)}
		first := mustDo(t, srv, fits)
		again := mustDo(t, srv, fits)
		assert.Equal(t, strings.Repeat("r", limit), again.body)
		assert.Equal(t, "true", again.header.Get(HeaderReplayed))
		assert.Equal(t, first.body, again.body)
		assert.Equal(t, int64(3), runs.Load())
	})
}
