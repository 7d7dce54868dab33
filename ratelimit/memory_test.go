package ratelimit

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/ratelimit/internal/storetest"
)

// fakeClock is an injectable store clock that only moves when told.
type fakeClock struct{ ns atomic.Int64 }

func (f *fakeClock) Now() time.Duration      { return time.Duration(f.ns.Load()) }
func (f *fakeClock) Advance(d time.Duration) { f.ns.Add(int64(d)) }

// newFakeStore returns a memory store on a fake clock without sweeper.
func newFakeStore(t *testing.T, maxKeys int) (*MemoryStore, *fakeClock) {
	t.Helper()
	clk := &fakeClock{}
	clk.Advance(time.Hour) // an arbitrary origin
	s, err := NewMemoryStore(MemoryConfig{MaxKeys: maxKeys, SweepInterval: -1, Clock: clk.Now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, clk
}

func TestMemoryStoreDecisions(t *testing.T) {
	ctx := context.Background()
	// 1 token per second, bursts of 3: interval 1s, window 3s, stagger step
	// min(1s, 3s/16) = 187.5ms.
	class := Class{Name: "read", Rate: Rate{PerSecond: 1, Burst: 3}}
	type step struct {
		advance time.Duration
		cost    int
		want    Decision
	}
	const s = time.Second
	steps := []step{
		{0, 1, Decision{Allowed: true, Limit: 3, Remaining: 2, ResetAfter: 1 * s}},
		{0, 1, Decision{Allowed: true, Limit: 3, Remaining: 1, ResetAfter: 2 * s}},
		{0, 1, Decision{Allowed: true, Limit: 3, Remaining: 0, ResetAfter: 3 * s}},
		{0, 1, Decision{Limit: 3, Remaining: 0, RetryAfter: 1 * s, ResetAfter: 3 * s}},
		{0, 1, Decision{Limit: 3, Remaining: 0, RetryAfter: 1*s + 187500*time.Microsecond, ResetAfter: 3 * s}},
		{500 * time.Millisecond, 1, Decision{Limit: 3, Remaining: 0, RetryAfter: 500*time.Millisecond + 2*187500*time.Microsecond, ResetAfter: 2500 * time.Millisecond}},
		{500 * time.Millisecond, 1, Decision{Allowed: true, Limit: 3, Remaining: 0, ResetAfter: 3 * s}},
		{0, 1, Decision{Limit: 3, Remaining: 0, RetryAfter: 1 * s, ResetAfter: 3 * s}}, // admission reset the line
		{2 * s, 2, Decision{Allowed: true, Limit: 3, Remaining: 0, ResetAfter: 3 * s}},
		{1 * s, 2, Decision{Limit: 3, Remaining: 1, RetryAfter: 1 * s, ResetAfter: 2 * s}},
		{10 * s, 3, Decision{Allowed: true, Limit: 3, Remaining: 0, ResetAfter: 3 * s}},
	}
	st, clk := newFakeStore(t, 0)
	for i, sp := range steps {
		clk.Advance(sp.advance)
		got, err := st.Allow(ctx, "key_1", class, sp.cost)
		require.NoError(t, err, "step %d", i)
		assert.Equal(t, sp.want, got, "step %d", i)
	}
}

func TestMemoryStoreKeysAndClassesAreSeparateBuckets(t *testing.T) {
	ctx := context.Background()
	st, _ := newFakeStore(t, 0)
	read := Class{Name: "read", Rate: Rate{PerSecond: 1, Burst: 1}}
	write := Class{Name: "write", Rate: Rate{PerSecond: 1, Burst: 1}}
	for _, c := range []struct {
		key   string
		class Class
	}{{"a", read}, {"a", write}, {"b", read}, {"ab", read}, {"", read}} {
		d, err := st.Allow(ctx, c.key, c.class, 1)
		require.NoError(t, err)
		assert.True(t, d.Allowed, "first request of (%q, %s)", c.key, c.class.Name)
		d, err = st.Allow(ctx, c.key, c.class, 1)
		require.NoError(t, err)
		assert.False(t, d.Allowed, "second request of (%q, %s)", c.key, c.class.Name)
	}
	assert.Equal(t, 5, st.Len())
}

func TestMemoryStoreInvalidArguments(t *testing.T) {
	ctx := context.Background()
	st, _ := newFakeStore(t, 0)
	ok := Rate{PerSecond: 1, Burst: 2}
	tests := []struct {
		name  string
		class Class
		cost  int
		want  error
	}{
		{"empty name", Class{Name: "", Rate: ok}, 1, ErrInvalidClass},
		{"name with colon", Class{Name: "a:b", Rate: ok}, 1, ErrInvalidClass},
		{"name with quote", Class{Name: `a"`, Rate: ok}, 1, ErrInvalidClass},
		{"long name", Class{Name: string(make([]byte, 65)), Rate: ok}, 1, ErrInvalidClass},
		{"zero rate", Class{Name: "a", Rate: Rate{Burst: 1}}, 1, ErrInvalidClass},
		{"negative rate", Class{Name: "a", Rate: Rate{PerSecond: -1, Burst: 1}}, 1, ErrInvalidClass},
		{"NaN rate", Class{Name: "a", Rate: Rate{PerSecond: nan(), Burst: 1}}, 1, ErrInvalidClass},
		{"infinite rate", Class{Name: "a", Rate: Rate{PerSecond: inf(), Burst: 1}}, 1, ErrInvalidClass},
		{"zero burst", Class{Name: "a", Rate: Rate{PerSecond: 1}}, 1, ErrInvalidClass},
		{"window too long", Class{Name: "a", Rate: Rate{PerSecond: 1e-6, Burst: 1 << 20}}, 1, ErrInvalidClass},
		{"zero cost", Class{Name: "a", Rate: ok}, 0, ErrInvalidCost},
		{"cost above burst", Class{Name: "a", Rate: ok}, 3, ErrInvalidCost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := st.Allow(ctx, "k", tt.class, tt.cost)
			require.ErrorIs(t, err, tt.want)
			assert.Equal(t, Decision{}, d)
		})
	}
	assert.Equal(t, 0, st.Len(), "invalid requests create no bucket")
}

func nan() float64 { z := 0.0; return z / z }
func inf() float64 { z := 0.0; return 1 / z }

// TestMemoryStoreStagger: 20 callers denied at one instant get staggered,
// honest retry times, and the k-th in line finds its token when told.
func TestMemoryStoreStagger(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		rate     Rate
		interval time.Duration
		step     time.Duration
		lineOK   bool // every caller in line is admitted at its time
	}{
		// burst >= 16: the step is one token, the k-th caller gets the k-th token.
		{"burst 20", Rate{PerSecond: 10, Burst: 20}, 100 * time.Millisecond, 100 * time.Millisecond, true},
		// burst < 16: the slots split one refill window.
		{"burst 1", Rate{PerSecond: 1, Burst: 1}, time.Second, time.Second / 16, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class := Class{Name: "write", Rate: tt.rate}
			st, clk := newFakeStore(t, 0)
			for range tt.rate.Burst {
				d, err := st.Allow(ctx, "k", class, 1)
				require.NoError(t, err)
				require.True(t, d.Allowed)
			}
			retries := make([]time.Duration, 20)
			distinct := map[int64]bool{}
			for i := range retries {
				d, err := st.Allow(ctx, "k", class, 1)
				require.NoError(t, err)
				require.False(t, d.Allowed)
				retries[i] = d.RetryAfter
				distinct[(d.RetryAfter + time.Millisecond - 1).Milliseconds()] = true
				// Never earlier than the true refill (one interval), and the
				// i-th caller is i slots (mod 16) after it.
				assert.Equal(t, tt.interval+time.Duration(i%StaggerSlots)*tt.step, d.RetryAfter, "caller %d", i)
			}
			assert.GreaterOrEqual(t, len(distinct), 5, "distinct retryAfterMs values: %v", retries)

			// The true refill: one nanosecond before the earliest retry time
			// no token exists (checked on a copy of the bucket).
			probe, pclk := newFakeStore(t, 0)
			for range tt.rate.Burst {
				_, _ = probe.Allow(ctx, "k", class, 1)
			}
			pclk.Advance(tt.interval - 1)
			d, err := probe.Allow(ctx, "k", class, 1)
			require.NoError(t, err)
			assert.False(t, d.Allowed, "a token before the true refill")

			// The first 16 callers come back at their times, in order.
			for i := range StaggerSlots {
				clk.ns.Store(int64(time.Hour) + int64(retries[i]))
				d, err := st.Allow(ctx, "k", class, 1)
				require.NoError(t, err)
				if i == 0 || tt.lineOK {
					assert.True(t, d.Allowed, "caller %d back after %v", i, retries[i])
				}
			}
		})
	}
}

