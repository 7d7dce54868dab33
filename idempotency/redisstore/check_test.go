package redisstore

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/internal/redisclient"
	"github.com/layershq/errkit/internal/redistest"
)

// recorder collects a store's log lines and events; safe for the store's
// goroutines.
type recorder struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	events []event.Event
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *recorder) hook(_ context.Context, e event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(r, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lines returns the parsed log lines.
func (r *recorder) lines(t *testing.T) []map[string]any {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(r.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		out = append(out, m)
	}
	return out
}

// logged returns the log lines whose message starts with prefix.
func (r *recorder) logged(t *testing.T, prefix string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range r.lines(t) {
		if strings.HasPrefix(m["msg"].(string), prefix) {
			out = append(out, m)
		}
	}
	return out
}

// outcomes returns the outcomes of the KindStore events.
func (r *recorder) outcomes() []event.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event.Outcome
	for _, e := range r.events {
		if e.Kind == event.KindStore {
			out = append(out, e.Outcome)
		}
	}
	return out
}

func (r *recorder) has(o event.Outcome) bool {
	for _, got := range r.outcomes() {
		if got == o {
			return true
		}
	}
	return false
}

const (
	msgNoPersistence = "IDEMPOTENCY REDIS HAS NO PERSISTENCE"
	msgEvicts        = "IDEMPOTENCY REDIS MAY EVICT KEYS"
	msgUnchecked     = "could not check whether Redis persists"
	msgLost          = "IDEMPOTENCY REDIS LOST ITS DATA"
)

// newChecked is New on a private server's client with a fast check
// interval, logging and emitting into rec.
func newChecked(t *testing.T, inst *redistest.Instance, rec *recorder, cfg Config) (*Store, error) {
	t.Helper()
	cfg.Prefix = inst.Prefix(t)
	cfg.CheckInterval = 20 * time.Millisecond
	cfg.Logger = rec.logger()
	cfg.Events = rec.hook
	s, err := New(inst.Client(t), cfg)
	if s != nil {
		t.Cleanup(func() { _ = s.Close() })
	}
	return s, err
}

// TestPersistenceCheck runs the start-up check against real servers
// configured each way: without persistence it is an error line and an
// OutcomeUnsafe event (and New refuses under RequirePersistence); with AOF
// or RDB nothing is said; an eviction policy that can drop keys is loud
// too; a server that refuses CONFIG is reported as unchecked (and refused
// under RequirePersistence).
func TestPersistenceCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		loud   string // the message expected, "" for none
		unsafe bool   // an OutcomeUnsafe event
		strict bool   // New succeeds under RequirePersistence
	}{
		{"none", nil, msgNoPersistence, true, false},
		{"aof", []string{"--appendonly", "yes"}, "", false, true},
		{"rdb", []string{"--save", "3600 1"}, "", false, true},
		{"evicting", []string{"--appendonly", "yes", "--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru"}, msgEvicts, true, true},
		{"noeviction limit", []string{"--appendonly", "yes", "--maxmemory", "64mb", "--maxmemory-policy", "noeviction"}, "", false, true},
		{"config refused", []string{"--rename-command", "CONFIG", ""}, msgUnchecked, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := redistest.PrivateArgs(t, tc.args...)
			rec := &recorder{}
			_, err := newChecked(t, inst, rec, Config{})
			require.NoError(t, err)
			// The marker check follows the persistence check in the same
			// round: once the marker exists, the check has spoken.
			c := inst.Client(t)
			require.Eventually(t, func() bool {
				keys, err := c.Keys(context.Background(), "*marker*").Result()
				return err == nil && len(keys) == 1
			}, 5*time.Second, 10*time.Millisecond)
			for _, msg := range []string{msgNoPersistence, msgEvicts, msgUnchecked} {
				lines := rec.logged(t, msg)
				if msg != tc.loud {
					assert.Empty(t, lines, msg)
					continue
				}
				require.Len(t, lines, 1, msg)
				want := "ERROR"
				if msg == msgUnchecked {
					want = "WARN"
				}
				assert.Equal(t, want, lines[0]["level"])
				assert.Equal(t, inst.Addr(), lines[0]["node"])
				assert.Equal(t, "idempotency.redisstore", lines[0]["component"])
			}
			assert.Equal(t, tc.unsafe, rec.has(event.OutcomeUnsafe))

			strict := &recorder{}
			s, err := newChecked(t, inst, strict, Config{RequirePersistence: true})
			if tc.strict {
				require.NoError(t, err)
				assert.NotNil(t, s)
			} else {
				require.ErrorIs(t, err, ErrNoPersistence)
				assert.Contains(t, err.Error(), inst.Addr())
				assert.Nil(t, s)
			}
		})
	}
}

// TestRequirePersistenceUnreachable: a Redis that cannot be reached can't
// be checked, and RequirePersistence refuses it within Timeout.
func TestRequirePersistenceUnreachable(t *testing.T) {
	inst := redistest.Private(t)
	client := inst.Client(t)
	inst.Stop(t)
	start := time.Now()
	_, err := New(client, Config{RequirePersistence: true, Timeout: 200 * time.Millisecond, Logger: discard})
	require.ErrorIs(t, err, ErrNoPersistence)
	assert.Contains(t, err.Error(), "could not check")
	assert.Less(t, time.Since(start), 5*time.Second)
}

