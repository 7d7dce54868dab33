package redisstore

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/internal/redistest"
)

// keysPerMaster returns, for each master of the cluster, an idempotency
// key (as the Guard hands it to the store) whose Redis key it serves.
func keysPerMaster(t *testing.T, c *redis.ClusterClient, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	var count atomic.Int64 // ForEachMaster runs concurrently
	require.NoError(t, c.ForEachMaster(ctx, func(context.Context, *redis.Client) error { count.Add(1); return nil }))
	masters := int(count.Load())
	keys := map[string]string{}
	for i := 0; i < 1000 && len(keys) < masters; i++ {
		k := "key-" + strconv.Itoa(i)
		m, err := c.MasterForKey(ctx, prefix+k)
		require.NoError(t, err)
		if _, ok := keys[m.Options().Addr]; !ok {
			keys[m.Options().Addr] = k
		}
	}
	require.Len(t, keys, masters)
	return keys
}

// TestClusterOneMasterDown stalls one master of a real three-master
// cluster (SIGSTOP). Acquisitions of keys on the other masters keep
// succeeding at once throughout; keys on the stalled one wait out their
// deadline FailAfter times, although successes on the others come in
// between, and then fail fast. One background round releases the pending
// leases of the healthy masters and keeps the stalled one's. When the
// master answers again its keys are served again.
func TestClusterOneMasterDown(t *testing.T) {
	cl := redistest.PrivateCluster(t)
	c := cl.Client(t)
	prefix := cl.Prefix(t)
	rec := &recorder{}
	s, err := New(c, Config{Prefix: prefix, Timeout: 100 * time.Millisecond, CheckInterval: time.Hour,
		FailAfter: 3, ProbeInterval: 10 * time.Millisecond, Logger: rec.logger(), Events: rec.hook})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.Eventually(t, func() bool { return s.rounds.Load() >= 1 }, 10*time.Second, 5*time.Millisecond,
		"the start-up checks are done before a master stalls")
	holdReleases(s)
	keys := keysPerMaster(t, c, prefix)
	ctx := context.Background()
	for _, k := range keys { // warm-up: scripts and every master's clock
		_, err := s.Acquire(ctx, k, "owner", "sha256:f", time.Hour)
		require.NoError(t, err)
	}

	dead := cl.Addrs()[0]
	node := cl.Node(t, dead)
	node.Pause(t)
	acquire := func(k string) (time.Duration, error) {
		actx, cancel := context.WithTimeout(ctx, acquireTimeout)
		defer cancel()
		start := time.Now()
		_, err := s.Acquire(actx, k, "owner", "sha256:f", time.Hour)
		return time.Since(start), err
	}
	for round := range 4 {
		for addr, k := range keys {
			took, err := acquire(k)
			switch {
			case addr != dead:
				require.NoError(t, err, "round %d: %s", round, addr)
				assert.Less(t, took, acquireTimeout/2, "round %d: %s", round, addr)
			case round < 3:
				require.Error(t, err, "round %d", round)
				assert.NotErrorIs(t, err, ErrUnavailable, "round %d: Redis was asked", round)
				assert.GreaterOrEqual(t, took, acquireTimeout-10*time.Millisecond, "round %d", round)
			default:
				require.ErrorIs(t, err, ErrUnavailable, "after FailAfter failures")
				assert.Contains(t, err.Error(), "node "+dead)
				assert.Less(t, took, 20*time.Millisecond, "fails fast")
			}
		}
	}
	failing := rec.logged(t, "Redis is failing")
	require.Len(t, failing, 1)
	assert.Equal(t, dead, failing[0]["node"])

	var live string
	for addr, k := range keys {
		if addr != dead {
			live = k
			break
		}
	}
	pendingBefore := pendingReleases(s) // the stalled master's failed acquisitions
	require.NotEmpty(t, pendingBefore)
	addPending(s, pending{key: live, token: "owner"})
	releaseNow(ctx, s)
	assert.Equal(t, pendingBefore, pendingReleases(s), "the stalled master's entries are kept, the live one released")
	n, err := c.Exists(ctx, prefix+live).Result()
	require.NoError(t, err)
	assert.Zero(t, n)

	node.Resume(t)
	require.Eventually(t, func() bool { return !s.gate.Down() }, 10*time.Second, 10*time.Millisecond)
	_, err = acquire(keys[dead])
	require.NoError(t, err)
	assert.Len(t, rec.logged(t, "Redis answers again"), 1)
}
