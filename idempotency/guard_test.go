package idempotency_test

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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/idempotency"
)

func TestReplay(t *testing.T) {
	forEachStore(t, func(t *testing.T, env storeEnv) {
		cr := &creator{}
		srv, _ := newServer(t, idempotency.Config{Store: env.newStore()}, cr.handle)
		req := call{keyID: "key_A", keys: []string{"order-1"}, body: `{"hook":"a"}`}

		first := mustDo(t, srv, req)
		require.Equal(t, http.StatusCreated, first.status, first.body)
		assert.Empty(t, first.header.Values(idempotency.HeaderReplayed))
		assert.Equal(t, "/v1/content/cnt_1", first.header.Get("Location"))
		assert.Equal(t, "per-run", first.header.Get("X-Not-Replayed"))

		second := mustDo(t, srv, req)
		assert.Equal(t, int64(1), cr.calls.Load(), "the handler runs once")
		assert.Equal(t, first.status, second.status)
		assert.Equal(t, first.body, second.body)
		assert.JSONEq(t, `{"id":"cnt_1","project":"prj_1","body":"{\"hook\":\"a\"}"}`, second.body)
		assert.Equal(t, []string{"true"}, second.header.Values(idempotency.HeaderReplayed))
		assert.Equal(t, first.header.Values("Location"), second.header.Values("Location"))
		assert.Equal(t, first.header.Values("Content-Type"), second.header.Values("Content-Type"))
		assert.Empty(t, second.header.Values("X-Not-Replayed"), "only ReplayHeaders are replayed")
		assert.NotEqual(t, first.header.Get("X-Request-Id"), second.header.Get("X-Request-Id"),
			"a replay is a new request with its own request ID")

		// PATCH with the same key is another scope: it runs.
		patch := mustDo(t, srv, call{method: http.MethodPatch, keyID: "key_A", keys: []string{"order-1"}, body: `{"hook":"a"}`})
		assert.Equal(t, http.StatusCreated, patch.status)
		assert.Empty(t, patch.header.Values(idempotency.HeaderReplayed))
		assert.Equal(t, int64(2), cr.calls.Load())
	})
}

// TestReplayBytes: a replay is byte for byte the stored response (status,
// replay headers, body), whatever the handler wrote it with, and a handler
// that writes nothing and returns nil is a stored 200 with an empty body.
func TestReplayBytes(t *testing.T) {
	body := []byte("\x00\x01 binary \xff\xfe\r\n" + strings.Repeat("z", 3000))
	tests := []struct {
		name   string
		h      handler
		status int
		body   []byte
	}{
		{"written in parts", func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.WriteHeader(http.StatusAccepted)
			for b := body; len(b) > 0; b = b[min(len(b), 1000):] {
				if _, err := w.Write(b[:min(len(b), 1000)]); err != nil {
					return err
				}
			}
			return nil
		}, http.StatusAccepted, body},
		{"write without WriteHeader", func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "application/octet-stream")
			_, err := w.Write(body)
			return err
		}, http.StatusOK, body},
		{"early hints then 201", func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Set("Content-Type", "application/octet-stream")
			w.WriteHeader(http.StatusCreated)
			_, err := w.Write(body)
			return err
		}, http.StatusCreated, body},
		{"nothing written", func(w http.ResponseWriter, r *http.Request) error { return nil },
			http.StatusOK, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, env storeEnv) {
				var runs atomic.Int64
				h := func(w http.ResponseWriter, r *http.Request) error {
					runs.Add(1)
					return tt.h(w, r)
				}
				srv, _ := newServer(t, idempotency.Config{Store: env.newStore()}, h)
				req := call{keyID: "key_A", keys: []string{"bytes"}, body: `{}`}
				first := mustDo(t, srv, req)
				second := mustDo(t, srv, req)
				assert.Equal(t, int64(1), runs.Load())
				for _, r := range []reply{first, second} {
					assert.Equal(t, tt.status, r.status)
					assert.Equal(t, string(tt.body), r.body)
				}
				assert.Equal(t, first.header.Values("Content-Type"), second.header.Values("Content-Type"))
				assert.Equal(t, "true", second.header.Get(idempotency.HeaderReplayed))
				assert.Empty(t, second.header.Values("Link"), "an informational header's fields are not replayed")
			})
		})
	}
}

