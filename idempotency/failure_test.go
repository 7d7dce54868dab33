package idempotency_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/internal/redistest"
)

// TestRedisDown: with Redis stopped the request is answered INTERNAL (not
// run, since the work could not be protected), the cause is logged with the
// request ID and never sent; once Redis is back the retry with the same key
// runs.
func TestRedisDown(t *testing.T) {
	inst := redistest.Private(t)
	client := redis.NewClient(&redis.Options{Addr: inst.Addr(), MaxRetries: -1, DialTimeout: time.Second, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	cr := &creator{}
	srv, logs := newServer(t, idempotency.Config{Store: newRedis(t, client, inst.Prefix(t))}, cr.handle)
	req := call{keyID: "key_A", keys: []string{"outage"}, body: `{}`}

	inst.Stop(t)
	r := mustDo(t, srv, req)
	assert.Equal(t, http.StatusInternalServerError, r.status)
	assert.Equal(t, envelope(r, "INTERNAL", apierror.InternalMessage, ""), r.body)
	assert.NotContains(t, r.body, inst.Addr())
	assert.Zero(t, cr.calls.Load(), "the handler does not run unprotected")

	entries := logs.storeFailures(t)
	require.Len(t, entries, 1)
	assert.Equal(t, "ERROR", entries[0]["level"])
	assert.Equal(t, r.header.Get("X-Request-Id"), entries[0]["requestId"])
	assert.Equal(t, "acquire", entries[0]["op"])
	assert.Equal(t, "POST", entries[0]["method"])
	assert.Equal(t, contentRoute, entries[0]["route"])
	assert.Contains(t, entries[0]["error"], "idempotency/redisstore: acquire")

	inst.Start(t)
	require.Eventually(t, func() bool {
		r, err := do(srv, req)
		return err == nil && r.status == http.StatusCreated
	}, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, int64(1), cr.calls.Load())
}

// silentListener is a real TCP listener that accepts connections, reads
// whatever is sent and never answers: a hung Redis.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = io.Copy(io.Discard, conn) }()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// TestStoreTimeout: a Redis that accepts connections but never answers (a
// real listener that reads and stays silent) is given StoreTimeout, not the
// client's 30 s read timeout: the request answers INTERNAL, the handler does
// not run, and the failure is logged with the request ID.
func TestStoreTimeout(t *testing.T) {
	addr := silentListener(t)
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, Protocol: 2,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	cr := &creator{}
	srv, logs := newServer(t, idempotency.Config{Store: newRedis(t, client, "t:"), StoreTimeout: 200 * time.Millisecond}, cr.handle)

	start := time.Now()
	r := mustDo(t, srv, call{keyID: "key_A", keys: []string{"hung"}, body: `{}`})
	elapsed := time.Since(start)
	assert.Equal(t, http.StatusInternalServerError, r.status)
	assert.Equal(t, envelope(r, "INTERNAL", apierror.InternalMessage, ""), r.body)
	assert.Less(t, elapsed, 10*time.Second, "answered after the store timeout, not the client's read timeout")
	assert.GreaterOrEqual(t, elapsed, 200*time.Millisecond)
	assert.Zero(t, cr.calls.Load())
	entries := logs.storeFailures(t)
	require.Len(t, entries, 1)
	assert.Equal(t, r.header.Get("X-Request-Id"), entries[0]["requestId"])
	assert.Contains(t, entries[0]["error"], "timeout")
}

// hangingStore is a MemoryStore whose chosen operations block until their
// context ends, as a hung network store would.
type hangingStore struct {
	*idempotency.MemoryStore
	hang map[string]bool
}

func (s *hangingStore) wait(ctx context.Context, op string) error {
	if !s.hang[op] {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s *hangingStore) Acquire(ctx context.Context, key, token, fp string, ttl time.Duration) (idempotency.Lookup, error) {
	if err := s.wait(ctx, "acquire"); err != nil {
		return idempotency.Lookup{}, err
	}
	return s.MemoryStore.Acquire(ctx, key, token, fp, ttl)
}

func (s *hangingStore) Complete(ctx context.Context, key, token string, rec idempotency.Record, ttl time.Duration) error {
	if err := s.wait(ctx, "complete"); err != nil {
		return err
	}
	return s.MemoryStore.Complete(ctx, key, token, rec, ttl)
}

func (s *hangingStore) Release(ctx context.Context, key, token string) error {
	if err := s.wait(ctx, "release"); err != nil {
		return err
	}
	return s.MemoryStore.Release(ctx, key, token)
}

// TestStoreTimeoutEachCall: StoreTimeout bounds every store call, including
// the ones after the handler: a hung Complete or Release delays the
// response by StoreTimeout at most, never hides it, and is logged with the
// request ID.
func TestStoreTimeoutEachCall(t *testing.T) {
	const timeout = 50 * time.Millisecond
	tests := []struct {
		name    string
		hang    []string
		fail    bool // the handler answers 500
		status  int
		logged  []string
		retryOK bool // a retry with the same key runs again
	}{
		{"acquire", []string{"acquire"}, false, 500, []string{"acquire"}, false},
		{"complete", []string{"complete"}, false, 201, []string{"complete"}, true},
		{"complete and release", []string{"complete", "release"}, false, 201, []string{"complete", "release"}, false},
		{"release after a failure", []string{"release"}, true, 500, []string{"release"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &hangingStore{MemoryStore: newMemory(t, 0), hang: map[string]bool{}}
			for _, op := range tt.hang {
				store.hang[op] = true
			}
			cr := &creator{}
			h := func(w http.ResponseWriter, r *http.Request) error {
				if tt.fail {
					return apierror.Internal(errors.New("handler failed"))
				}
				return cr.handle(w, r)
			}
			srv, logs := newServer(t, idempotency.Config{Store: store, StoreTimeout: timeout}, h)
			req := call{keyID: "key_A", keys: []string{"hang"}, body: `{}`}

			start := time.Now()
			r := mustDo(t, srv, req)
			assert.Equal(t, tt.status, r.status, r.body)
			assert.GreaterOrEqual(t, time.Since(start), timeout)
			assert.Less(t, time.Since(start), 10*time.Second)
			entries := logs.storeFailures(t)
			require.Len(t, entries, len(tt.logged))
			for i, op := range tt.logged {
				assert.Equal(t, op, entries[i]["op"])
				assert.Equal(t, "ERROR", entries[i]["level"])
				assert.Equal(t, r.header.Get("X-Request-Id"), entries[i]["requestId"])
				assert.Contains(t, entries[i]["error"], "deadline exceeded")
			}
			if tt.retryOK {
				// Complete never ran and Release freed the key.
				store.hang = map[string]bool{}
				retry := mustDo(t, srv, req)
				assert.Equal(t, http.StatusCreated, retry.status)
				assert.Empty(t, retry.header.Values(idempotency.HeaderReplayed), "the retry ran")
				assert.Equal(t, int64(2), cr.calls.Load())
			}
		})
	}
}

// TestEmptyScope: a request with a key but no authenticated caller is a
// wiring mistake; it answers INTERNAL rather than share one scope between
// all anonymous callers.
func TestEmptyScope(t *testing.T) {
	cr := &creator{}
	srv, logs := newServer(t, idempotency.Config{}, cr.handle)
	r := mustDo(t, srv, call{keys: []string{"anon"}, body: `{}`})
	assert.Equal(t, http.StatusInternalServerError, r.status)
	assert.Equal(t, envelope(r, "INTERNAL", apierror.InternalMessage, ""), r.body)
	entries := logs.storeFailures(t)
	require.Len(t, entries, 1)
	assert.Equal(t, "scope", entries[0]["op"])
	assert.Equal(t, r.header.Get("X-Request-Id"), entries[0]["requestId"])
	assert.Contains(t, entries[0]["error"], "empty caller scope")

	// Without a key the route works unauthenticated; a KeyFunc can scope
	// anonymous callers deliberately.
	assert.Equal(t, http.StatusCreated, mustDo(t, srv, call{body: `{}`}).status)
	srv2, _ := newServer(t, idempotency.Config{KeyFunc: func(*http.Request) string { return "public" }}, cr.handle)
	first := mustDo(t, srv2, call{keys: []string{"anon"}, body: `{}`})
	assert.Equal(t, http.StatusCreated, first.status)
	assert.Equal(t, first.body, mustDo(t, srv2, call{keys: []string{"anon"}, body: `{}`}).body)
	assert.Equal(t, int64(2), cr.calls.Load())
}

// badStore answers Acquire with a state the Guard cannot act on.
type badStore struct {
	*idempotency.MemoryStore
	lk idempotency.Lookup
}

func (s badStore) Acquire(context.Context, string, string, string, time.Duration) (idempotency.Lookup, error) {
	return s.lk, nil
}

// TestBadStoreAnswers: a Store that breaks its contract is answered
// INTERNAL and logged, never a replay or a run.
func TestBadStoreAnswers(t *testing.T) {
	for name, lk := range map[string]idempotency.Lookup{
		"unknown state":               {State: 42},
		"zero state":                  {},
		"completed without a record":  {State: idempotency.Completed},
		"in progress without holder":  {State: idempotency.InProgress}, // not bad: in use
		"completed under another key": {State: idempotency.Completed, Record: &idempotency.Record{Fingerprint: "sha256:x", Status: 201}},
	} {
		t.Run(name, func(t *testing.T) {
			cr := &creator{}
			srv, logs := newServer(t, idempotency.Config{Store: badStore{newMemory(t, 0), lk}}, cr.handle)
			r := mustDo(t, srv, call{keyID: "key_A", keys: []string{"k"}, body: `{}`})
			assert.Zero(t, cr.calls.Load())
			switch {
			case lk.State == idempotency.InProgress:
				inUse(t, r)
			case lk.Record != nil:
				assert.Equal(t, http.StatusConflict, r.status)
				assert.Contains(t, r.body, `"code":"IDEMPOTENCY_CONFLICT"`)
				assert.Contains(t, r.body, `"originalRequestHash":"sha256:x"`)
			default:
				assert.Equal(t, envelope(r, "INTERNAL", apierror.InternalMessage, ""), r.body)
				entries := logs.storeFailures(t)
				require.Len(t, entries, 1)
				assert.Equal(t, "acquire", entries[0]["op"])
			}
		})
	}
}

func TestConfig(t *testing.T) {
	bad := []struct {
		name string
		cfg  idempotency.Config
		want string
	}{
		{"negative body cap", idempotency.Config{MaxBodyBytes: -1}, "MaxBodyBytes"},
		{"negative response cap", idempotency.Config{MaxResponseBytes: -1}, "MaxResponseBytes"},
		{"negative TTL", idempotency.Config{TTL: -time.Second}, "TTL"},
		{"negative lease", idempotency.Config{LeaseTTL: -time.Second}, "LeaseTTL"},
		{"negative store timeout", idempotency.Config{StoreTimeout: -time.Second}, "StoreTimeout"},
		{"sub-millisecond lease", idempotency.Config{LeaseTTL: time.Microsecond}, "millisecond"},
		{"empty methods", idempotency.Config{Methods: []string{}}, "Methods"},
		{"bad method", idempotency.Config{Methods: []string{"PO ST"}}, "method"},
		{"bad header", idempotency.Config{ReplayHeaders: []string{"Location:"}}, "header"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			g, err := idempotency.New(tt.cfg)
			assert.Nil(t, g)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	g, err := idempotency.New(idempotency.Config{})
	require.NoError(t, err)
	assert.NotNil(t, g)
}

func TestMemoryConfig(t *testing.T) {
	s, err := idempotency.NewMemoryStore(idempotency.MemoryConfig{MaxEntries: -1})
	assert.Nil(t, s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "MaxEntries")
	s, err = idempotency.NewMemoryStore(idempotency.MemoryConfig{})
	require.NoError(t, err)
	assert.Zero(t, s.Len())
}

// TestMethodsAndHeadersConfig: Methods opts PUT in, ReplayHeaders are
// canonicalized.
func TestMethodsAndHeadersConfig(t *testing.T) {
	cr := &creator{}
	cfg := idempotency.Config{Methods: []string{http.MethodPut}, ReplayHeaders: []string{"x-not-replayed"}}
	srv, _ := newServer(t, cfg, cr.handle)
	req := call{method: http.MethodPut, keyID: "key_A", keys: []string{"put"}, body: `{}`}
	first := mustDo(t, srv, req)
	second := mustDo(t, srv, req)
	assert.Equal(t, "true", second.header.Get(idempotency.HeaderReplayed))
	assert.Equal(t, "per-run", second.header.Get("X-Not-Replayed"))
	assert.Empty(t, second.header.Values("Location"), "Location is not in this ReplayHeaders")
	assert.Equal(t, first.body, second.body)
	// POST is no longer opted in: it runs every time.
	mustDo(t, srv, call{keyID: "key_A", keys: []string{"post"}, body: `{}`})
	mustDo(t, srv, call{keyID: "key_A", keys: []string{"post"}, body: `{}`})
	assert.Equal(t, int64(3), cr.calls.Load())
}