// TestMemoryStoreRetryAfterHonest: a caller that waits exactly the
// advertised time, in the resolution of details.retryAfterMs, is admitted.
func TestMemoryStoreRetryAfterHonest(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		rate Rate
		cost int
	}{
		{Rate{PerSecond: 1, Burst: 1}, 1},
		{Rate{PerSecond: 3, Burst: 5}, 1},
		{Rate{PerSecond: 3, Burst: 5}, 4},
		{Rate{PerSecond: 0.7, Burst: 2}, 2},
		{Rate{PerSecond: 1000, Burst: 100}, 7},
		{Rate{PerSecond: 1e6, Burst: 10}, 1},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatFloat(tt.rate.PerSecond, 'g', -1, 64)+"/"+strconv.Itoa(tt.rate.Burst)+"/"+strconv.Itoa(tt.cost), func(t *testing.T) {
			class := Class{Name: "c", Rate: tt.rate}
			st, clk := newFakeStore(t, 0)
			var d Decision
			for d.Allowed = true; d.Allowed; {
				var err error
				d, err = st.Allow(ctx, "k", class, tt.cost)
				require.NoError(t, err)
			}
			require.Positive(t, d.RetryAfter)
			ms := (d.RetryAfter + time.Millisecond - 1) / time.Millisecond * time.Millisecond
			clk.Advance(ms)
			d, err := st.Allow(ctx, "k", class, tt.cost)
			require.NoError(t, err)
			assert.True(t, d.Allowed, "denied after waiting retryAfterMs=%v", ms)
		})
	}
}

