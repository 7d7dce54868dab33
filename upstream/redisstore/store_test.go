package redisstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/upstream"
	"github.com/layershq/errkit/upstream/redisstore"
)

var t0 = time.Date(2026, 4, 18, 14, 0, 0, 0, time.UTC)

// fakeClock is the fleet's shared notion of time in a test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var discard = slog.New(slog.DiscardHandler)

// countingHook counts the round trips a go-redis client makes (a pipeline
// is one) and remembers the names of the commands.
type countingHook struct {
	cmds  atomic.Int64
	mu    sync.Mutex
	names map[string]int
}

func (h *countingHook) saw(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.names[name]
}

// background are the commands of the Store's own goroutines and of
// go-redis's connection setup.
var background = map[string]bool{"script": true, "hgetall": true, "subscribe": true, "ping": true, "hello": true, "client": true}

// foreground counts the commands the breaker's calls sent.
func (h *countingHook) foreground() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for name, c := range h.names {
		if !background[name] {
			n += c
		}
	}
	return n
}

func (h *countingHook) note(cmds ...redis.Cmder) {
	h.cmds.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.names == nil {
		h.names = map[string]int{}
	}
	for _, c := range cmds {
		h.names[c.Name()]++
	}
}

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		defer h.note(cmd) // once done: a test waiting for a command sees its effect
		return next(ctx, cmd)
	}
}
func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		defer h.note(cmds...)
		return next(ctx, cmds)
	}
}

// instance is one server of a fleet: its own Redis client, Store and
// Breaker.
type instance struct {
	store   *redisstore.Store
	breaker *upstream.Breaker
	circuit *upstream.Circuit
	hook    *countingHook
}

func newInstance(t *testing.T, inst *redistest.Instance, prefix string, clock upstream.Clock, cfg redisstore.Config, bcfg upstream.BreakerConfig) *instance {
	t.Helper()
	return newInstanceOn(t, inst.Client(t), prefix, clock, cfg, bcfg)
}

// newInstanceOn is newInstance on a client of any topology.
func newInstanceOn(t *testing.T, client redis.UniversalClient, prefix string, clock upstream.Clock, cfg redisstore.Config, bcfg upstream.BreakerConfig) *instance {
	t.Helper()
	hook := &countingHook{}
	client.AddHook(hook)
	cfg.Prefix = prefix
	if cfg.Logger == nil {
		cfg.Logger = discard
	}
	s, err := redisstore.New(client, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	bcfg.Store, bcfg.Clock = s, clock
	if bcfg.Logger == nil {
		bcfg.Logger = discard
	}
	b, err := upstream.NewBreaker(bcfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	c, err := b.Circuit(apierror.PlatformTikTok, "tiktok-publish")
	require.NoError(t, err)
	return &instance{store: s, breaker: b, circuit: c, hook: hook}
}

func (i *instance) fail(t *testing.T, n int) {
	t.Helper()
	for k := 0; k < n; k++ {
		p, err := i.circuit.Allow(context.Background())
		require.NoError(t, err)
		p.Done(upstream.Failed)
	}
}

// refusedFor returns the retryAfterSeconds of a refused call, or 0 when
// the call was let through (and reports it as a success).
func (i *instance) refusedFor(t *testing.T) int64 {
	t.Helper()
	p, err := i.circuit.Allow(context.Background())
	if err == nil {
		p.Done(upstream.Succeeded)
		return 0
	}
	d, ok := apierror.DetailsAs[apierror.CircuitOpenDetails](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "tiktok-publish", d.Resource)
	return d.RetryAfterSeconds
}

// TestFleet: opened on A, CIRCUIT_OPEN on B within a second with the same
// remaining time, one probe for the fleet, and its verdict everywhere; on a
// single Redis and on a Redis Cluster (pub/sub across its nodes).
func TestFleet(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		inst := redistest.Server(t)
		testFleet(t, func() redis.UniversalClient { return inst.Client(t) }, inst.Prefix(t))
	})
	t.Run("cluster", func(t *testing.T) {
		cl := redistest.Cluster(t)
		testFleet(t, func() redis.UniversalClient { return cl.Client(t) }, cl.Prefix(t))
	})
}

