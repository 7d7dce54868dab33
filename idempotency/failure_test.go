package idempotency

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest/observer"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/internal/redistest"
)

// storeFailures returns the "idempotency store failed" log entries.
func storeFailures(logs *observer.ObservedLogs) []observer.LoggedEntry {
	return logs.FilterMessage("idempotency store failed").AllUntimed()
}

// TestRedisDown: with Redis stopped the request is answered INTERNAL (not
// run, since the work could not be protected), the cause is logged with the
// request ID and never sent; once Redis is back the retry with the same key
// runs.
func TestRedisDown(t *testing.T) {
	inst := redistest.Private(t)
	client := redis.NewClient(&redis.Options{Addr: inst.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })
	cr := &creator{}
	srv, logs := newServer(t, IdempotencyConfig{Store: NewRedisStore(client, inst.Prefix(t))}, cr.handle)
	req := call{keyID: "key_A", keys: []string{"outage"}, body: `{}`}

	inst.Stop(t)
	r := mustDo(t, srv, req)
	assert.Equal(t, http.StatusInternalServerError, r.status)
	assert.Equal(t, envelope(r, "INTERNAL", apierror.InternalMessage, ""), r.body)
	assert.NotContains(t, r.body, inst.Addr())
	assert.Zero(t, cr.calls.Load(), "the handler does not run unprotected")

	entries := storeFailures(logs)
	require.Len(t, entries, 1)
	fields := entries[0].ContextMap()
	assert.Equal(t, r.header.Get("X-Request-Id"), fields["requestId"])
	assert.Equal(t, "acquire", fields["op"])
	assert.Equal(t, contentRoute, fields["route"])
	assert.Contains(t, fields["error"], "redis acquire")

	inst.Start(t)
	require.Eventually(t, func() bool {
		r, err := do(srv, req)
		return err == nil && r.status == http.StatusCreated
	}, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, int64(1), cr.calls.Load())
}

// TestStoreTimeout: a Redis that accepts connections but never answers (a
// real listener that reads and stays silent) is given StoreTimeout, not the
// client's 30 s read timeout: the request answers INTERNAL, the handler does
// not run, and the failure is logged with the request ID.
func TestStoreTimeout(t *testing.T) {
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
	client := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1, Protocol: 2,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	cr := &creator{}
	srv, logs := newServer(t, IdempotencyConfig{Store: NewRedisStore(client, "t:"), StoreTimeout: 200 * time.Millisecond}, cr.handle)

	start := time.Now()
	r := mustDo(t, srv, call{keyID: "key_A", keys: []string{"hung"}, body: `{}`})
	elapsed := time.Since(start)
	assert.Equal(t, http.StatusInternalServerError, r.status)
	assert.Equal(t, envelope(r, "INTERNAL", apierror.InternalMessage, ""), r.body)
	assert.Less(t, elapsed, 10*time.Second, "answered after the store timeout, not the client's read timeout")
	assert.GreaterOrEqual(t, elapsed, 200*time.Millisecond)
	assert.Zero(t, cr.calls.Load())
	entries := storeFailures(logs)
	require.Len(t, entries, 1)
	assert.Equal(t, r.header.Get("X-Request-Id"), entries[0].ContextMap()["requestId"])
	assert.Contains(t, entries[0].ContextMap()["error"], "timeout")
}

// TestEmptyScope: a request with a key but no authenticated caller is a
// wiring mistake; it answers INTERNAL rather than share one scope between
// all anonymous callers.
func TestEmptyScope(t *testing.T) {
	cr := &creator{}
	srv, logs := newServer(t, IdempotencyConfig{}, cr.handle)
	r := mustDo(t, srv, call{keys: []string{"anon"}, body: `{}`})
	assert.Equal(t, http.StatusInternalServerError, r.status)
	assert.Equal(t, envelope(r, "INTERNAL", apierror.InternalMessage, ""), r.body)
	entries := storeFailures(logs)
	require.Len(t, entries, 1)
	assert.Equal(t, "scope", entries[0].ContextMap()["op"])
	assert.Equal(t, r.header.Get("X-Request-Id"), entries[0].ContextMap()["requestId"])

	// Without a key the route works unauthenticated; a KeyFunc can scope
	// anonymous callers deliberately.
	assert.Equal(t, http.StatusCreated, mustDo(t, srv, call{body: `{}`}).status)
	srv2, _ := newServer(t, IdempotencyConfig{KeyFunc: func(echo.Context) string { return "public" }}, cr.handle)
	first := mustDo(t, srv2, call{keys: []string{"anon"}, body: `{}`})
	assert.Equal(t, http.StatusCreated, first.status)
	assert.Equal(t, first.body, mustDo(t, srv2, call{keys: []string{"anon"}, body: `{}`}).body)
	assert.Equal(t, int64(2), cr.calls.Load())
}