// TestMemoryStoreExact hammers one bucket from many goroutines on the real
// monotonic clock: the admitted count is within the bucket's promise and
// nothing starves.
func TestMemoryStoreExact(t *testing.T) {
	t.Parallel()
	st, err := NewMemoryStore(MemoryConfig{})
	require.NoError(t, err)
	defer st.Close()
	class := Class{Name: "write", Rate: Rate{PerSecond: 500, Burst: 50}}
	admitted, elapsed := storetest.Hammer(t, 2*time.Second, 8, func(ctx context.Context) (bool, error) {
		d, err := st.Allow(ctx, "key_exact", class, 1)
		return d.Allowed, err
	})
	storetest.AssertExact(t, class.Rate.PerSecond, class.Rate.Burst, admitted, elapsed)
}

// TestMemoryStoreCap: a million distinct keys never push the store over
// its cap, and buckets that still owe tokens are not the ones evicted while
// refilled ones exist.
func TestMemoryStoreCap(t *testing.T) {
	ctx := context.Background()
	const maxKeys = 1 << 16
	st, clk := newFakeStore(t, maxKeys)
	require.Equal(t, maxKeys, st.MaxKeys())
	class := Class{Name: "read", Rate: Rate{PerSecond: 1, Burst: 10}}
	n := capTestKeys
	for i := range n {
		_, err := st.Allow(ctx, "key_"+strconv.Itoa(i), class, 1)
		require.NoError(t, err)
		if i%(1<<16) == 0 {
			require.LessOrEqual(t, st.Len(), maxKeys)
			clk.Advance(time.Millisecond)
		}
	}
	assert.LessOrEqual(t, st.Len(), maxKeys)
	assert.Greater(t, st.Len(), maxKeys*9/10, "the cap evicts only what it must")
}

