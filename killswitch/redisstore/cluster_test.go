package redisstore

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

	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/internal/redistest"
)

// keyHook records the keys of the keyed commands and scripts a client
// sends.
type keyHook struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (h *keyHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *keyHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.note(cmd)
		return next(ctx, cmd)
	}
}
func (h *keyHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.note(c)
		}
		return next(ctx, cmds)
	}
}

func (h *keyHook) note(cmd redis.Cmder) {
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
	case "hgetall", "hset", "hdel", "hincrby", "exists":
		h.keys[fmt.Sprint(args[1])] = true
	}
}

func (h *keyHook) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for k := range h.keys {
		out = append(out, k)
	}
	return out
}

// storeEvents records events; safe for the store's goroutines.
type storeEvents struct {
	mu  sync.Mutex
	got []event.Event
}

func (e *storeEvents) hook(_ context.Context, ev event.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
}

func (e *storeEvents) outcomes() []event.Outcome {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []event.Outcome
	for _, ev := range e.got {
		out = append(out, ev.Outcome)
		if ev.Component != event.ComponentKillSwitch || ev.Kind != event.KindStore || ev.Err == nil {
			out = append(out, "malformed")
		}
	}
	return out
}

// TestClusterOneSlotAndDataLoss: on a Redis Cluster every write (a
// MULTI/EXEC of the change and the revision), load and re-seed touches the
// one hash, so each is a single-slot operation; a hash that vanished is
// written back and reported as OutcomeDataLost.
func TestClusterOneSlotAndDataLoss(t *testing.T) {
	cl := redistest.Cluster(t)
	prefix := cl.Prefix(t)
	client := cl.Client(t)
	hook := &keyHook{}
	client.AddHook(hook)
	var ev storeEvents
	a := newStore(t, client, Config{Prefix: prefix, ResyncInterval: time.Hour, Logger: discard, Events: ev.hook})
	ctx := context.Background()
	require.NoError(t, a.On(ctx, Switch{Scope: ScopeOrganization, ID: "o1"}))
	require.NoError(t, a.On(ctx, Switch{Scope: ScopeKey, ID: "k1"}))
	require.NoError(t, a.Off(ctx, ScopeKey, "k1"))
	require.NoError(t, cl.Client(t).Del(ctx, prefix+"switches").Err()) // the data is lost
	got, err := a.List(ctx)
	require.NoError(t, err)
	assert.Len(t, got, 1, "the known state was written back")
	assert.Equal(t, []string{prefix + "switches"}, hook.all())
	assert.Equal(t, []event.Outcome{event.OutcomeDataLost}, ev.outcomes())
}

// TestOutageEvent: the start of an outage is one OutcomeFailed event.
func TestOutageEvent(t *testing.T) {
	inst := redistest.Private(t)
	var ev storeEvents
	a := newStore(t, inst.Client(t), Config{Prefix: inst.Prefix(t), ResyncInterval: time.Hour, Timeout: 200 * time.Millisecond,
		Logger: discard, Events: ev.hook})
	inst.Stop(t)
	for range 3 {
		_, err := a.List(context.Background())
		require.Error(t, err)
	}
	assert.Equal(t, []event.Outcome{event.OutcomeFailed}, ev.outcomes())
}
