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
	"strconv"
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
		OnOpen: func(string, error) { opened.Add(1) }, OnClose: func(string, time.Duration) { closed.Add(1) }})
	t.Cleanup(g.Close)
	ctx := context.Background()
	node := g.Node(ctx, "k")
	assert.Empty(t, node, "a single server is one node")
	require.NoError(t, g.Allow(node))
	g.Record(ctx, node, "k", context.DeadlineExceeded)
	g.Record(ctx, node, "k", redisErr("WRONGTYPE x")) // Redis answered: the count restarts
	g.Record(ctx, node, "k", context.DeadlineExceeded)
	require.NoError(t, g.Allow(node), "one failure in a row")
	assert.False(t, g.Open(node))
	assert.False(t, g.Down())

	inst.Pause(t)
	g.Record(ctx, node, "k", context.DeadlineExceeded)
	err := g.Allow(node)
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Contains(t, err.Error(), "last failure: context deadline exceeded")
	assert.True(t, g.Down())
	assert.Equal(t, int64(1), opened.Load())
	g.Record(ctx, node, "k", context.DeadlineExceeded) // more failures do not reopen
	assert.Equal(t, int64(1), opened.Load())
	inst.Resume(t)
	require.Eventually(t, func() bool { return g.Allow(node) == nil }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, int64(1), closed.Load())
	assert.False(t, g.Down())

	// Close stops a probe that never succeeds.
	inst.Pause(t)
	g.Record(ctx, node, "k", context.DeadlineExceeded)
	g.Record(ctx, node, "k", context.DeadlineExceeded)
	require.True(t, g.Open(node))
	g.Close()
	assert.NoError(t, g.Allow(node), "a closed gate lets calls through")
	g.Record(ctx, node, "k", context.DeadlineExceeded)
	g.Record(ctx, node, "k", context.DeadlineExceeded)
	assert.False(t, g.Open(node), "and never opens again")
}

func TestGateDisabled(t *testing.T) {
	g := NewGate(nil, GateConfig{FailAfter: -1})
	for range 10 {
		g.Record(context.Background(), "", "k", context.DeadlineExceeded)
	}
	assert.NoError(t, g.Allow(""))
	assert.False(t, g.Down())
	g.Close()
}

// TestGateNodes: the nodes of one gate count their failures apart. Calls
// to a healthy node reset only its own count (they used to reset the one
// count of the whole client, so a dead node's calls never opened the gate
// while others succeeded), and a failing node's gate fails only its own
// calls. A node that answers again takes no room.
func TestGateNodes(t *testing.T) {
	var opened []string
	var mu sync.Mutex
	g := NewGate(nil, GateConfig{FailAfter: 3, ProbeInterval: time.Hour,
		Probe:  func(context.Context, string) error { return errors.New("still down") },
		OnOpen: func(node string, _ error) { mu.Lock(); opened = append(opened, node); mu.Unlock() }})
	t.Cleanup(g.Close)
	ctx := context.Background()
	for range 3 {
		g.Record(ctx, "a:1", "ka", context.DeadlineExceeded)
		g.Record(ctx, "b:1", "kb", nil)
		g.Record(ctx, "c:1", "kc", redis.Nil)
	}
	err := g.Allow("a:1")
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Contains(t, err.Error(), "node a:1")
	assert.NoError(t, g.Allow("b:1"))
	assert.NoError(t, g.Allow("c:1"))
	assert.True(t, g.Down())
	mu.Lock()
	assert.Equal(t, []string{"a:1"}, opened)
	mu.Unlock()

	g.Record(ctx, "b:1", "kb", context.DeadlineExceeded)
	g.Record(ctx, "b:1", "kb", context.DeadlineExceeded)
	g.Record(ctx, "b:1", "kb", nil)
	g.mu.Lock()
	assert.Len(t, g.nodes, 1, "only the failing node is kept")
	g.mu.Unlock()
}

// clusterKeys returns, for each master of a cluster, a key it serves.
func clusterKeys(t *testing.T, c *redis.ClusterClient) map[string]string {
	t.Helper()
	ctx := context.Background()
	tags, err := MasterTags(ctx, c, "n")
	require.NoError(t, err)
	keys := map[string]string{}
	for _, tag := range tags {
		k := "gate:{" + tag + "}"
		m, err := c.MasterForKey(ctx, k)
		require.NoError(t, err)
		keys[m.Options().Addr] = k
	}
	require.GreaterOrEqual(t, len(keys), 3)
	return keys
}