// TestRedisCorruptValue: a value the store did not write is an error
// (INTERNAL), never a replay or a second run.
func TestRedisCorruptValue(t *testing.T) {
	inst := redistest.Server(t)
	client := inst.Client(t)
	prefix := inst.Prefix(t)
	s := NewRedisStore(client, prefix)
	ctx := context.Background()
	for name, v := range map[string]string{
		"untagged":      "garbage",
		"bad json":      "R{not json",
		"wrong version": `R{"v":2,"f":"sha256:x","s":200}`,
		"non-2xx":       `R{"v":1,"f":"sha256:x","s":500}`,
	} {
		require.NoError(t, client.Set(ctx, prefix+name, v, time.Minute).Err())
		_, err := s.Acquire(ctx, name, "t", "", time.Second)
		assert.Error(t, err, name)
	}
	// The key format: prefix + 64 hex, one key per idempotency key.
	skey := storeKey("key_A", "POST", contentRoute, "k")
	_, err := s.Acquire(ctx, skey, "tok", "sha256:f", time.Second)
	require.NoError(t, err)
	v, err := client.Get(ctx, prefix+skey).Result()
	require.NoError(t, err)
	assert.Equal(t, "Ltok\nsha256:f", v)
	require.NoError(t, s.Complete(ctx, skey, "tok", Record{Fingerprint: "sha256:f", Status: 201,
		Header: http.Header{"Location": {"/x"}}, Body: []byte("hi")}, time.Minute))
	v, err = client.Get(ctx, prefix+skey).Result()
	require.NoError(t, err)
	assert.Equal(t, `R{"v":1,"f":"sha256:f","s":201,"h":{"Location":["/x"]},"b":"aGk="}`, v)
	ttl, err := client.PTTL(ctx, prefix+skey).Result()
	require.NoError(t, err)
	assert.True(t, ttl > 59*time.Second && ttl <= time.Minute, "record TTL %v", ttl)
}

func TestConfig(t *testing.T) {
	bad := []struct {
		name string
		cfg  IdempotencyConfig
		want string
	}{
		{"negative body cap", IdempotencyConfig{MaxBodyBytes: -1}, "MaxBodyBytes"},
		{"negative response cap", IdempotencyConfig{MaxResponseBytes: -1}, "MaxResponseBytes"},
		{"negative TTL", IdempotencyConfig{TTL: -time.Second}, "TTL"},
		{"negative lease", IdempotencyConfig{LeaseTTL: -time.Second}, "LeaseTTL"},
		{"negative store timeout", IdempotencyConfig{StoreTimeout: -time.Second}, "StoreTimeout"},
		{"sub-millisecond lease", IdempotencyConfig{LeaseTTL: time.Microsecond}, "millisecond"},
		{"empty methods", IdempotencyConfig{Methods: []string{}}, "Methods"},
		{"bad method", IdempotencyConfig{Methods: []string{"PO ST"}}, "method"},
		{"bad header", IdempotencyConfig{ReplayHeaders: []string{"Location:"}}, "header"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := tt.cfg.ToMiddleware()
			assert.Nil(t, mw)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Panics(t, func() { IdempotencyWithConfig(tt.cfg) })
		})
	}
	mw, err := IdempotencyConfig{}.ToMiddleware()
	require.NoError(t, err)
	assert.NotNil(t, mw)
	assert.NotPanics(t, func() { Idempotency(nil) })
}

// TestMethodsAndHeadersConfig: Methods opts PUT in, ReplayHeaders are
// canonicalized.
func TestMethodsAndHeadersConfig(t *testing.T) {
	cr := &creator{}
	cfg := IdempotencyConfig{Methods: []string{http.MethodPut}, ReplayHeaders: []string{"x-not-replayed"}}
	srv, _ := newServer(t, cfg, cr.handle)
	req := call{method: http.MethodPut, keyID: "key_A", keys: []string{"put"}, body: `{}`}
	first := mustDo(t, srv, req)
	second := mustDo(t, srv, req)
	assert.Equal(t, "true", second.header.Get(HeaderReplayed))
	assert.Equal(t, "per-run", second.header.Get("X-Not-Replayed"))
	assert.Empty(t, second.header.Values("Location"), "Location is not in this ReplayHeaders")
	assert.Equal(t, first.body, second.body)
	// POST is no longer opted in: it runs every time.
	mustDo(t, srv, call{keyID: "key_A", keys: []string{"post"}, body: `{}`})
	mustDo(t, srv, call{keyID: "key_A", keys: []string{"post"}, body: `{}`})
	assert.Equal(t, int64(3), cr.calls.Load())
}

// TestRedisTokenNewline: an owner token with a newline would make the
// token part of a lease value ambiguous; every method refuses it.
func TestRedisTokenNewline(t *testing.T) {
	inst := redistest.Server(t)
	s := NewRedisStore(inst.Client(t), inst.Prefix(t))
	ctx := context.Background()
	_, err := s.Acquire(ctx, "k", "a\nb", "sha256:f", time.Second)
	assert.ErrorIs(t, err, errTokenNewline)
	assert.ErrorIs(t, s.Renew(ctx, "k", "a\nb", time.Second), errTokenNewline)
	assert.ErrorIs(t, s.Complete(ctx, "k", "a\nb", Record{Status: 200}, time.Second), errTokenNewline)
	assert.ErrorIs(t, s.Release(ctx, "k", "a\nb"), errTokenNewline)
	lk, err := s.Acquire(ctx, "k", "a", "sha256:f", time.Second)
	require.NoError(t, err)
	assert.Equal(t, Acquired, lk.State, "nothing was written")
}
