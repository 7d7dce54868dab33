package redisstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/internal/redisclient"
	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/ratelimit"
)

// events records store events; it is safe for concurrent use.
type events struct {
	mu  sync.Mutex
	got []event.Event
}

func (e *events) hook(_ context.Context, ev event.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
}

func (e *events) all() []event.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]event.Event(nil), e.got...)
}

// syncBuffer is a bytes.Buffer safe for the store's probe goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// messages returns the msg of every JSON log line.
func (b *syncBuffer) messages(t *testing.T) []string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(b.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		out = append(out, m["msg"].(string))
	}
	return out
}

// evalshaCalls returns how many EVALSHA calls Redis ran since the last
// CONFIG RESETSTAT.
func evalshaCalls(t *testing.T, c *redis.Client) int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	require.NoError(t, err)
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_evalsha:calls="); ok {
			n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			require.NoError(t, err)
			return n
		}
	}
	return 0
}

// TestLateDecisionTakesNothing stalls a real redis-server with SIGSTOP
// while a decision is on its way: the caller times out, Redis runs the
// queued script when it resumes, and (once the store knows Redis's clock)
// the script sees that its deadline passed and takes no token. A store
// that has not learnt the clock yet cannot fence, and the late decision
// spends a token: the case the fence exists for.
func TestLateDecisionTakesNothing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sameStore bool // the warm-up decision taught the stalled store the clock
		remaining int  // of the decision after the stall
	}{
		{"fenced", true, 1},        // 3 - warm-up - this one
		{"no clock yet", false, 0}, // 3 - warm-up - late one - this one
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := redistest.Private(t)
			admin := inst.Client(t)
			prefix := inst.Prefix(t)
			newStore := func() *Store {
				s, err := New(redisClient(t, inst), Config{Prefix: prefix, Timeout: 200 * time.Millisecond, FailAfter: -1})
				require.NoError(t, err)
				t.Cleanup(func() { _ = s.Close() })
				return s
			}
			warmer := newStore()
			s := warmer
			if !tc.sameStore {
				s = newStore()
			}
			ctx := context.Background()
			class := ratelimit.Class{Name: "write", Rate: ratelimit.Rate{PerSecond: 0.01, Burst: 3}}
			d, err := warmer.Allow(ctx, "k", class, 1)
			require.NoError(t, err)
			require.Equal(t, 2, d.Remaining)
			require.NoError(t, s.client.Ping(ctx).Err(), "connected before the stall")
			require.NoError(t, admin.ConfigResetStat(ctx).Err())

			inst.Pause(t)
			start := time.Now()
			_, err = s.Allow(ctx, "k", class, 1)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Less(t, time.Since(start), 2*time.Second)
			inst.Resume(t)
			require.Eventually(t, func() bool { return evalshaCalls(t, admin) == 1 }, 5*time.Second, 10*time.Millisecond,
				"Redis ran the queued decision after resuming")

			d, err = s.Allow(ctx, "k", class, 1)
			require.NoError(t, err)
			assert.True(t, d.Allowed)
			if tc.sameStore {
				assert.Equal(t, tc.remaining, d.Remaining, "the late decision took no token")
			} else {
				assert.Equal(t, tc.remaining, d.Remaining, "without the clock the late decision spent a token")
			}
		})
	}
}