func testFleet(t *testing.T, client func() redis.UniversalClient, prefix string) {
	clock := &fakeClock{now: t0}
	bcfg := upstream.BreakerConfig{Failures: 3, Cooldown: 30 * time.Second}
	a := newInstanceOn(t, client(), prefix, clock, redisstore.Config{}, bcfg)
	b := newInstanceOn(t, client(), prefix, clock, redisstore.Config{}, bcfg)

	a.fail(t, 3)
	start := time.Now()
	require.Eventually(t, func() bool { return b.circuit.State() == upstream.Open }, time.Second, time.Millisecond,
		"B refuses within 1 s of A opening")
	t.Logf("the open state reached B in %v", time.Since(start))
	assert.Equal(t, int64(30), a.refusedFor(t))
	assert.Equal(t, int64(30), b.refusedFor(t))

	clock.Advance(10500 * time.Millisecond)
	assert.Equal(t, int64(20), a.refusedFor(t))
	assert.Equal(t, int64(20), b.refusedFor(t))

	clock.Advance(19500 * time.Millisecond) // the cooldown is over
	probe, err := b.circuit.Allow(context.Background())
	require.NoError(t, err)
	require.True(t, probe.Probe())
	assert.Equal(t, int64(1), a.refusedFor(t), "the probe is the fleet's: A waits for B's")
	probe.Done(upstream.Failed)
	require.Eventually(t, func() bool { return a.refusedFor(t) == 30 }, time.Second, time.Millisecond,
		"a failed probe re-opens for a full cooldown everywhere")
	assert.Equal(t, int64(30), b.refusedFor(t))

	clock.Advance(30 * time.Second)
	probe, err = a.circuit.Allow(context.Background())
	require.NoError(t, err)
	require.True(t, probe.Probe())
	probe.Done(upstream.Succeeded)
	require.Eventually(t, func() bool { return b.circuit.State() == upstream.Closed }, time.Second, time.Millisecond,
		"the good probe closed B too")
	assert.Zero(t, b.refusedFor(t))
}

// TestFleetRealClock: with real clocks the remaining times agree to within
// a second.
func TestFleetRealClock(t *testing.T) {
	inst := redistest.Server(t)
	prefix := inst.Prefix(t)
	bcfg := upstream.BreakerConfig{Failures: 1, Cooldown: 30 * time.Second}
	a := newInstance(t, inst, prefix, upstream.SystemClock, redisstore.Config{}, bcfg)
	b := newInstance(t, inst, prefix, upstream.SystemClock, redisstore.Config{}, bcfg)
	a.fail(t, 1)
	require.Eventually(t, func() bool { return b.circuit.State() == upstream.Open }, time.Second, time.Millisecond)
	ra, rb := a.refusedFor(t), b.refusedFor(t)
	assert.InDelta(t, ra, rb, 1)
	assert.InDelta(t, 30, rb, 1)
}

// TestClosedPathNoRoundTrips: closed calls send no command to Redis; each
// state change costs one.
func TestClosedPathNoRoundTrips(t *testing.T) {
	inst := redistest.Server(t)
	clock := &fakeClock{now: t0}
	// A long resync keeps the background reads out of the count.
	a := newInstance(t, inst, inst.Prefix(t), clock, redisstore.Config{ResyncInterval: time.Hour}, upstream.BreakerConfig{Failures: 5, Cooldown: time.Second})
	require.Eventually(t, func() bool { return a.hook.saw("script") > 0 }, 5*time.Second, time.Millisecond,
		"the scripts are loaded in the background")
	for i := 0; i < 10_000; i++ {
		p, err := a.circuit.Allow(context.Background())
		require.NoError(t, err)
		if i%4 == 0 {
			p.Done(upstream.Failed)
		} else {
			p.Done(upstream.Succeeded)
		}
	}
	assert.Zero(t, a.hook.foreground(), "10,000 closed calls, 0 Redis commands")
	a.fail(t, 5)
	assert.Equal(t, 1, a.hook.foreground(), "opening: one round trip")
	assert.Equal(t, 1, a.hook.saw("evalsha"))
	for i := 0; i < 100; i++ {
		_, err := a.circuit.Allow(context.Background())
		require.Error(t, err)
	}
	assert.Equal(t, 1, a.hook.foreground(), "refusing: none")
	clock.Advance(time.Second)
	p, err := a.circuit.Allow(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 2, a.hook.foreground(), "asking for the probe: one")
	p.Done(upstream.Succeeded)
	assert.Equal(t, 3, a.hook.foreground(), "closing: one")
	assert.Equal(t, 3, a.hook.saw("evalsha"), "each a single EVALSHA: the scripts were loaded")
}

