package redistest_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/internal/redistest"
)

// TestPauseResume: a paused server accepts connections but answers
// nothing, keeps its data, and runs what was queued once resumed.
func TestPauseResume(t *testing.T) {
	srv := redistest.Private(t)
	c := srv.Client(t)
	ctx := context.Background()
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())

	srv.Pause(t)
	srv.Pause(t) // idempotent
	conn, err := net.DialTimeout("tcp", srv.Addr(), time.Second)
	require.NoError(t, err, "the port stays open while paused")
	_ = conn.Close()
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err = c.Set(tctx, "queued", "1", 0).Err()
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "a paused server answers nothing")

	srv.Resume(t)
	srv.Resume(t) // idempotent
	got, err := c.Get(ctx, "k").Result()
	require.NoError(t, err)
	assert.Equal(t, "v", got, "pausing keeps the data")
	require.Eventually(t, func() bool {
		return c.Get(ctx, "queued").Val() == "1"
	}, 5*time.Second, 10*time.Millisecond, "the command sent while paused ran once resumed")
}

// TestPauseResumedByCleanup: a test that ends with its server paused does
// not leave it stopped (the cleanup resumes, then kills it).
func TestPauseResumedByCleanup(t *testing.T) {
	var srv *redistest.Instance
	t.Run("inner", func(t *testing.T) {
		srv = redistest.Private(t)
		srv.Pause(t)
	})
	_, err := net.DialTimeout("tcp", srv.Addr(), time.Second)
	assert.Error(t, err, "the server is gone after its test")
}

// TestCluster: the cluster serves every slot, and keys of one hash tag live
// on one node while different tags spread over the masters.
func TestCluster(t *testing.T) {
	cl := redistest.Cluster(t)
	require.GreaterOrEqual(t, len(cl.Addrs()), 3)
	c := cl.Client(t)
	ctx := context.Background()
	info, err := c.ClusterInfo(ctx).Result()
	require.NoError(t, err)
	assert.Contains(t, info, "cluster_state:ok")
	assert.Contains(t, info, "cluster_slots_ok:16384")
	var masters atomic.Int64 // ForEachMaster runs concurrently
	require.NoError(t, c.ForEachMaster(ctx, func(ctx context.Context, _ *redis.Client) error {
		masters.Add(1)
		return nil
	}))
	assert.GreaterOrEqual(t, masters.Load(), int64(3))
	p := cl.Prefix(t)
	for i := range 20 {
		require.NoError(t, c.Set(ctx, p+string(rune('a'+i)), i, time.Minute).Err())
	}
	require.NoError(t, c.Set(ctx, p+"{tag}a", 1, time.Minute).Err())
	require.NoError(t, c.Set(ctx, p+"{tag}b", 2, time.Minute).Err())
	n, err := c.Eval(ctx, "return redis.call('GET', KEYS[1]) + redis.call('GET', KEYS[2])", []string{p + "{tag}a", p + "{tag}b"}).Int()
	require.NoError(t, err, "keys of one hash tag share a slot")
	assert.Equal(t, 3, n)
}
