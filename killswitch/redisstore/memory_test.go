package redisstore

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/internal/redistest"
)

// TestMemoryPerKey measures the switches hash (MEMORY USAGE, Redis 7) with
// 1 and 100 key switches, for the figures in docs/operations.md. Run with
// -v to see them:
//
//	go test -run TestMemoryPerKey -v ./killswitch/redisstore
func TestMemoryPerKey(t *testing.T) {
	inst := redistest.Private(t)
	c := inst.Client(t)
	s := newStore(t, c, Config{Logger: discard})
	ctx := context.Background()
	sizes := map[int]int64{}
	for i := 1; i <= 100; i++ {
		require.NoError(t, s.On(ctx, Switch{Scope: ScopeKey, ID: "key_" + strconv.Itoa(100000+i), Reason: "abuse report 1234", By: "oncall@example.com"}))
		if i == 1 || i == 100 {
			used, err := c.MemoryUsage(ctx, DefaultPrefix+"switches", 0).Result()
			require.NoError(t, err)
			sizes[i] = used
			t.Logf("%d switch(es): %d bytes (MEMORY USAGE %sswitches SAMPLES 0)", i, used, DefaultPrefix)
		}
	}
	assert.Less(t, sizes[1], int64(500))
	assert.Less(t, sizes[100], int64(100*200))
}