// TestResyncHealsMissedAnnouncement: a circuit written to Redis without an
// announcement (missed, or by an operator) is enforced within
// ResyncInterval; one an operator deletes closes at the next probe.
func TestResyncHealsMissedAnnouncement(t *testing.T) {
	inst := redistest.Server(t)
	prefix := inst.Prefix(t)
	clock := &fakeClock{now: t0}
	a := newInstance(t, inst, prefix, clock, redisstore.Config{ResyncInterval: 50 * time.Millisecond}, upstream.BreakerConfig{})
	admin := inst.Client(t)
	until := t0.Add(45 * time.Second).UnixMilli()
	require.NoError(t, admin.HSet(context.Background(), prefix+"circuits", "tiktok:tiktok-publish", formatInt(until)+" 0 -").Err())
	require.Eventually(t, func() bool { return a.circuit.State() == upstream.Open }, 2*time.Second, time.Millisecond)
	assert.Equal(t, int64(45), a.refusedFor(t))

	require.NoError(t, admin.HDel(context.Background(), prefix+"circuits", "tiktok:tiktok-publish").Err())
	clock.Advance(45 * time.Second)
	p, err := a.circuit.Allow(context.Background())
	require.NoError(t, err)
	assert.False(t, p.Probe(), "the fleet's circuit is closed: an ordinary call")
	p.Done(upstream.Succeeded)
	assert.Equal(t, upstream.Closed, a.circuit.State())
}

func formatInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestLateJoiner: an instance started while a circuit is open enforces it
// at once.
func TestLateJoiner(t *testing.T) {
	inst := redistest.Server(t)
	prefix := inst.Prefix(t)
	clock := &fakeClock{now: t0}
	bcfg := upstream.BreakerConfig{Failures: 1, Cooldown: time.Minute}
	a := newInstance(t, inst, prefix, clock, redisstore.Config{ResyncInterval: time.Hour}, bcfg)
	a.fail(t, 1)
	clock.Advance(15 * time.Second)
	late := newInstance(t, inst, prefix, clock, redisstore.Config{ResyncInterval: time.Hour}, bcfg)
	require.Eventually(t, func() bool { return late.circuit.State() == upstream.Open }, time.Second, time.Millisecond)
	assert.Equal(t, int64(45), late.refusedFor(t))
}

