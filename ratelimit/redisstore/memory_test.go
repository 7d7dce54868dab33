package redisstore

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/ratelimit"
)

// TestMemoryPerKey measures what one bucket costs Redis (MEMORY USAGE,
// which counts the key, the value and the TTL entry; Redis 7, jemalloc),
// for the figures in docs/ratelimit.md. Run with -v to see them:
//
//	go test -run TestMemoryPerKey -v ./ratelimit/redisstore
func TestMemoryPerKey(t *testing.T) {
	inst := redistest.Private(t) // its own server: the default prefix, as in production
	s, c := newStore(t, inst, DefaultPrefix)
	ctx := context.Background()
	class := ratelimit.Class{Name: "write", Rate: ratelimit.Rate{PerSecond: 1, Burst: 10}}
	var total int64
	const n = 100
	for i := range n {
		key := "key_" + strconv.Itoa(100000+i) // a typical API key ID length
		_, err := s.Allow(ctx, key, class, 1)
		require.NoError(t, err)
		used, err := c.MemoryUsage(ctx, s.Key(key, class.Name), 0).Result()
		require.NoError(t, err)
		total += used
	}
	per := total / n
	t.Logf("one bucket (key %q): %d bytes (MEMORY USAGE <key> SAMPLES 0)", s.Key("key_100000", class.Name), per)
	assert.Less(t, per, int64(200), "a bucket is a short string with a TTL")
}