// TestFailFast stalls Redis under a store: the first FailAfter decisions
// wait out the timeout, the following ones fail at once with
// ErrUnavailable (every failure is an event, the outage is logged once),
// a background probe notices when Redis answers again, and decisions
// resume without restarting anything.
func TestFailFast(t *testing.T) {
	inst := redistest.Private(t)
	c := redisClient(t, inst)
	var logs syncBuffer
	var ev events
	const timeout = 150 * time.Millisecond
	s, err := New(c, Config{Prefix: inst.Prefix(t), Timeout: timeout, FailAfter: 3, ProbeInterval: 20 * time.Millisecond,
		Events: ev.hook, Logger: jsonLogger(&logs)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	class := ratelimit.Class{Name: "read", Rate: ratelimit.Rate{PerSecond: 100, Burst: 100}}
	_, err = s.Allow(ctx, "k", class, 1)
	require.NoError(t, err)

	inst.Pause(t)
	for i := range 3 {
		start := time.Now()
		_, err := s.Allow(ctx, "k", class, 1)
		require.Error(t, err)
		assert.NotErrorIs(t, err, ErrUnavailable, "call %d goes to Redis", i)
		assert.GreaterOrEqual(t, time.Since(start), timeout-10*time.Millisecond, "call %d waits", i)
	}
	for i := range 20 {
		start := time.Now()
		_, err := s.Allow(ctx, "k", class, 1)
		require.ErrorIs(t, err, ErrUnavailable, "call %d fails fast", i)
		assert.Less(t, time.Since(start), timeout/3, "call %d fails fast", i)
		assert.True(t, strings.HasPrefix(err.Error(), "ratelimit/redisstore: redis unavailable"), err.Error())
	}
	got := ev.all()
	require.Len(t, got, 23)
	for _, e := range got {
		assert.Equal(t, event.KindStore, e.Kind)
		assert.Equal(t, event.OutcomeFailed, e.Outcome)
		assert.Equal(t, event.ComponentRateLimit, e.Component)
		assert.Error(t, e.Err)
	}
	assert.Equal(t, []string{"Redis is failing: rate-limit decisions fail fast (the limiter's failure policy applies) until it answers again"},
		logs.messages(t))

	inst.Resume(t)
	require.Eventually(t, func() bool {
		_, err := s.Allow(ctx, "k", class, 1)
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	assert.False(t, s.gate.Down())
	assert.Contains(t, logs.messages(t), "Redis answers again: rate-limit decisions resume")
	require.NoError(t, s.Close())
}

// TestFailFastDisabled: with FailAfter negative every decision waits for
// Redis, however long the outage.
func TestFailFastDisabled(t *testing.T) {
	inst := redistest.Private(t)
	s, err := New(redisClient(t, inst), Config{Timeout: 50 * time.Millisecond, FailAfter: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	inst.Pause(t)
	class := ratelimit.Class{Name: "read", Rate: ratelimit.Rate{PerSecond: 1, Burst: 1}}
	for range 5 {
		_, err := s.Allow(context.Background(), "k", class, 1)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	assert.False(t, s.gate.Down())
}

// TestKeysOneSlot: a decision uses one key, and every bucket key of one
// caller (all classes) lives in the slot of the caller's key ID, as the
// cluster computes it (CLUSTER KEYSLOT) and as redisclient.Slot does.
func TestKeysOneSlot(t *testing.T) {
	cl := redistest.Cluster(t)
	c := cl.Client(t)
	s := newStoreOn(t, c, cl.Prefix(t))
	ctx := context.Background()
	for _, id := range []string{"key_1", "org:42", "a{b", "ip:127.0.0.1", ""} {
		want, err := c.ClusterKeySlot(ctx, "{"+id+"}").Result()
		require.NoError(t, err)
		for _, class := range []string{"read", "write", "auth"} {
			k := s.Key(id, class)
			got, err := c.ClusterKeySlot(ctx, k).Result()
			require.NoError(t, err)
			if id != "" && !strings.Contains(id, "{") {
				assert.Equal(t, want, got, "%s", k)
			}
			assert.Equal(t, int(got), redisclient.Slot(k), "%s", k)
		}
	}
	hook := &keysHook{}
	c.AddHook(hook)
	_, err := s.Allow(ctx, "key_1", ratelimit.Class{Name: "read", Rate: ratelimit.Rate{PerSecond: 1, Burst: 5}}, 1)
	require.NoError(t, err)
	assert.Equal(t, []string{s.Key("key_1", "read")}, hook.sorted(), "one key per decision")
}

// keysHook records the keys of every script call (EVAL, EVALSHA).
type keysHook struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (h *keysHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *keysHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		args := cmd.Args()
		if name := strings.ToLower(cmd.Name()); (name == "evalsha" || name == "eval") && len(args) > 2 {
			n, _ := strconv.Atoi(fmt.Sprint(args[2]))
			h.mu.Lock()
			if h.keys == nil {
				h.keys = map[string]bool{}
			}
			for i := 0; i < n && 3+i < len(args); i++ {
				h.keys[fmt.Sprint(args[3+i])] = true
			}
			h.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}
func (h *keysHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// sorted returns the keys seen.
func (h *keysHook) sorted() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.keys))
	for k := range h.keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// jsonLogger is a debug-level JSON logger writing to w.
func jsonLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
