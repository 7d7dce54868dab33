package redisclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/requestid"
)

func TestIsOutage(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	bg := context.Background()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"nil", bg, nil, false},
		{"redis.Nil", bg, redis.Nil, false},
		{"timeout", bg, context.DeadlineExceeded, true},
		{"wrapped timeout", bg, fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"refused", bg, &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"eof", bg, io.EOF, true},
		{"reply", bg, redisErr("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{"noscript", bg, redis.ErrNoScript, false},
		{"loading", bg, redisErr("LOADING Redis is loading the dataset in memory"), true},
		{"busy", bg, redisErr("BUSY Redis is busy running a script"), true},
		{"clusterdown", bg, redisErr("CLUSTERDOWN The cluster is down"), true},
		{"caller gone", canceled, context.Canceled, false},
		{"client closed", bg, redis.ErrClosed, false},
		{"failing fast", bg, &unavailableError{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, IsOutage(tc.ctx, tc.err))
		})
	}
}

// redisErr is a Redis reply error as go-redis returns it.
type redisErr string

func (e redisErr) Error() string { return string(e) }
func (redisErr) RedisError()     {}

// TestGate drives a gate with a real redis-server paused by SIGSTOP: it
// opens after FailAfter outage failures (not before, and not for replies),
// fails fast while open, probes in the background and closes when Redis
// answers, and Close stops a running probe.
func TestGate(t *testing.T) {
	inst := redistest.Private(t)
	c := inst.Client(t)
	var opened, closed atomic.Int64
	g := NewGate(c, GateConfig{FailAfter: 2, ProbeInterval: 10 * time.Millisecond,
		OnOpen: func(error) { opened.Add(1) }, OnClose: func(time.Duration) { closed.Add(1) }})
	t.Cleanup(g.Close)
	ctx := context.Background()
	require.NoError(t, g.Allow())
	g.Record(ctx, "k", context.DeadlineExceeded)
	g.Record(ctx, "k", redisErr("WRONGTYPE x")) // Redis answered: the count restarts
	g.Record(ctx, "k", context.DeadlineExceeded)
	require.NoError(t, g.Allow(), "one failure in a row")
	assert.False(t, g.Open())

	inst.Pause(t)
	g.Record(ctx, "k", context.DeadlineExceeded)
	err := g.Allow()
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Contains(t, err.Error(), "last failure: context deadline exceeded")
	assert.Equal(t, int64(1), opened.Load())
	g.Record(ctx, "k", context.DeadlineExceeded) // more failures do not reopen
	assert.Equal(t, int64(1), opened.Load())
	inst.Resume(t)
	require.Eventually(t, func() bool { return g.Allow() == nil }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, int64(1), closed.Load())

	// Close stops a probe that never succeeds.
	inst.Pause(t)
	g.Record(ctx, "k", context.DeadlineExceeded)
	g.Record(ctx, "k", context.DeadlineExceeded)
	require.True(t, g.Open())
	g.Close()
	assert.NoError(t, g.Allow(), "a closed gate lets calls through")
	g.Record(ctx, "k", context.DeadlineExceeded)
	g.Record(ctx, "k", context.DeadlineExceeded)
	assert.False(t, g.Open(), "and never opens again")
}

func TestGateDisabled(t *testing.T) {
	g := NewGate(nil, GateConfig{FailAfter: -1})
	for range 10 {
		g.Record(context.Background(), "k", context.DeadlineExceeded)
	}
	assert.NoError(t, g.Allow())
	g.Close()
}

// TestPingCluster probes the master of a key on a real cluster.
func TestPingCluster(t *testing.T) {
	cl := redistest.Cluster(t)
	c := cl.Client(t)
	ctx := context.Background()
	require.NoError(t, Ping(ctx, c, "any{key}"))
	require.NoError(t, Ping(ctx, c, ""))
}

// TestSlot compares Slot with CLUSTER KEYSLOT on a real cluster, for keys
// with and without hash tags, and MasterTags with the masters' slots.
func TestSlot(t *testing.T) {
	cl := redistest.Cluster(t)
	c := cl.Client(t)
	ctx := context.Background()
	for _, k := range []string{"", "a", "foo", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}",
		"errkit:ratelimit:read:{key_1}", "errkit:idempotency:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", "ü{ñ}"} {
		want, err := c.ClusterKeySlot(ctx, k).Result()
		require.NoError(t, err)
		assert.Equal(t, int(want), Slot(k), "%q", k)
	}
	tags, err := MasterTags(ctx, c, "m")
	require.NoError(t, err)
	nodes := map[string]bool{}
	for _, tag := range tags {
		m, err := c.MasterForKey(ctx, "{"+tag+"}")
		require.NoError(t, err)
		nodes[m.Options().Addr] = true
	}
	assert.Len(t, nodes, len(tags), "one tag per master")
	assert.GreaterOrEqual(t, len(tags), 3)

	one := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = one.Close() })
	single, err := MasterTags(ctx, one, "m")
	require.NoError(t, err)
	assert.Equal(t, []string{"m"}, single)
}

func TestClock(t *testing.T) {
	var c Clock
	ctx, cancel := context.WithDeadline(context.Background(), time.UnixMicro(1_000_000))
	defer cancel()
	assert.Zero(t, c.Deadline(ctx), "no offset known yet")
	sent := time.UnixMicro(500)
	c.Observe(sent, sent.Add(time.Second), 42) // too slow a round trip
	assert.Zero(t, c.Deadline(ctx))
	c.Observe(sent, sent.Add(1000*time.Microsecond), 5_000) // Redis is 3500 to 4500 µs ahead
	assert.Equal(t, int64(1_003_500), c.Deadline(ctx), "the lower bound: never later than the real deadline")
	assert.Zero(t, c.Deadline(context.Background()), "no deadline, no fence")
}

// syncBuf is a bytes.Buffer for loggers used from go-redis's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestSetLogger: with SetLogger, go-redis's own lines (here: the pool
// failing to dial a closed port) are JSON records of the service's logger,
// not plain text on stderr.
func TestSetLogger(t *testing.T) {
	var buf syncBuf
	SetLogger(slog.New(slog.NewJSONHandler(&buf, nil)))
	t.Cleanup(func() { SetLogger(nil) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ContextTimeoutEnabled: true,
		DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	r := requestid.NewStamper(requestid.Config{}).Stamp(http.Header{}, httptest.NewRequest(http.MethodGet, "/", nil))
	ctx := r.Context()
	_ = c.Ping(ctx).Err()
	require.Eventually(t, func() bool { return strings.Contains(buf.String(), "\n") }, 10*time.Second, 10*time.Millisecond)
	first := strings.SplitN(buf.String(), "\n", 2)[0]
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(first), &rec), first)
	assert.Equal(t, "WARN", rec["level"])
	assert.Equal(t, "go-redis", rec["component"])
	assert.NotEmpty(t, rec["msg"])
	assert.False(t, strings.HasPrefix(rec["msg"].(string), "redis: "), "the plain-text prefix is dropped")

	// Directly, with a request ID in the context.
	var direct bytes.Buffer
	SlogLogger{Logger: slog.New(slog.NewJSONHandler(&direct, nil))}.Printf(ctx, "redis: pool.go:1: %s", "boom")
	require.NoError(t, json.Unmarshal(direct.Bytes(), &rec))
	assert.Equal(t, "pool.go:1: boom", rec["msg"])
	assert.Equal(t, requestid.FromContext(ctx), rec["requestId"])
	assert.NotEmpty(t, rec["requestId"])
}
