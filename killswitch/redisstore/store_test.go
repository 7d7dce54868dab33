package redisstore

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/killswitch"
)

// newStore starts a Store that is closed when the test ends.
func newStore(t *testing.T, client redis.UniversalClient, cfg Config) *Store {
	t.Helper()
	r, err := New(client, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// enforced reports what src answers for key k1 in organization o1.
func enforced(src killswitch.Checker) Scope {
	sw, _ := src.Check("k1", "o1")
	return sw.Scope
}

// forEachRedis runs f on a single Redis and on a Redis Cluster; client
// returns a new client (another instance's connections) each call.
func forEachRedis(t *testing.T, f func(t *testing.T, client func() redis.UniversalClient, prefix string)) {
	t.Run("single", func(t *testing.T) {
		inst := redistest.Server(t)
		f(t, func() redis.UniversalClient { return inst.Client(t) }, inst.Prefix(t))
	})
	t.Run("cluster", func(t *testing.T) {
		cl := redistest.Cluster(t)
		f(t, func() redis.UniversalClient { return cl.Client(t) }, cl.Prefix(t))
	})
}

func TestOnOffListAcrossInstances(t *testing.T) { forEachRedis(t, testOnOffListAcrossInstances) }

func testOnOffListAcrossInstances(t *testing.T, newClient func() redis.UniversalClient, prefix string) {
	client := newClient()
	a := newStore(t, client, Config{Prefix: prefix, Logger: discard})
	b := newStore(t, client, Config{Prefix: prefix, Logger: discard})
	ctx := context.Background()
	at := time.Date(2026, 4, 18, 14, 0, 0, 0, time.UTC)

	require.NoError(t, a.On(ctx, Switch{Scope: ScopeKey, ID: "k1", Reason: "abuse", By: "alice", At: at}))
	assert.Equal(t, ScopeKey, enforced(a), "the writing instance enforces at once")
	require.Eventually(t, func() bool { return enforced(b) == ScopeKey }, time.Second, time.Millisecond)
	require.NoError(t, b.On(ctx, Switch{Scope: ScopeOrganization, ID: "o1", At: at}))
	require.Eventually(t, func() bool { return enforced(a) == ScopeOrganization }, time.Second, time.Millisecond)
	require.NoError(t, a.On(ctx, Switch{Scope: ScopeGlobal, At: at, ExpectedDuration: 90 * time.Second}))
	require.Eventually(t, func() bool { return enforced(b) == ScopeGlobal }, time.Second, time.Millisecond)

	want := []Switch{
		{Scope: ScopeGlobal, At: at, ExpectedDuration: 90 * time.Second},
		{Scope: ScopeOrganization, ID: "o1", At: at},
		{Scope: ScopeKey, ID: "k1", Reason: "abuse", By: "alice", At: at},
	}
	for _, src := range []*Store{a, b} {
		got, err := src.List(ctx)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.Equal(t, want, src.Enforced())
	}

	// The stored layout is the documented one.
	raw, err := client.HGetAll(ctx, prefix+"switches").Result()
	require.NoError(t, err)
	assert.Equal(t, `{"reason":"abuse","by":"alice","at":"2026-04-18T14:00:00Z"}`, raw["key:k1"])
	assert.Equal(t, `{"at":"2026-04-18T14:00:00Z","expectedDurationMs":90000}`, raw["global"])
	assert.Contains(t, raw, "organization:o1")
	assert.Equal(t, "3", raw[revField])

	for _, off := range []struct {
		scope Scope
		id    string
		then  Scope
	}{{ScopeGlobal, "", ScopeOrganization}, {ScopeOrganization, "o1", ScopeKey}, {ScopeKey, "k1", ""}} {
		require.NoError(t, b.Off(ctx, off.scope, off.id))
		require.Eventually(t, func() bool { return enforced(a) == off.then }, time.Second, time.Millisecond)
	}
	got, err := a.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.ErrorIs(t, a.On(ctx, Switch{Scope: ScopeKey}), killswitch.ErrInvalidSwitch)
	assert.ErrorIs(t, a.Off(ctx, "nope", "x"), killswitch.ErrInvalidSwitch)
	assert.False(t, a.Stale())
	assert.False(t, a.LastSync().IsZero())
}

// TestFleetPropagation flips a switch 50 times through instance A and
// measures how long B takes to enforce each flip. Resync is set far out so
// only the pub/sub notification can carry the change (on a cluster: pub/sub
// across its nodes). Run with -v to see the figures.
func TestFleetPropagation(t *testing.T) { forEachRedis(t, testFleetPropagation) }

func testFleetPropagation(t *testing.T, newClient func() redis.UniversalClient, prefix string) {
	cfg := Config{Prefix: prefix, ResyncInterval: time.Hour, Logger: discard}
	a := newStore(t, newClient(), cfg)
	b := newStore(t, newClient(), cfg) // B has its own connections, as another instance would
	ctx := context.Background()
	// The first notification only arrives once B's subscription is live.
	require.Eventually(t, func() bool {
		_ = a.On(ctx, Switch{Scope: ScopeKey, ID: "warmup"})
		_, on := b.Check("warmup", "")
		return on
	}, 5*time.Second, 10*time.Millisecond)

	const flips = 50
	var lat []time.Duration
	for i := 0; i < flips; i++ {
		wantOn := i%2 == 0
		start := time.Now()
		if wantOn {
			require.NoError(t, a.On(ctx, Switch{Scope: ScopeOrganization, ID: "o1"}))
		} else {
			require.NoError(t, a.Off(ctx, ScopeOrganization, "o1"))
		}
		for {
			if _, on := b.Check("", "o1"); on == wantOn {
				break
			}
			if time.Since(start) > time.Second {
				t.Fatalf("flip %d (on=%v) not enforced by B within 1s", i, wantOn)
			}
			time.Sleep(50 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("propagation A->B over %d flips: median %v, max %v (including A's write)", flips, lat[flips/2], lat[flips-1])
}

// TestOutage stops Redis under two instances: both keep enforcing the
// last state, log the outage once and report it as stale. Redis comes back
// empty (no persistence): the instances still keep the last state rather
// than lifting every switch. A flip then written straight into Redis,
// without a notification, is picked up by the resync.
func TestOutage(t *testing.T) {
	inst := redistest.Private(t)
	prefix := inst.Prefix(t)
	logger, logs := newLogRecorder()
	cfg := Config{Prefix: prefix, ResyncInterval: 100 * time.Millisecond, Timeout: 300 * time.Millisecond, Logger: logger}
	a := newStore(t, newClientNoRetry(t, inst), cfg)
	b := newStore(t, newClientNoRetry(t, inst), cfg)
	ctx := context.Background()

	require.NoError(t, a.On(ctx, Switch{Scope: ScopeOrganization, ID: "o1", Reason: "before outage"}))
	require.Eventually(t, func() bool { return enforced(b) == ScopeOrganization }, time.Second, time.Millisecond)
	synced := b.LastSync()

	inst.Stop(t)
	require.Error(t, a.On(ctx, Switch{Scope: ScopeGlobal}), "a write during the outage fails")
	_, err := a.List(ctx)
	require.Error(t, err)
	require.Eventually(t, func() bool { return a.Stale() && b.Stale() }, 3*time.Second, 10*time.Millisecond)
	frozen := b.LastSync()
	require.False(t, frozen.Before(synced))
	waitLoads(t, 5, a, b) // several failed resyncs
	for _, src := range []*Store{a, b} {
		assert.Equal(t, ScopeOrganization, enforced(src), "last-known-good state is enforced")
		assert.True(t, src.Stale())
	}
	assert.True(t, frozen.Equal(b.LastSync()), "LastSync stays at the last successful load")
	outage := logs.matching("enforcing the last known state")
	require.Len(t, outage, 2, "one outage line per instance, however many resyncs failed")
	for _, l := range outage {
		assert.Equal(t, slog.LevelError, l.level)
		assert.Equal(t, "killswitch", l.attrs["component"])
		assert.NotEmpty(t, l.attrs["error"])
	}

	inst.Start(t) // empty: the restarted server lost the hash
	// It heals by itself: the first instance to resync writes its last
	// known state back (once: the script only writes a missing hash), the
	// switches stay on throughout, and both instances are current again.
	direct := redis.NewClient(&redis.Options{Addr: inst.Addr(), ContextTimeoutEnabled: true})
	defer direct.Close()
	require.Eventually(t, func() bool { return !a.Stale() && !b.Stale() }, 3*time.Second, 5*time.Millisecond)
	for _, src := range []*Store{a, b} {
		assert.Equal(t, ScopeOrganization, enforced(src), "a Redis that lost its data does not lift the switches")
		assert.Equal(t, []Switch{{Scope: ScopeOrganization, ID: "o1", Reason: "before outage"}}, withoutAt(src.Enforced()))
	}
	hash, err := direct.HGetAll(ctx, prefix+"switches").Result()
	require.NoError(t, err)
	assert.Contains(t, hash, "organization:o1", "the state is back in Redis")
	assert.Equal(t, "1", hash[revField], "re-seeded once")
	assert.Len(t, logs.matching("re-seeded it"), 1)
	assert.Len(t, logs.matching("outage over"), 2)

	// A flip written directly into Redis: no notification, only the resync
	// can find it.
	require.NoError(t, direct.HSet(ctx, prefix+"switches", "key:k1", `{"reason":"set by hand"}`).Err())
	require.Eventually(t, func() bool { return len(a.Enforced()) == 2 && len(b.Enforced()) == 2 }, 2*time.Second, 5*time.Millisecond)

	// Pub/sub works again after the restart: go-redis resubscribed.
	require.NoError(t, a.Off(ctx, ScopeOrganization, "o1"))
	require.NoError(t, a.Off(ctx, ScopeKey, "k1"))
	require.Eventually(t, func() bool { return enforced(b) == "" }, time.Second, time.Millisecond)
}

// withoutAt returns switches with their At cleared, for comparisons.
func withoutAt(switches []Switch) []Switch {
	out := make([]Switch, len(switches))
	for i, s := range switches {
		s.At = time.Time{}
		out[i] = s
	}
	return out
}

// TestWriteAfterDataLoss: a flip written while the hash is gone (Redis
// lost its data, no resync has noticed yet) first puts the known state back,
// so the fleet ends up with the old switches and the new one, not with the
// new one alone.
func TestWriteAfterDataLoss(t *testing.T) {
	inst := redistest.Server(t)
	prefix := inst.Prefix(t)
	client := inst.Client(t)
	cfg := Config{Prefix: prefix, ResyncInterval: time.Hour, Logger: discard}
	a := newStore(t, client, cfg)
	b := newStore(t, client, cfg)
	ctx := context.Background()
	require.NoError(t, a.On(ctx, Switch{Scope: ScopeOrganization, ID: "o1", Reason: "before the loss"}))
	require.Eventually(t, func() bool { return enforced(b) == ScopeOrganization }, 5*time.Second, time.Millisecond)

	require.NoError(t, client.Del(ctx, prefix+"switches").Err()) // the data is lost
	require.NoError(t, a.On(ctx, Switch{Scope: ScopeKey, ID: "k2", Reason: "after the loss"}))

	hash, err := client.HGetAll(ctx, prefix+"switches").Result()
	require.NoError(t, err)
	assert.Contains(t, hash, "organization:o1", "the known state was put back before the write")
	assert.Contains(t, hash, "key:k2")
	require.Eventually(t, func() bool { return len(b.Enforced()) == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, ScopeOrganization, enforced(b), "o1 is still switched off everywhere")
	_, on := b.Check("k2", "")
	assert.True(t, on)
}

// newClientNoRetry returns a client that fails fast while Redis is down.
func newClientNoRetry(t *testing.T, inst *redistest.Instance) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: inst.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestStartupPolicy(t *testing.T) {
	for _, tt := range []struct {
		policy StartupPolicy
		want   Scope
		log    string
	}{
		{StartOpen, "", "KILL SWITCH STARTING OPEN"},
		{StartClosed, ScopeGlobal, "KILL SWITCH STARTING CLOSED"},
	} {
		t.Run(tt.log, func(t *testing.T) {
			inst := redistest.Private(t)
			prefix := inst.Prefix(t)
			seed := newClientNoRetry(t, inst)
			require.NoError(t, seed.HSet(context.Background(), prefix+"switches", "key:k1", "{}").Err())
			inst.Stop(t) // the state is lost, but the instance cannot know yet
			logger, logs := newLogRecorder()
			r := newStore(t, newClientNoRetry(t, inst), Config{
				Prefix: prefix, Startup: tt.policy,
				ResyncInterval: 100 * time.Millisecond, Timeout: 300 * time.Millisecond, Logger: logger,
			})
			assert.False(t, r.Loaded())
			assert.True(t, r.Stale())
			assert.True(t, r.LastSync().IsZero())
			assert.Equal(t, tt.want, enforced(r))
			startup := logs.matching(tt.log)
			require.Len(t, startup, 1)
			assert.Equal(t, slog.LevelError, startup[0].level)
			assert.Equal(t, prefix+"switches", startup[0].attrs["key"])

			inst.Start(t)
			require.NoError(t, seed.HSet(context.Background(), prefix+"switches", "key:k1", "{}").Err())
			require.Eventually(t, func() bool { return enforced(r) == ScopeKey }, 3*time.Second, 5*time.Millisecond)
			assert.True(t, r.Loaded())
			assert.False(t, r.Stale())
			assert.Len(t, logs.matching("loaded from Redis for the first time"), 1)
		})
	}
}

func TestEmptyHashIsNotAnOutage(t *testing.T) {
	inst := redistest.Server(t)
	r := newStore(t, inst.Client(t), Config{Prefix: inst.Prefix(t), ResyncInterval: 20 * time.Millisecond, Logger: discard})
	require.True(t, r.Loaded(), "a fleet that never flipped anything loads as empty")
	waitLoads(t, 5, r)
	assert.False(t, r.Stale())
	// Turning the last switch off leaves the hash (with its _rev) in place.
	ctx := context.Background()
	require.NoError(t, r.On(ctx, Switch{Scope: ScopeKey, ID: "k1"}))
	require.NoError(t, r.Off(ctx, ScopeKey, "k1"))
	waitLoads(t, 5, r)
	assert.False(t, r.Stale())
	assert.Equal(t, Scope(""), enforced(r))
}

func TestUndecodableFields(t *testing.T) {
	inst := redistest.Server(t)
	client := inst.Client(t)
	prefix := inst.Prefix(t)
	ctx := context.Background()
	require.NoError(t, client.HSet(ctx, prefix+"switches",
		"key:k1", "1", // bare value: on
		"project:p1", "{}", // unknown scope: ignored
		"key:", "{}", // no id: ignored
		"organization:o2", `{"expectedDurationMs":5000}`, // duration only kept on global
	).Err())
	logger, logs := newLogRecorder()
	r := newStore(t, client, Config{Prefix: prefix, Logger: logger})
	assert.Equal(t, []Switch{
		{Scope: ScopeOrganization, ID: "o2"},
		{Scope: ScopeKey, ID: "k1", Reason: "(set directly in Redis)"},
	}, r.Enforced())
	bad := logs.matching("undecodable")
	require.Len(t, bad, 1)
	assert.Equal(t, slog.LevelWarn, bad[0].level)
	got := slices.Clone(bad[0].attrs["fields"].([]string))
	slices.Sort(got)
	assert.Equal(t, []string{"key:", "project:p1"}, got)
}

func TestCloseStopsGoroutines(t *testing.T) {
	inst := redistest.Server(t)
	client := inst.Client(t)
	require.NoError(t, client.Ping(context.Background()).Err())
	ignore := goleak.IgnoreCurrent()

	r, err := New(client, Config{Prefix: inst.Prefix(t), Logger: discard})
	require.NoError(t, err)
	require.NoError(t, r.On(context.Background(), Switch{Scope: ScopeGlobal}))
	require.NoError(t, r.Close())
	require.NoError(t, r.Close(), "Close is idempotent")
	goleak.VerifyNone(t, ignore)
	assert.Equal(t, ScopeGlobal, enforced(r), "after Close the last state is still answered")

	// A Store that never reached Redis stops as well.
	down := redistest.Private(t)
	c := newClientNoRetry(t, down)
	down.Stop(t)
	ignore = goleak.IgnoreCurrent()
	r, err = New(c, Config{Prefix: down.Prefix(t), Logger: discard, ResyncInterval: 10 * time.Millisecond, Timeout: 100 * time.Millisecond})
	require.NoError(t, err)
	waitLoads(t, 3, r)
	require.NoError(t, r.Close())
	goleak.VerifyNone(t, ignore)
}

func TestNewConfigErrors(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer c.Close()
	noCtxTimeouts := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer noCtxTimeouts.Close()
	tests := []struct {
		name   string
		client redis.UniversalClient
		cfg    Config
		is     error
	}{
		{"nil client", nil, Config{}, nil},
		{"typed nil client", (*redis.Client)(nil), Config{}, nil},
		{"client ignores context deadlines", noCtxTimeouts, Config{}, ErrContextTimeoutDisabled},
		{"negative resync", c, Config{ResyncInterval: -1}, nil},
		{"negative timeout", c, Config{Timeout: -1}, nil},
		{"negative stale after", c, Config{StaleAfter: -1}, nil},
		{"unknown startup policy", c, Config{Startup: 7}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s *Store
			var err error
			require.NotPanics(t, func() { s, err = New(tt.client, tt.cfg) })
			require.Error(t, err)
			assert.Nil(t, s)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
		})
	}
}

// TestNewBoundedByTimeout: a Redis that accepts connections and never
// answers delays New by about Timeout, not by the client's own read
// timeout, and the startup policy then applies.
func TestNewBoundedByTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // never accepted: the kernel completes the handshake, nothing answers
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	client := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1, ReadTimeout: time.Minute, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	logger, logs := newLogRecorder()

	start := time.Now()
	r := newStore(t, client, Config{Timeout: 200 * time.Millisecond, Startup: StartClosed, Logger: logger})
	elapsed := time.Since(start)

	assert.Less(t, elapsed, 5*time.Second, "New waited for the client's read timeout")
	assert.False(t, r.Loaded())
	assert.Equal(t, ScopeGlobal, enforced(r), "fail-closed until the first load")
	assert.Len(t, logs.matching("KILL SWITCH STARTING CLOSED"), 1)
}

func TestDecodeEntry(t *testing.T) {
	at := time.Date(2026, 4, 18, 14, 0, 0, 0, time.UTC)
	full, _ := json.Marshal(encodeEntry(Switch{Scope: ScopeGlobal, Reason: "r", By: "b", At: at, ExpectedDuration: 1500 * time.Millisecond}))
	tests := []struct {
		field, value string
		want         Switch
		ok           bool
	}{
		{"global", string(full), Switch{Scope: ScopeGlobal, Reason: "r", By: "b", At: at, ExpectedDuration: 1500 * time.Millisecond}, true},
		{"global", "", Switch{Scope: ScopeGlobal, Reason: "(set directly in Redis)"}, true},
		{"global", `{"expectedDurationMs":-5}`, Switch{Scope: ScopeGlobal}, true},
		{"global", `{"expectedDurationMs":9223372036854775807}`, Switch{Scope: ScopeGlobal}, true},
		{"key:k:with:colons", "{}", Switch{Scope: ScopeKey, ID: "k:with:colons"}, true},
		{"organization:o1", `{"reason":"x"}`, Switch{Scope: ScopeOrganization, ID: "o1", Reason: "x"}, true},
		{"key:k1", `{"reason":"` + strings.Repeat("r", killswitch.MaxReasonLength-1) + `é","by":"` + strings.Repeat("b", 2000) + `"}`,
			Switch{Scope: ScopeKey, ID: "k1", Reason: strings.Repeat("r", killswitch.MaxReasonLength-1), By: strings.Repeat("b", killswitch.MaxReasonLength)}, true},
		{"global:x", "{}", Switch{}, false},
		{"key", "{}", Switch{}, false},
		{"key:", "{}", Switch{}, false},
		{"key:a b", "{}", Switch{}, false},
		{"team:t", "{}", Switch{}, false},
		{"", "", Switch{}, false},
	}
	for _, tt := range tests {
		got, err := decodeEntry(tt.field, tt.value)
		if !tt.ok {
			assert.ErrorIs(t, err, killswitch.ErrInvalidSwitch, tt.field)
			continue
		}
		require.NoError(t, err, tt.field)
		assert.Equal(t, tt.want, got, tt.field)
		assert.NoError(t, got.Validate(), tt.field)
	}
}

// waitLoads waits until each store has made n more load attempts (resyncs,
// successful or not) than when it was called.
func waitLoads(t *testing.T, n int64, stores ...*Store) {
	t.Helper()
	base := make([]int64, len(stores))
	for i, s := range stores {
		base[i] = s.loads.Load()
	}
	require.Eventually(t, func() bool {
		for i, s := range stores {
			if s.loads.Load() < base[i]+n {
				return false
			}
		}
		return true
	}, 10*time.Second, time.Millisecond)
}
