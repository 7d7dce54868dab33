package redisstore

import (
	"context"
	"errors"
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
	"github.com/layershq/errkit/ratelimit/internal/storetest"
)

// redisClient returns a client of inst that honours context deadlines,
// closed when the test ends.
func redisClient(t *testing.T, inst *redistest.Instance) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(inst.URL())
	require.NoError(t, err)
	opts.ContextTimeoutEnabled = true
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newStore returns a store on its own client of inst under prefix. Its
// timeout is generous: these tests are about decisions, not deadlines, and
// run on loaded machines under the race detector (the outage test sets a
// short one).
func newStore(t *testing.T, inst *redistest.Instance, prefix string) (*Store, *redis.Client) {
	t.Helper()
	c := redisClient(t, inst)
	return newStoreOn(t, c, prefix), c
}

// newStoreOn is New on client under prefix, closed when the test ends.
func newStoreOn(t *testing.T, c redis.UniversalClient, prefix string) *Store {
	t.Helper()
	s, err := New(c, Config{Prefix: prefix, Timeout: 10 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// forEachRedis runs f on a single Redis server and on a three-master Redis
// Cluster, each with a client of its own and a fresh prefix.
func forEachRedis(t *testing.T, f func(t *testing.T, c redis.UniversalClient, prefix string)) {
	t.Run("single", func(t *testing.T) {
		t.Parallel()
		inst := redistest.Server(t)
		f(t, redisClient(t, inst), inst.Prefix(t))
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		cl := redistest.Cluster(t)
		f(t, cl.Client(t), cl.Prefix(t))
	})
}

func TestStoreDecisions(t *testing.T) {
	t.Parallel()
	forEachRedis(t, testStoreDecisions)
}

func testStoreDecisions(t *testing.T, c redis.UniversalClient, prefix string) {
	s := newStoreOn(t, c, prefix)
	ctx := context.Background()
	// 1 token per 10 s keeps real time negligible against the figures.
	class := ratelimit.Class{Name: "read", Rate: ratelimit.Rate{PerSecond: 0.1, Burst: 3}}
	for i, want := range []int{2, 1, 0} {
		d, err := s.Allow(ctx, "key_1", class, 1)
		require.NoError(t, err)
		assert.True(t, d.Allowed, "request %d", i)
		assert.Equal(t, 3, d.Limit)
		assert.Equal(t, want, d.Remaining, "request %d", i)
		assert.Zero(t, d.RetryAfter)
		assert.InDelta(t, float64(time.Duration(i+1)*10*time.Second), float64(d.ResetAfter), float64(time.Second))
	}
	d, err := s.Allow(ctx, "key_1", class, 1)
	require.NoError(t, err)
	assert.False(t, d.Allowed)
	assert.Equal(t, 0, d.Remaining)
	assert.InDelta(t, float64(10*time.Second), float64(d.RetryAfter), float64(time.Second))
	assert.LessOrEqual(t, d.RetryAfter, 10*time.Second)

	// One key per bucket, expiring when the bucket is full again.
	key := s.Key("key_1", "read")
	assert.True(t, strings.HasSuffix(key, ":read:{key_1}"), key)
	ttl, err := c.PTTL(ctx, key).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 29*time.Second)
	assert.LessOrEqual(t, ttl, 30*time.Second)

	// Other keys and classes are other buckets.
	for _, k := range []struct{ key, class string }{{"key_2", "read"}, {"key_1", "write"}} {
		d, err := s.Allow(ctx, k.key, ratelimit.Class{Name: k.class, Rate: class.Rate}, 3)
		require.NoError(t, err)
		assert.True(t, d.Allowed, "%v", k)
		assert.Equal(t, 0, d.Remaining, "%v", k)
	}

	_, err = s.Allow(ctx, "key_1", class, 4)
	assert.ErrorIs(t, err, ratelimit.ErrInvalidCost)
	require.NoError(t, s.Close())
	_, err = s.Allow(ctx, "key_1", class, 1)
	assert.ErrorIs(t, err, ratelimit.ErrClosed)
}

// TestStoreOneRoundTrip counts the commands go-redis sends, at the
// hook: exactly one per decision once Redis has the script.
func TestStoreOneRoundTrip(t *testing.T) {
	t.Parallel()
	inst := redistest.Server(t)
	s, c := newStore(t, inst, inst.Prefix(t))
	hook := &countingHook{}
	c.AddHook(hook)
	ctx := context.Background()
	class := ratelimit.Class{Name: "read", Rate: ratelimit.Rate{PerSecond: 100, Burst: 10}}
	// The first decision also dials (HELLO, CLIENT SETINFO) and may need
	// EVAL after EVALSHA answers NOSCRIPT.
	_, err := s.Allow(ctx, "warmup", class, 1)
	require.NoError(t, err)
	hook.cmds.Store(0)
	hook.pipelines.Store(0)
	const n = 200
	for i := range n {
		_, err := s.Allow(ctx, "key_"+strconv.Itoa(i%7), class, 1)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(n), hook.cmds.Load(), "commands for %d decisions", n)
	assert.Zero(t, hook.pipelines.Load())
}

// TestStoreStagger: 20 callers denied together get staggered retry
// times, and a caller that waits exactly retryAfterMs is admitted.
func TestStoreStagger(t *testing.T) {
	t.Parallel()
	inst := redistest.Server(t)
	s, _ := newStore(t, inst, inst.Prefix(t))
	ctx := context.Background()
	// Interval 1s (long against a loaded test machine), burst 20: step =
	// one interval.
	class := ratelimit.Class{Name: "write", Rate: ratelimit.Rate{PerSecond: 1, Burst: 20}}
	for range 20 {
		d, err := s.Allow(ctx, "k", class, 1)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	distinct := map[int64]bool{}
	var retries []time.Duration
	for range 20 {
		d, err := s.Allow(ctx, "k", class, 1)
		require.NoError(t, err)
		require.False(t, d.Allowed)
		retries = append(retries, d.RetryAfter)
		distinct[(d.RetryAfter + time.Millisecond - 1).Milliseconds()] = true
	}
	assert.GreaterOrEqual(t, len(distinct), 5, "distinct retryAfterMs: %v", retries)
	for i, r := range retries {
		// Caller i is i%16 intervals behind the next token, which is at
		// most one interval away (real time passes between calls).
		slot := time.Duration(i%ratelimit.StaggerSlots) * time.Second
		assert.Greater(t, r, slot, "caller %d", i)
		assert.LessOrEqual(t, r, slot+time.Second, "caller %d", i)
	}

	// Honesty on real time: wait exactly retryAfterMs, then pass.
	one := ratelimit.Class{Name: "honest", Rate: ratelimit.Rate{PerSecond: 10, Burst: 1}}
	for round := range 3 {
		d, err := s.Allow(ctx, "h", one, 1)
		require.NoError(t, err)
		if d.Allowed {
			d, err = s.Allow(ctx, "h", one, 1)
			require.NoError(t, err)
		}
		require.False(t, d.Allowed)
		wait := (d.RetryAfter + time.Millisecond - 1) / time.Millisecond * time.Millisecond
		time.Sleep(wait)
		d, err = s.Allow(ctx, "h", one, 1)
		require.NoError(t, err)
		assert.True(t, d.Allowed, "round %d: denied after waiting retryAfterMs=%v", round, wait)
	}
}

// TestStoreExact hammers one bucket through one store, then through a
// fleet of two stores with their own clients sharing one Redis (a single
// server, and a cluster).
func TestStoreExact(t *testing.T) {
	t.Parallel()
	t.Run("single", func(t *testing.T) {
		t.Parallel()
		inst := redistest.Server(t)
		testStoreExact(t, func() redis.UniversalClient { return redisClient(t, inst) }, inst.Prefix(t))
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		cl := redistest.Cluster(t)
		testStoreExact(t, func() redis.UniversalClient { return cl.Client(t) }, cl.Prefix(t))
	})
}

func testStoreExact(t *testing.T, client func() redis.UniversalClient, prefix string) {
	class := ratelimit.Class{Name: "write", Rate: ratelimit.Rate{PerSecond: 200, Burst: 20}}
	t.Run("one", func(t *testing.T) {
		s := newStoreOn(t, client(), prefix+"one:")
		admitted, elapsed := storetest.Hammer(t, 2*time.Second, 8, func(ctx context.Context) (bool, error) {
			d, err := s.Allow(ctx, "key_exact", class, 1)
			return d.Allowed, err
		})
		storetest.AssertExact(t, class.Rate.PerSecond, class.Rate.Burst, admitted, elapsed)
	})
	t.Run("fleet", func(t *testing.T) {
		a := newStoreOn(t, client(), prefix+"fleet:")
		b := newStoreOn(t, client(), prefix+"fleet:")
		var n atomic.Int64
		admitted, elapsed := storetest.Hammer(t, 2*time.Second, 8, func(ctx context.Context) (bool, error) {
			// Alternate servers per call: each goroutine uses both.
			s := a
			if n.Add(1)%2 == 0 {
				s = b
			}
			d, err := s.Allow(ctx, "key_exact", class, 1)
			return d.Allowed, err
		})
		storetest.AssertExact(t, class.Rate.PerSecond, class.Rate.Burst, admitted, elapsed)
	})
}

func TestNewConfig(t *testing.T) {
	plain := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer plain.Close()
	_, err := New(plain, Config{})
	assert.ErrorIs(t, err, ErrContextTimeoutDisabled)

	ok := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer ok.Close()
	for _, cfg := range []Config{{Prefix: "a{b"}, {Prefix: "}"}, {Timeout: -time.Second}} {
		_, err := New(ok, cfg)
		assert.Error(t, err, "%+v", cfg)
	}
	_, err = New(nil, Config{})
	assert.Error(t, err)
	s, err := New(ok, Config{})
	require.NoError(t, err)
	assert.Equal(t, DefaultPrefix+"read:{k}", s.Key("k", "read"))

	// Nothing listens on port 1: a store error, never a denial.
	d, err := s.Allow(context.Background(), "k", ratelimit.Class{Name: "read", Rate: ratelimit.Rate{PerSecond: 1, Burst: 1}}, 1)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "ratelimit/redisstore: "), err.Error())
	assert.False(t, errors.Is(err, ratelimit.ErrClosed))
	assert.Equal(t, ratelimit.Decision{}, d)
}