func TestIdempotencyConflict(t *testing.T) {
	forEachStore(t, func(t *testing.T, env storeEnv) {
		cr := &creator{}
		srv, _ := newServer(t, idempotency.Config{Store: env.newStore()}, cr.handle)
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
		assert.Equal(t, "true", again.header.Get(idempotency.HeaderReplayed))
		assert.Equal(t, int64(1), cr.calls.Load())
	})
}

// TestConflictAcrossResources: the same key and body sent to another
// resource of the same route template (another projectId), or with another
// query string, is a different request: IDEMPOTENCY_CONFLICT with both
// hashes, never the first resource's response.
func TestConflictAcrossResources(t *testing.T) {
	forEachStore(t, func(t *testing.T, env storeEnv) {
		cr := &creator{}
		srv, _ := newServer(t, idempotency.Config{Store: env.newStore()}, cr.handle)
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
		assert.Empty(t, r.header.Values(idempotency.HeaderReplayed))
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
		assert.Equal(t, "true", again.header.Get(idempotency.HeaderReplayed))
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
		fail   handler
		status int
		body   func(r reply) string // nil to skip the exact body check
	}{
		{"INTERNAL", func(http.ResponseWriter, *http.Request) error {
			return apierror.Internal(errors.New("db down at 10.0.0.7"))
		}, 500, func(r reply) string {
			return envelope(r, "INTERNAL", apierror.InternalMessage, "")
		}},
		{"WORKFLOW_START_FAILED", func(http.ResponseWriter, *http.Request) error {
			return apierror.WorkflowStartFailed(errors.New("temporal unavailable"))
		}, 500, func(r reply) string {
			return envelope(r, "WORKFLOW_START_FAILED",
				"The request was accepted, but the job could not start. Retry with the same Idempotency-Key.", "")
		}},
		{"BILLING_EXHAUSTED", func(http.ResponseWriter, *http.Request) error {
			return apierror.BillingExhausted(apierror.BillingInsufficient)
		}, 402, nil},
		{"written 409", func(w http.ResponseWriter, _ *http.Request) error {
			return writeJSON(w, http.StatusConflict, map[string]string{"state": "busy"})
		}, 409, func(reply) string { return "{\"state\":\"busy\"}\n" }},
		{"written 2xx then error", func(w http.ResponseWriter, _ *http.Request) error {
			_ = writeJSON(w, http.StatusAccepted, map[string]string{"state": "half"})
			return errors.New("failed after writing")
		}, 202, func(reply) string { return "{\"state\":\"half\"}\n" }},
		{"panic", func(http.ResponseWriter, *http.Request) error { panic("boom") }, 500, func(r reply) string {
			return envelope(r, "INTERNAL", apierror.InternalMessage, "")
		}},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, env storeEnv) {
				cr := &creator{}
				var failed atomic.Bool
				h := func(w http.ResponseWriter, r *http.Request) error {
					if failed.CompareAndSwap(false, true) {
						return f.fail(w, r)
					}
					return cr.handle(w, r)
				}
				srv, _ := newServer(t, idempotency.Config{Store: env.newStore()}, h)
				req := call{keyID: "key_A", keys: []string{"retry-me"}, body: `{"n":1}`}

				r := mustDo(t, srv, req)
				assert.Equal(t, f.status, r.status)
				if f.body != nil {
					assert.Equal(t, f.body(r), r.body)
				}
				assert.NotContains(t, r.body, "10.0.0.7")

				retry := mustDo(t, srv, req)
				assert.Equal(t, http.StatusCreated, retry.status, retry.body)
				assert.Empty(t, retry.header.Values(idempotency.HeaderReplayed), "the retry ran")
				assert.Equal(t, int64(1), cr.calls.Load())

				replayed := mustDo(t, srv, req)
				assert.Equal(t, retry.body, replayed.body)
				assert.Equal(t, "true", replayed.header.Get(idempotency.HeaderReplayed))
				assert.Equal(t, int64(1), cr.calls.Load())
			})
		})
	}
}

