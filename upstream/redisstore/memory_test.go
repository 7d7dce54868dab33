package redisstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/upstream/redisstore"
)

// TestMemoryPerKey measures the circuits hash (MEMORY USAGE, Redis 7) with
// 1 and 50 open circuits, for the figures in docs/operations.md. Run with
// -v to see them:
//
//	go test -run TestMemoryPerKey -v ./upstream/redisstore
func TestMemoryPerKey(t *testing.T) {
	inst := redistest.Private(t)
	c := inst.Client(t)
	s, err := redisstore.New(c, redisstore.Config{Logger: discard})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	ctx := context.Background()
	sizes := map[int]int64{}
	for i := 1; i <= 50; i++ {
		require.NoError(t, s.Trip(ctx, "tiktok:resource-"+strconv.Itoa(i), t0, t0.Add(30*time.Second)))
		if i == 1 || i == 50 {
			used, err := c.MemoryUsage(ctx, redisstore.DefaultPrefix+"circuits", 0).Result()
			require.NoError(t, err)
			sizes[i] = used
			t.Logf("%d open circuit(s): %d bytes (MEMORY USAGE %scircuits SAMPLES 0)", i, used, redisstore.DefaultPrefix)
		}
	}
	assert.Less(t, sizes[1], int64(500))
	assert.Less(t, sizes[50], int64(50*150))
}