func TestMemoryStoreEvictionPrefersRefilledBuckets(t *testing.T) {
	ctx := context.Background()
	st, clk := newFakeStore(t, minShardKeys) // one shard of 16
	require.Equal(t, minShardKeys, st.MaxKeys())
	slow := Class{Name: "slow", Rate: Rate{PerSecond: 0.001, Burst: 1}}
	fast := Class{Name: "fast", Rate: Rate{PerSecond: 1000, Burst: 1}}
	d, err := st.Allow(ctx, "victim", slow, 1)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	for i := range minShardKeys - 1 {
		_, err := st.Allow(ctx, "full_"+strconv.Itoa(i), fast, 1)
		require.NoError(t, err)
	}
	require.Equal(t, minShardKeys, st.Len())
	clk.Advance(time.Second) // every fast bucket has refilled
	for i := range 100 {
		_, err := st.Allow(ctx, "new_"+strconv.Itoa(i), fast, 1)
		require.NoError(t, err)
		require.LessOrEqual(t, st.Len(), minShardKeys)
		clk.Advance(time.Second)
	}
	d, err = st.Allow(ctx, "victim", slow, 1)
	require.NoError(t, err)
	assert.False(t, d.Allowed, "the empty bucket was forgotten while refilled ones could go")
}

func TestMemoryStoreSweep(t *testing.T) {
	ctx := context.Background()
	st, clk := newFakeStore(t, 0)
	fast := Class{Name: "fast", Rate: Rate{PerSecond: 1, Burst: 1}}
	slow := Class{Name: "slow", Rate: Rate{PerSecond: 0.001, Burst: 1}}
	for i := range 5000 {
		_, err := st.Allow(ctx, "k"+strconv.Itoa(i), fast, 1)
		require.NoError(t, err)
	}
	for i := range 100 {
		_, err := st.Allow(ctx, "k"+strconv.Itoa(i), slow, 1)
		require.NoError(t, err)
	}
	st.Sweep()
	assert.Equal(t, 5100, st.Len(), "nothing has refilled yet")
	clk.Advance(2 * time.Second)
	for range 100 {
		st.Sweep()
	}
	assert.Equal(t, 100, st.Len(), "refilled buckets swept, the slow ones kept")
}

func TestMemoryStoreBackgroundSweeperAndClose(t *testing.T) {
	clk := &fakeClock{}
	st, err := NewMemoryStore(MemoryConfig{SweepInterval: time.Millisecond, Clock: clk.Now})
	require.NoError(t, err)
	class := Class{Name: "fast", Rate: Rate{PerSecond: 1, Burst: 1}}
	for i := range 100 {
		_, err := st.Allow(context.Background(), "k"+strconv.Itoa(i), class, 1)
		require.NoError(t, err)
	}
	clk.Advance(time.Hour)
	require.Eventually(t, func() bool { return st.Len() == 0 }, 5*time.Second, time.Millisecond)
	require.NoError(t, st.Close())
	require.NoError(t, st.Close(), "Close is idempotent")
	_, err = st.Allow(context.Background(), "k", class, 1)
	assert.True(t, errors.Is(err, ErrClosed))
}

func TestNewMemoryStoreConfigErrors(t *testing.T) {
	for _, cfg := range []MemoryConfig{{MaxKeys: -1}, {SweepBatch: -1}} {
		_, err := NewMemoryStore(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
	st, err := NewMemoryStore(MemoryConfig{MaxKeys: 100, SweepInterval: -1})
	require.NoError(t, err)
	assert.Equal(t, 100, st.MaxKeys(), "4 shards of 25")
	st2, err := NewMemoryStore(MemoryConfig{MaxKeys: 5000, SweepInterval: -1})
	require.NoError(t, err)
	assert.Equal(t, 4864, st2.MaxKeys(), "256 shards of 19")
	require.NoError(t, st2.Close())
	require.NoError(t, st.Close())
}

func TestMemoryStoreFootprint(t *testing.T) {
	perKey, n := memoryFootprint(t, footprintKeys, DefaultMaxKeys)
	t.Logf("%.1f bytes per tracked key over %d keys", perKey, n)
	assert.LessOrEqual(t, perKey, 64.0)
	assert.Greater(t, n, footprintKeys*99/100)
}