// TestServeReturnsNextError: Serve hands the handler's own error back
// unchanged (the adapter renders it), and never renders an error itself.
func TestServeReturnsNextError(t *testing.T) {
	g := newGuard(t, idempotency.Config{KeyFunc: func(*http.Request) string { return "k" }})
	sentinel := errors.New("handler failed")
	for _, keys := range [][]string{nil, {"with-key"}} {
		req := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(`{}`))
		for _, k := range keys {
			req.Header.Add(idempotency.HeaderKey, k)
		}
		rec := httptest.NewRecorder()
		err := g.Serve(rec, req, "/x", nil, func(http.ResponseWriter, *http.Request) error { return sentinel })
		assert.Same(t, sentinel, err, "keys %q", keys)
		assert.Zero(t, rec.Body.Len(), "nothing rendered")
		assert.False(t, rec.Flushed)
	}
	req := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(`{}`))
	req.Header.Set(idempotency.HeaderKey, "")
	rec := httptest.NewRecorder()
	err := g.Serve(rec, req, "/x", nil, func(http.ResponseWriter, *http.Request) error {
		t.Fatal("next ran for an invalid key")
		return nil
	})
	assert.Equal(t, apierror.CodeValidation, apierror.CodeOf(err))
	assert.Zero(t, rec.Body.Len(), "the error is returned, not rendered")
	assert.Empty(t, rec.Header(), "no header either")
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
// request with the same key, on either instance, is answered CONFLICT
// idempotency_key_in_use; once it is done they replay.
func TestConcurrentSameKeyGated(t *testing.T) {
	forEachStore(t, func(t *testing.T, env storeEnv) {
		const n = 10
		cr := &creator{}
		gate := make(chan struct{})
		h := func(w http.ResponseWriter, r *http.Request) error {
			<-gate
			return cr.handle(w, r)
		}
		srvA, _ := newServer(t, idempotency.Config{Store: env.newStore()}, h)
		srvB, _ := newServer(t, idempotency.Config{Store: env.newStore()}, h)
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
			assert.Equal(t, "true", r.header.Get(idempotency.HeaderReplayed))
		}
		assert.Equal(t, int64(1), cr.calls.Load())
	})
}

// TestInProgressConflict: while the first request holds the lease, the
// same key with another fingerprint (another body, another resource) is
// answered IDEMPOTENCY_CONFLICT with both hashes straight away, on either
// instance; the same fingerprint gets CONFLICT idempotency_key_in_use.
func TestInProgressConflict(t *testing.T) {
	forEachStore(t, func(t *testing.T, env storeEnv) {
		cr := &creator{}
		entered := make(chan struct{})
		gate := make(chan struct{})
		var once sync.Once
		h := func(w http.ResponseWriter, r *http.Request) error {
			once.Do(func() { close(entered) })
			<-gate
			return cr.handle(w, r)
		}
		srvA, _ := newServer(t, idempotency.Config{Store: env.newStore()}, h)
		srvB, _ := newServer(t, idempotency.Config{Store: env.newStore()}, h)
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
		assert.Equal(t, "true", mustDo(t, srvB, req).header.Get(idempotency.HeaderReplayed))
		assert.Equal(t, int64(1), cr.calls.Load())
	})
}

// TestConcurrentSameKeyRace: 20 requests race with the same key across two
// instances; the handler runs exactly once, and every other request gets
// either the replay or CONFLICT idempotency_key_in_use. The handler holds
// the lease until at least one racer was refused, so the race always
// overlaps.
func TestConcurrentSameKeyRace(t *testing.T) {
	forEachStore(t, func(t *testing.T, env storeEnv) {
		const n = 20
		cr := &creator{}
		refused := make(chan struct{})
		var refusedOnce sync.Once
		h := func(w http.ResponseWriter, r *http.Request) error {
			select {
			case <-refused:
			case <-r.Context().Done():
				return r.Context().Err()
			}
			return cr.handle(w, r)
		}
		srvA, _ := newServer(t, idempotency.Config{Store: env.newStore()}, h)
		srvB, _ := newServer(t, idempotency.Config{Store: env.newStore()}, h)
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
				if errs[i] == nil && results[i].status == http.StatusConflict {
					refusedOnce.Do(func() { close(refused) })
				}
			}()
		}
		close(start)
		wg.Wait()

		assert.Equal(t, int64(1), cr.calls.Load(), "the handler ran exactly once")
		var original, replays, refusals int
		var body string
		for i, r := range results {
			require.NoError(t, errs[i])
			switch {
			case r.status == http.StatusCreated && r.header.Get(idempotency.HeaderReplayed) == "":
				original++
				body = r.body
			case r.status == http.StatusCreated:
				replays++
			default:
				inUse(t, r)
				refusals++
			}
		}
		assert.Equal(t, 1, original)
		assert.GreaterOrEqual(t, refusals, 1)
		assert.Equal(t, n, original+replays+refusals)
		for _, r := range results {
			if r.status == http.StatusCreated {
				assert.Equal(t, body, r.body, "replays are identical to the original")
			}
		}
		t.Logf("1 original, %d replays, %d refused", replays, refusals)
	})
}