// TestGateCluster stalls one master of a real cluster (SIGSTOP): the
// gate names each key's master, opens for the stalled one only after
// FailAfter timeouts while calls to the others keep succeeding in
// between, fails only that master's keys fast, and closes when it
// answers again.
func TestGateCluster(t *testing.T) {
	cl := redistest.PrivateCluster(t)
	c := cl.Client(t)
	keys := clusterKeys(t, c)
	var opened, closed atomic.Value
	g := NewGate(c, GateConfig{FailAfter: 3, ProbeInterval: 10 * time.Millisecond,
		OnOpen: func(node string, _ error) { opened.Store(node) }, OnClose: func(node string, _ time.Duration) { closed.Store(node) }})
	t.Cleanup(g.Close)
	ctx := context.Background()
	for addr, k := range keys {
		assert.Equal(t, addr, g.Node(ctx, k))
	}
	dead := cl.Addrs()[0]
	cl.Node(t, dead).Pause(t)
	call := func(k string) error {
		node := g.Node(ctx, k)
		if err := g.Allow(node); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		err := c.Set(cctx, k, "v", time.Minute).Err()
		g.Record(ctx, node, k, err)
		return err
	}
	for i := range 3 {
		for addr, k := range keys {
			err := call(k)
			if addr == dead {
				require.Error(t, err, "round %d", i)
				require.True(t, IsOutage(ctx, err), "round %d: %v", i, err)
			} else {
				require.NoError(t, err, "round %d: %s", i, addr)
			}
		}
	}
	require.True(t, g.Open(dead))
	assert.Equal(t, dead, opened.Load())
	for addr, k := range keys {
		start := time.Now()
		err := call(k)
		if addr == dead {
			require.ErrorIs(t, err, ErrUnavailable)
			assert.Contains(t, err.Error(), "node "+dead)
			assert.Less(t, time.Since(start), 50*time.Millisecond, "fails fast")
		} else {
			require.NoError(t, err, addr)
		}
	}
	cl.Node(t, dead).Resume(t)
	require.Eventually(t, func() bool { return !g.Open(dead) }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, dead, closed.Load())
	require.NoError(t, call(keys[dead]))
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

// TestGateClusterUnreachable: a cluster whose layout cannot be loaded has
// no node to name; its calls count on one unknown node, and once that
// gate is open, naming a key's node no longer tries the network.
func TestGateClusterUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}, ContextTimeoutEnabled: true,
		DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	g := NewGate(c, GateConfig{FailAfter: 2, ProbeInterval: time.Hour})
	t.Cleanup(g.Close)
	ctx := context.Background()
	for range 2 {
		node := g.Node(ctx, "k")
		require.Empty(t, node)
		require.NoError(t, g.Allow(node))
		g.Record(ctx, node, "k", c.Set(ctx, "k", "v", 0).Err())
	}
	require.True(t, g.Open(""))
	start := time.Now()
	node := g.Node(ctx, "other")
	assert.Empty(t, node)
	assert.ErrorIs(t, g.Allow(node), ErrUnavailable)
	assert.Less(t, time.Since(start), 50*time.Millisecond)
}

// TestClocks: each node has its own offset, so one master's skew does
// not move another's fence.
func TestClocks(t *testing.T) {
	var cs Clocks
	a, b := cs.For("a:1"), cs.For("b:1")
	require.Same(t, a, cs.For("a:1"))
	ctx, cancel := context.WithDeadline(context.Background(), time.UnixMicro(1_000_000))
	defer cancel()
	sent := time.UnixMicro(500)
	a.Observe(sent, sent.Add(time.Millisecond), 1_000_000+1500) // a is 1 s ahead
	b.Observe(sent, sent.Add(time.Millisecond), 1500-1000)      // b is 1 ms behind
	assert.Equal(t, int64(2_000_000), a.Deadline(ctx))
	assert.Equal(t, int64(999_000), b.Deadline(ctx))
	assert.Zero(t, cs.For("c:1").Deadline(ctx), "a node never sampled has no fence")
	for i := range maxClocks {
		cs.For(strconv.Itoa(i))
	}
	cs.mu.RLock()
	assert.LessOrEqual(t, len(cs.m), maxClocks)
	cs.mu.RUnlock()
}
