package redistest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/internal/redistest"
)

// TestPrivateClusterPause: one node of a private cluster can be stalled
// while the others keep serving their slots, and resumed.
func TestPrivateClusterPause(t *testing.T) {
	cl := redistest.PrivateCluster(t)
	require.True(t, cl.IsPrivate())
	c := cl.Client(t)
	ctx := context.Background()
	byNode := map[string]string{}
	for i := 0; i < 1000 && len(byNode) < len(cl.Addrs()); i++ {
		k := "k" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		m, err := c.MasterForKey(ctx, k)
		require.NoError(t, err)
		byNode[m.Options().Addr] = k
	}
	require.Len(t, byNode, len(cl.Addrs()))
	// Before the pause: go-redis loads the command table from one node,
	// chosen at random, on the first command; were it the paused one, a
	// healthy node's first command would wait for it.
	for _, k := range byNode {
		require.NoError(t, c.Set(ctx, k, "v", time.Minute).Err())
	}
	dead := cl.Addrs()[1]
	cl.Node(t, dead).Pause(t)
	for addr, k := range byNode {
		tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := c.Set(tctx, k, "v", time.Minute).Err()
		cancel()
		if addr == dead {
			assert.Error(t, err, "the paused node answers nothing")
		} else {
			assert.NoError(t, err, "%s serves while %s is paused", addr, dead)
		}
	}
	cl.Node(t, dead).Resume(t)
	require.Eventually(t, func() bool { return c.Set(ctx, byNode[dead], "v", time.Minute).Err() == nil },
		10*time.Second, 10*time.Millisecond)
}
