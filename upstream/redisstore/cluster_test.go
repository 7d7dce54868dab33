package redisstore_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/upstream"
	"github.com/layershq/errkit/upstream/redisstore"
)

// scriptKeys records the keys of every script call and keyed command a
// client sends.
type scriptKeys struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (h *scriptKeys) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *scriptKeys) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.note(cmd)
		return next(ctx, cmd)
	}
}
func (h *scriptKeys) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.note(c)
		}
		return next(ctx, cmds)
	}
}

func (h *scriptKeys) note(cmd redis.Cmder) {
	args := cmd.Args()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.keys == nil {
		h.keys = map[string]bool{}
	}
	switch strings.ToLower(cmd.Name()) {
	case "eval", "evalsha":
		n, _ := strconv.Atoi(fmt.Sprint(args[2]))
		for i := 0; i < n; i++ {
			h.keys[fmt.Sprint(args[3+i])] = true
		}
	case "hgetall", "hset", "hdel", "exists":
		h.keys[fmt.Sprint(args[1])] = true
	}
}

func (h *scriptKeys) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for k := range h.keys {
		out = append(out, k)
	}
	return out
}

// TestKeysOneSlot: every operation of the store (trip, probe, release,
// reset, resync) touches the one circuits hash, so each is a single-slot
// operation on a cluster.
func TestKeysOneSlot(t *testing.T) {
	cl := redistest.Cluster(t)
	prefix := cl.Prefix(t)
	client := cl.Client(t)
	hook := &scriptKeys{}
	client.AddHook(hook)
	clock := &fakeClock{now: t0}
	a := newInstanceOn(t, client, prefix, clock, redisstore.Config{}, upstream.BreakerConfig{Failures: 1, Cooldown: time.Second})
	a.fail(t, 1)
	clock.Advance(2 * time.Second)
	p, err := a.circuit.Allow(context.Background())
	require.NoError(t, err)
	require.True(t, p.Probe())
	p.Done(upstream.Succeeded)
	require.Eventually(t, func() bool { return a.hook.saw("hgetall") > 0 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{prefix + "circuits"}, hook.all())
}

// TestFailFast stalls Redis (SIGSTOP) under a store: the first calls wait
// out Timeout, the following ones fail at once with ErrUnavailable, and
// calls go through again once Redis answers.
func TestFailFast(t *testing.T) {
	inst := redistest.Private(t)
	const timeout = 100 * time.Millisecond
	s, err := redisstore.New(inst.Client(t), redisstore.Config{Prefix: inst.Prefix(t), Timeout: timeout,
		FailAfter: 2, ProbeInterval: 20 * time.Millisecond, Logger: discard})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	ctx := context.Background()
	require.NoError(t, s.Reset(ctx, "tiktok:publish"))
	inst.Pause(t)
	for range 2 {
		start := time.Now()
		require.Error(t, s.Trip(ctx, "tiktok:publish", t0, t0.Add(time.Minute)))
		assert.GreaterOrEqual(t, time.Since(start), timeout-10*time.Millisecond)
	}
	for range 5 {
		start := time.Now()
		err := s.Trip(ctx, "tiktok:publish", t0, t0.Add(time.Minute))
		require.ErrorIs(t, err, redisstore.ErrUnavailable)
		assert.Less(t, time.Since(start), timeout/2)
	}
	inst.Resume(t)
	require.Eventually(t, func() bool { return s.Reset(ctx, "tiktok:publish") == nil }, 5*time.Second, 10*time.Millisecond)
}
