package redisstore

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/ratelimit"
)

// TestClusterOneMasterDown stalls one master of a real three-master
// cluster (SIGSTOP). Decisions on keys of the other masters keep
// succeeding at once throughout; decisions on the stalled one wait out the
// timeout FailAfter times, although successes on the others come in
// between (they used to reset the one failure count of the store, so the
// dead master's callers waited every time), and then fail fast without
// touching the others. When the master answers again its keys are decided
// again.
func TestClusterOneMasterDown(t *testing.T) {
	cl := redistest.PrivateCluster(t)
	c := cl.Client(t)
	var logs syncBuffer
	const timeout = 150 * time.Millisecond
	s, err := New(c, Config{Prefix: "test:cluster-outage:", Timeout: timeout, FailAfter: 3,
		ProbeInterval: 10 * time.Millisecond, Logger: jsonLogger(&logs)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	class := ratelimit.Class{Name: "read", Rate: ratelimit.Rate{PerSecond: 1000, Burst: 1000}}

	var count atomic.Int64 // ForEachMaster runs concurrently
	require.NoError(t, c.ForEachMaster(ctx, func(context.Context, *redis.Client) error { count.Add(1); return nil }))
	keys := map[string]string{} // master -> a key ID it serves
	for i := 0; i < 1000 && len(keys) < int(count.Load()); i++ {
		id := "key_" + strconv.Itoa(i)
		m, err := c.MasterForKey(ctx, s.Key(id, class.Name))
		require.NoError(t, err)
		if _, ok := keys[m.Options().Addr]; !ok {
			keys[m.Options().Addr] = id
		}
	}
	require.Len(t, keys, int(count.Load()))
	for _, id := range keys { // warm-up: the script and every master's clock
		_, err := s.Allow(ctx, id, class, 1)
		require.NoError(t, err)
	}

	dead := cl.Addrs()[0]
	node := cl.Node(t, dead)
	node.Pause(t)
	for round := range 4 {
		for addr, id := range keys {
			start := time.Now()
			d, err := s.Allow(ctx, id, class, 1)
			took := time.Since(start)
			switch {
			case addr != dead:
				require.NoError(t, err, "round %d: %s", round, addr)
				assert.True(t, d.Allowed)
				assert.Less(t, took, timeout/2, "round %d: %s", round, addr)
			case round < 3:
				require.Error(t, err, "round %d", round)
				assert.NotErrorIs(t, err, ErrUnavailable, "round %d: Redis was asked", round)
				assert.GreaterOrEqual(t, took, timeout-10*time.Millisecond, "round %d", round)
			default:
				require.ErrorIs(t, err, ErrUnavailable, "after FailAfter failures")
				assert.Contains(t, err.Error(), "node "+dead)
				assert.Less(t, took, 20*time.Millisecond, "fails fast")
			}
		}
	}
	assert.True(t, s.gate.Open(dead))
	assert.Equal(t, []string{dead}, loggedNodes(t, &logs, "Redis is failing"))

	node.Resume(t)
	require.Eventually(t, func() bool { return !s.gate.Down() }, 10*time.Second, 10*time.Millisecond)
	_, err = s.Allow(ctx, keys[dead], class, 1)
	require.NoError(t, err)
	assert.Equal(t, []string{dead}, loggedNodes(t, &logs, "Redis answers again"))
}

// loggedNodes returns the node attribute of the log lines whose message
// starts with prefix.
func loggedNodes(t *testing.T, b *syncBuffer, prefix string) []string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(b.b.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		if strings.HasPrefix(m["msg"].(string), prefix) {
			n, _ := m["node"].(string)
			out = append(out, n)
		}
	}
	return out
}