// TestLeaseExpiryAfterCrash: a lease taken by a server that crashed (never
// released) refuses the key until LeaseTTL passes, then the key is free.
func TestLeaseExpiryAfterCrash(t *testing.T) {
	forEachStore(t, func(t *testing.T, env storeEnv) {
		const lease = 300 * time.Millisecond
		store := env.newStore()
		cr := &creator{}
		srv, _ := newServer(t, idempotency.Config{Store: store, LeaseTTL: lease}, cr.handle)

		skey := idempotency.StoreKey("key_A", http.MethodPost, contentRoute, "crash-key")
		crashedAt := time.Now()
		lk, err := store.Acquire(context.Background(), skey, "crashed-server-token",
			recompute(http.MethodPost, contentRoute, []byte(`{}`), "projectId", "prj_1"), lease)
		require.NoError(t, err)
		require.Equal(t, idempotency.Acquired, lk.State)
		if env.client != nil {
			pttl, err := env.client.PTTL(context.Background(), env.prefix+skey).Result()
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

// countingStore counts the Renew calls of the store it wraps.
type countingStore struct {
	idempotency.Store
	renews atomic.Int64
}

func (s *countingStore) Renew(ctx context.Context, key, token string, leaseTTL time.Duration) error {
	err := s.Store.Renew(ctx, key, token, leaseTTL)
	if err == nil {
		s.renews.Add(1)
	}
	return err
}

// TestLeaseRenewedWhileHandlerRuns: a handler slower than LeaseTTL keeps its
// lease, so the key stays refused rather than running twice. Real timers
// and a real store: the test waits until enough renewals happened for the
// handler to have outlived its lease twice over.
func TestLeaseRenewedWhileHandlerRuns(t *testing.T) {
	forEachStore(t, func(t *testing.T, env storeEnv) {
		const lease = 120 * time.Millisecond
		cr := &creator{}
		entered := make(chan struct{})
		gate := make(chan struct{})
		h := func(w http.ResponseWriter, r *http.Request) error {
			close(entered)
			<-gate
			return cr.handle(w, r)
		}
		store := &countingStore{Store: env.newStore()}
		srv, _ := newServer(t, idempotency.Config{Store: store, LeaseTTL: lease}, h)
		req := call{keyID: "key_A", keys: []string{"slow"}, body: `{}`}

		first := make(chan reply, 1)
		go func() {
			r, _ := do(srv, req)
			first <- r
		}()
		<-entered
		start := time.Now()
		// A renewal every lease/3: six of them span two lease lifetimes.
		for want := int64(2); want <= 6; want += 2 {
			require.Eventually(t, func() bool { return store.renews.Load() >= want },
				10*time.Second, 5*time.Millisecond)
			inUse(t, mustDo(t, srv, req))
		}
		assert.GreaterOrEqual(t, time.Since(start), 2*lease-lease/3)
		close(gate)
		assert.Equal(t, http.StatusCreated, (<-first).status)
		assert.Equal(t, "true", mustDo(t, srv, req).header.Get(idempotency.HeaderReplayed))
		assert.Equal(t, int64(1), cr.calls.Load())
	})
}

// fakeTimers is an injected renewal scheduler: the test fires the renewal
// itself.
type fakeTimers struct {
	mu     sync.Mutex
	armed  bool
	every  time.Duration
	fn     func()
	resets int
}

func (f *fakeTimers) afterFunc(d time.Duration, fn func()) idempotency.Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed, f.every, f.fn = true, d, fn
	return (*fakeTimer)(f)
}

// fire runs the armed renewal on the calling goroutine, as the timer's
// goroutine would. It reports false when none is armed.
func (f *fakeTimers) fire() bool {
	f.mu.Lock()
	fn, armed := f.fn, f.armed
	f.armed = false
	f.mu.Unlock()
	if !armed {
		return false
	}
	fn()
	return true
}

func (f *fakeTimers) state() (armed bool, every time.Duration, resets int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.armed, f.every, f.resets
}

type fakeTimer fakeTimers

func (t *fakeTimer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.armed
	t.armed = false
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.armed
	t.armed, t.every = true, d
	t.resets++
	return was
}

// fakeClock is a settable time source, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestLeaseRenewalInjected drives the renewals with an injected timer: one
// is scheduled every LeaseTTL/3 while the handler runs, each extends the
// lease by LeaseTTL (memory: on an injected clock; Redis: the key's PTTL is
// restored after the test shortens it), and none is left once the request
// is done.
func TestLeaseRenewalInjected(t *testing.T) {
	forEachStore(t, func(t *testing.T, env storeEnv) {
		const lease = 30 * time.Second
		store := env.newStore()
		clock := &fakeClock{t: time.Date(2026, 4, 18, 14, 0, 0, 0, time.UTC)}
		if m, ok := store.(*idempotency.MemoryStore); ok {
			idempotency.SetMemoryClock(m, clock.now)
		}
		cr := &creator{}
		entered := make(chan struct{})
		gate := make(chan struct{})
		h := func(w http.ResponseWriter, r *http.Request) error {
			close(entered)
			<-gate
			return cr.handle(w, r)
		}
		g := newGuard(t, idempotency.Config{Store: store, LeaseTTL: lease})
		timers := &fakeTimers{}
		idempotency.SetAfterFunc(g, timers.afterFunc)
		srv, _ := serveGuard(t, g, h)
		req := call{keyID: "key_A", keys: []string{"slow"}, body: `{}`}
		rkey := env.prefix + idempotency.StoreKey("key_A", http.MethodPost, contentRoute, "slow")

		first := make(chan reply, 1)
		go func() {
			r, _ := do(srv, req)
			first <- r
		}()
		<-entered
		armed, every, _ := timers.state()
		require.True(t, armed, "a renewal is scheduled before the handler runs")
		assert.Equal(t, lease/3, every)

		for i := range 4 {
			// Time passes: four renewal periods take the original lease
			// past its TTL.
			clock.advance(every)
			if env.client != nil {
				require.NoError(t, env.client.PExpire(context.Background(), rkey, 5*time.Second).Err())
			}
			require.True(t, timers.fire())
			armed, _, resets := timers.state()
			assert.True(t, armed, "the next renewal is scheduled")
			assert.Equal(t, i+1, resets)
			if env.client != nil {
				pttl, err := env.client.PTTL(context.Background(), rkey).Result()
				require.NoError(t, err)
				assert.Greater(t, pttl, 20*time.Second, "the renewal extended the lease to LeaseTTL")
			}
			inUse(t, mustDo(t, srv, req))
		}
		close(gate)
		assert.Equal(t, http.StatusCreated, (<-first).status)
		armed, _, _ = timers.state()
		assert.False(t, armed, "no renewal outlives the request")
		assert.False(t, timers.fire())
		assert.Equal(t, "true", mustDo(t, srv, req).header.Get(idempotency.HeaderReplayed))
		assert.Equal(t, int64(1), cr.calls.Load())
	})
}

// TestLeaseLostStopsRenewals: once a renewal finds the lease taken over, no
// further renewal is scheduled, the loss is logged as a warning, and the
// response is not stored under another owner's lease.
func TestLeaseLostStopsRenewals(t *testing.T) {
	store := newMemory(t, 0)
	clock := &fakeClock{t: time.Date(2026, 4, 18, 14, 0, 0, 0, time.UTC)}
	idempotency.SetMemoryClock(store, clock.now)
	cr := &creator{}
	entered := make(chan struct{})
	gate := make(chan struct{})
	h := func(w http.ResponseWriter, r *http.Request) error {
		close(entered)
		<-gate
		return cr.handle(w, r)
	}
	const lease = 3 * time.Second
	g := newGuard(t, idempotency.Config{Store: store, LeaseTTL: lease})
	timers := &fakeTimers{}
	idempotency.SetAfterFunc(g, timers.afterFunc)
	srv, logs := serveGuard(t, g, h)
	req := call{keyID: "key_A", keys: []string{"lost"}, body: `{}`}

	first := make(chan reply, 1)
	go func() {
		r, _ := do(srv, req)
		first <- r
	}()
	<-entered
	// The renewal came too late: the lease expired and another owner took it.
	clock.advance(lease)
	skey := idempotency.StoreKey("key_A", http.MethodPost, contentRoute, "lost")
	lk, err := store.Acquire(context.Background(), skey, "other-owner", "sha256:other", time.Hour)
	require.NoError(t, err)
	require.Equal(t, idempotency.Acquired, lk.State)
	require.True(t, timers.fire())
	armed, _, resets := timers.state()
	assert.False(t, armed, "no renewal after the lease was lost")
	assert.Zero(t, resets)

	close(gate)
	r := <-first
	assert.Equal(t, http.StatusCreated, r.status, "the work was done and is answered")
	lk, err = store.Acquire(context.Background(), skey, "third", "", time.Hour)
	require.NoError(t, err)
	assert.Equal(t, idempotency.Lookup{State: idempotency.InProgress, Fingerprint: "sha256:other"}, lk,
		"the other owner's lease is untouched")

	failures := logs.storeFailures(t)
	require.Len(t, failures, 2)
	for i, op := range []string{"renew", "complete"} {
		assert.Equal(t, op, failures[i]["op"])
		assert.Equal(t, "WARN", failures[i]["level"], "a lost lease is a warning")
		assert.Equal(t, r.header.Get("X-Request-Id"), failures[i]["requestId"])
		assert.Contains(t, failures[i]["error"], "lease lost")
	}
}

func TestScopeIsolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, env storeEnv) {
		cr := &creator{}
		srv, _ := newServer(t, idempotency.Config{Store: env.newStore()}, cr.handle)
		body := `{"hook":"a"}`
		a := mustDo(t, srv, call{keyID: "key_A", keys: []string{"shared"}, body: body})
		b := mustDo(t, srv, call{keyID: "key_B", keys: []string{"shared"}, body: body})
		o := mustDo(t, srv, call{path: otherPath, keyID: "key_A", keys: []string{"shared"}, body: body})
		for _, r := range []reply{a, b, o} {
			assert.Equal(t, http.StatusCreated, r.status)
			assert.Empty(t, r.header.Values(idempotency.HeaderReplayed))
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
	srv, _ := newServer(t, idempotency.Config{}, cr.handle)
	tests := []struct {
		name string
		keys []string
		msg  string
	}{
		{"empty", []string{""}, idempotency.MsgEmpty},
		{"256 chars", []string{strings.Repeat("k", 256)}, idempotency.MsgTooLong},
		{"tab", []string{"ab\tcd"}, idempotency.MsgCharset},
		{"non-ASCII", []string{"clé-secret"}, idempotency.MsgCharset},
		{"sent twice", []string{"one", "two"}, idempotency.MsgRepeated},
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
	// so they are checked through the handler directly.
	hdl := newHandler(t, newGuard(t, idempotency.Config{}), cr.handle, (&testLogs{}).logger())
	for _, k := range []string{"a\x00b", "a\nb", "a\rb", "a\x7fb", "a\x1bb"} {
		req := httptest.NewRequest(http.MethodPost, contentPath, strings.NewReader(`{}`))
		req.Header.Set(keyIDHeader, "key_A")
		req.Header[idempotency.HeaderKey] = []string{k}
		rec := httptest.NewRecorder()
		hdl.ServeHTTP(rec, req)
		r := reply{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
		assert.Equal(t, http.StatusUnprocessableEntity, r.status, "%q", k)
		assert.Equal(t, envelope(r, "VALIDATION", validation, issue(idempotency.MsgCharset)), r.body)
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
		srv, _ := newServer(t, idempotency.Config{}, cr.handle)
		for range 2 {
			r := mustDo(t, srv, call{keyID: "key_A", body: `{}`})
			assert.Equal(t, http.StatusCreated, r.status)
			assert.Empty(t, r.header.Values(idempotency.HeaderReplayed))
		}
		assert.Equal(t, int64(2), cr.calls.Load(), "without a key every request runs")
	})
	t.Run("required", func(t *testing.T) {
		cr := &creator{}
		srv, _ := newServer(t, idempotency.Config{Required: true}, cr.handle)
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
	srv, _ := newServer(t, idempotency.Config{MaxBodyBytes: limit}, cr.handle)
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
	req.Header.Set(idempotency.HeaderKey, "big-chunked")
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

	// Requests without a key are not read by the Guard at all.
	r = mustDo(t, srv, call{keyID: "key_A", body: strings.Repeat("w", 10*limit)})
	assert.Equal(t, http.StatusCreated, r.status)
}

// TestBodyCapFromMaxBytesReader: a service-wide http.MaxBytesReader smaller
// than MaxBodyBytes is reported with its own limit.
func TestBodyCapFromMaxBytesReader(t *testing.T) {
	g := newGuard(t, idempotency.Config{KeyFunc: func(*http.Request) string { return "k" }})
	req := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(strings.Repeat("b", 100)))
	req.ContentLength = -1
	req.Header.Set(idempotency.HeaderKey, "k1")
	rec := httptest.NewRecorder()
	req.Body = http.MaxBytesReader(rec, req.Body, 10)
	err := g.Serve(rec, req, "/x", nil, func(http.ResponseWriter, *http.Request) error {
		t.Fatal("next ran for an oversized body")
		return nil
	})
	d, ok := apierror.DetailsAs[apierror.PayloadTooLargeDetails](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, int64(10), d.MaxBytes)
}

// TestResponseCap: a 2xx response over MaxResponseBytes reaches the client
// whole but is not stored: the key is released (the retry runs again) and a
// warning carries the request ID. A response at the cap is stored.
func TestResponseCap(t *testing.T) {
	const limit = 64
	forEachStore(t, func(t *testing.T, env storeEnv) {
		var runs atomic.Int64
		// The response body is as long as the request body, written in
		// two parts.
		h := func(w http.ResponseWriter, r *http.Request) error {
			runs.Add(1)
			b, err := io.ReadAll(r.Body)
			if err != nil {
				return err
			}
			out := bytes.Repeat([]byte("r"), len(b))
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			w.WriteHeader(http.StatusCreated)
			if _, err := w.Write(out[:len(out)/2]); err != nil {
				return err
			}
			_, err = w.Write(out[len(out)/2:])
			return err
		}
		srv, logs := newServer(t, idempotency.Config{Store: env.newStore(), MaxResponseBytes: limit}, h)

		big := call{keyID: "key_A", keys: []string{"big-response"}, body: strings.Repeat("x", limit+1)}
		var ids []string
		for i := range 2 {
			r := mustDo(t, srv, big)
			assert.Equal(t, http.StatusCreated, r.status)
			assert.Equal(t, strings.Repeat("r", limit+1), r.body, "passed through whole")
			assert.Empty(t, r.header.Values(idempotency.HeaderReplayed))
			assert.Equal(t, int64(i+1), runs.Load(), "not stored: the key was released and the retry ran")
			ids = append(ids, r.header.Get("X-Request-Id"))
		}
		warnings := logs.entries(t, "idempotency response not stored: larger than MaxResponseBytes")
		require.Len(t, warnings, 2)
		for i, w := range warnings {
			assert.Equal(t, "WARN", w["level"])
			assert.Equal(t, ids[i], w["requestId"])
			assert.Equal(t, contentRoute, w["route"])
			assert.Equal(t, "POST", w["method"])
			assert.Equal(t, float64(201), w["status"])
			assert.Equal(t, float64(limit), w["maxResponseBytes"])
		}
		assert.Empty(t, logs.storeFailures(t))

		fits := call{keyID: "key_A", keys: []string{"fits"}, body: strings.Repeat("x", limit)}
		first := mustDo(t, srv, fits)
		again := mustDo(t, srv, fits)
		assert.Equal(t, strings.Repeat("r", limit), again.body)
		assert.Equal(t, "true", again.header.Get(idempotency.HeaderReplayed))
		assert.Equal(t, first.body, again.body)
		assert.Equal(t, int64(3), runs.Load())
	})
}

// TestCaptureFlush: a handler can flush through the capturing writer
// (http.ResponseController reaches the server's writer), and the flushed
// response is still stored.
func TestCaptureFlush(t *testing.T) {
	var runs atomic.Int64
	h := func(w http.ResponseWriter, r *http.Request) error {
		runs.Add(1)
		w.WriteHeader(http.StatusAccepted)
		if _, err := io.WriteString(w, "part1,"); err != nil {
			return err
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			return err
		}
		w.(http.Flusher).Flush()
		_, err := io.WriteString(w, "part2")
		return err
	}
	srv, _ := newServer(t, idempotency.Config{}, h)
	req := call{keyID: "key_A", keys: []string{"flush"}, body: `{}`}
	first := mustDo(t, srv, req)
	assert.Equal(t, http.StatusAccepted, first.status)
	assert.Equal(t, "part1,part2", first.body)
	again := mustDo(t, srv, req)
	assert.Equal(t, "part1,part2", again.body)
	assert.Equal(t, "true", again.header.Get(idempotency.HeaderReplayed))
	assert.Equal(t, int64(1), runs.Load())
}