// TestDataLossDetected restarts a real redis-server under a store: without
// persistence the restarted server has lost the marker, which the store
// reports (error line, OutcomeDataLost) and writes again, and a completed
// key is gone (a retry would run again: that is what the report is for);
// with AOF the restart loses nothing and nothing is reported.
func TestDataLossDetected(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		lost bool
	}{
		{"without persistence", nil, true},
		{"with aof", []string{"--appendonly", "yes", "--appendfsync", "always"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := redistest.PrivateArgs(t, tc.args...)
			rec := &recorder{}
			s, err := newChecked(t, inst, rec, Config{FailAfter: -1})
			require.NoError(t, err)
			c := inst.Client(t)
			ctx := context.Background()
			marker := func() int {
				keys, err := c.Keys(ctx, "*marker*").Result()
				if err != nil {
					return -1
				}
				return len(keys)
			}
			require.Eventually(t, func() bool { return marker() == 1 }, 5*time.Second, 10*time.Millisecond)
			// Let one more round see the marker, so the store knows it.
			require.Eventually(t, func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				return len(s.markers) == 1
			}, 5*time.Second, 10*time.Millisecond)
			lk, err := s.Acquire(ctx, "done", "tok", "sha256:f", time.Minute)
			require.NoError(t, err)
			require.Equal(t, idempotency.Acquired, lk.State)
			require.NoError(t, s.Complete(ctx, "done", "tok", idempotency.Record{Fingerprint: "sha256:f", Status: 201}, time.Hour))

			inst.Stop(t)
			inst.Start(t)

			lk, err = s.Acquire(ctx, "probe", "tok2", "sha256:g", time.Minute)
			require.NoError(t, err)
			require.Equal(t, idempotency.Acquired, lk.State)
			if !tc.lost {
				lk, err = s.Acquire(ctx, "done", "tok3", "sha256:f", time.Minute)
				require.NoError(t, err)
				assert.Equal(t, idempotency.Completed, lk.State, "AOF kept the completed key")
				// Several check rounds pass without a report.
				after := s.rounds.Load()
				require.Eventually(t, func() bool { return s.rounds.Load() >= after+3 }, 5*time.Second, 10*time.Millisecond)
				assert.Equal(t, 1, marker())
				assert.Empty(t, rec.logged(t, msgLost))
				assert.False(t, rec.has(event.OutcomeDataLost))
				return
			}
			require.Eventually(t, func() bool { return len(rec.logged(t, msgLost)) == 1 }, 5*time.Second, 10*time.Millisecond)
			line := rec.logged(t, msgLost)[0]
			assert.Equal(t, "ERROR", line["level"])
			assert.True(t, rec.has(event.OutcomeDataLost))
			require.Eventually(t, func() bool { return marker() == 1 }, 5*time.Second, 10*time.Millisecond, "the marker is written again")
			lk, err = s.Acquire(ctx, "done", "tok3", "sha256:f", time.Minute)
			require.NoError(t, err)
			assert.Equal(t, idempotency.Acquired, lk.State, "the restart forgot the completed key")
			// The persistence check runs again on the restarted server.
			require.Eventually(t, func() bool { return len(rec.logged(t, msgNoPersistence)) == 2 }, 5*time.Second, 10*time.Millisecond)
		})
	}
}

// TestClusterMarkers: on a cluster the store keeps one marker per master,
// each in a slot that master serves.
func TestClusterMarkers(t *testing.T) {
	cl := redistest.Cluster(t)
	c := cl.Client(t)
	prefix := cl.Prefix(t)
	s, err := New(c, Config{Prefix: prefix, CheckInterval: 20 * time.Millisecond, Logger: discard})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	var masters []string
	require.NoError(t, c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		s.mu.Lock() // only to serialise the append: ForEachMaster is concurrent
		masters = append(masters, m.Options().Addr)
		s.mu.Unlock()
		return nil
	}))
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.markers) == len(masters)
	}, 10*time.Second, 10*time.Millisecond)
	nodes := map[string]bool{}
	s.mu.Lock()
	keys := make([]string, 0, len(s.markers))
	for k := range s.markers {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	for _, k := range keys {
		assert.True(t, strings.HasPrefix(k, prefix+"marker:{m"), k)
		node, err := c.MasterForKey(ctx, k)
		require.NoError(t, err)
		n, err := node.Exists(ctx, k).Result()
		require.NoError(t, err)
		assert.Equal(t, int64(1), n, "%s lives on %s", k, node.Options().Addr)
		nodes[node.Options().Addr] = true
		slot, err := c.ClusterKeySlot(ctx, k).Result()
		require.NoError(t, err)
		assert.Equal(t, int(slot), redisclient.Slot(k))
	}
	assert.Len(t, nodes, len(masters), "one marker per master")
}