// TestProbeLeaseAndRelease drives the Store's probe directly: one holder,
// released early or expiring with its lease.
func TestProbeLeaseAndRelease(t *testing.T) {
	inst := redistest.Server(t)
	prefix := inst.Prefix(t)
	ctx := context.Background()
	s1, err := redisstore.New(inst.Client(t), redisstore.Config{Prefix: prefix, Logger: discard})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s1.Close() })
	s2, err := redisstore.New(inst.Client(t), redisstore.Config{Prefix: prefix, Logger: discard})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s2.Close() })
	const key = "meta:graph"

	p, err := s1.Probe(ctx, key, t0, time.Second)
	require.NoError(t, err)
	assert.Equal(t, upstream.ProbeClosed, p.Status)

	require.NoError(t, s1.Trip(ctx, key, t0, t0.Add(10*time.Second)))
	admin := inst.Client(t)
	ttl, err := admin.PTTL(ctx, prefix+"circuits").Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, time.Hour, "the hash outlives the cooldown by an hour")
	assert.LessOrEqual(t, ttl, time.Hour+10*time.Second)
	p, err = s2.Probe(ctx, key, t0.Add(time.Second), time.Second)
	require.NoError(t, err)
	assert.Equal(t, upstream.ProbeOpen, p.Status)
	assert.True(t, p.Until.Equal(t0.Add(10*time.Second)), "%v", p.Until)

	at := t0.Add(10 * time.Second)
	p1, err := s1.Probe(ctx, key, at, 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, upstream.ProbeGranted, p1.Status)
	p2, err := s2.Probe(ctx, key, at, 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, upstream.ProbeBusy, p2.Status)
	assert.True(t, p2.Until.Equal(at.Add(5*time.Second)))

	require.NoError(t, s2.Release(ctx, key, "not-the-holder"))
	p2, err = s2.Probe(ctx, key, at, 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, upstream.ProbeBusy, p2.Status, "a token that does not hold the probe releases nothing")

	require.NoError(t, s1.Release(ctx, key, p1.Token))
	p2, err = s2.Probe(ctx, key, at, 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, upstream.ProbeGranted, p2.Status, "released: another call may probe at once")

	p1, err = s1.Probe(ctx, key, at.Add(5*time.Second), 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, upstream.ProbeGranted, p1.Status, "the unreported probe's lease expired")
	assert.NotEqual(t, p1.Token, p2.Token)

	require.NoError(t, s2.Reset(ctx, key))
	p, err = s1.Probe(ctx, key, at, time.Second)
	require.NoError(t, err)
	assert.Equal(t, upstream.ProbeClosed, p.Status)

	// A field nobody could have written is read as closed, and removed.
	require.NoError(t, admin.HSet(ctx, prefix+"circuits", key, "garbage").Err())
	p, err = s1.Probe(ctx, key, at, time.Second)
	require.NoError(t, err)
	assert.Equal(t, upstream.ProbeClosed, p.Status)
	n, err := admin.HExists(ctx, prefix+"circuits", key).Result()
	require.NoError(t, err)
	assert.False(t, n)
}

// TestRedisDown: with Redis gone the breaker carries on alone and logs the
// outage once; New never fails for an unreachable Redis.
func TestRedisDown(t *testing.T) {
	inst := redistest.Private(t)
	client := redis.NewClient(&redis.Options{Addr: inst.Addr(), MaxRetries: -1, DialTimeout: 100 * time.Millisecond, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	inst.Stop(t)
	s, err := redisstore.New(client, redisstore.Config{Prefix: inst.Prefix(t), Timeout: 100 * time.Millisecond, Logger: discard})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	var logs bytes.Buffer
	var mu sync.Mutex
	clock := &fakeClock{now: t0}
	b, err := upstream.NewBreaker(upstream.BreakerConfig{Failures: 1, Cooldown: 5 * time.Second, Store: s, Clock: clock,
		Logger: slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &mu}, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	c, err := b.Circuit(apierror.PlatformTikTok, "tiktok-publish")
	require.NoError(t, err)

	p, err := c.Allow(context.Background())
	require.NoError(t, err)
	p.Done(upstream.Failed)
	_, err = c.Allow(context.Background())
	require.True(t, apierror.HasCode(err, apierror.CodeCircuitOpen))
	clock.Advance(5 * time.Second)
	p, err = c.Allow(context.Background())
	require.NoError(t, err)
	assert.True(t, p.Probe(), "probes on its own authority")
	p.Done(upstream.Succeeded)
	assert.Equal(t, upstream.Closed, c.State())
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	assert.Equal(t, 1, strings.Count(out, "circuit breaker store unavailable"), out)
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestNew: configuration mistakes are errors, never panics.
func TestNew(t *testing.T) {
	_, err := redisstore.New(nil, redisstore.Config{})
	assert.Error(t, err)
	var nilClient *redis.Client
	_, err = redisstore.New(nilClient, redisstore.Config{})
	assert.Error(t, err)
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = c.Close() })
	_, err = redisstore.New(c, redisstore.Config{})
	assert.ErrorIs(t, err, redisstore.ErrContextTimeoutDisabled)
	ok := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = ok.Close() })
	_, err = redisstore.New(ok, redisstore.Config{Timeout: -1})
	assert.Error(t, err)
	_, err = redisstore.New(ok, redisstore.Config{ResyncInterval: -1})
	assert.Error(t, err)
	s, err := redisstore.New(ok, redisstore.Config{Logger: discard})
	require.NoError(t, err, "an unreachable Redis is not an error")
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close twice")
}
