package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzMemoryStore drives a bucket with arbitrary keys, class names, rates,
// costs and clock steps: Allow never panics, rejects what is invalid, and
// every decision it makes keeps the Decision invariants.
func FuzzMemoryStore(f *testing.F) {
	f.Add("key_1", "read", 1.0, 3, 1, int64(0), uint8(10))
	f.Add("", "write", 0.5, 1, 1, int64(time.Second), uint8(40))
	f.Add("k\x00ey", "a.b-c_D9", 1e6, 1000, 999, int64(1), uint8(200))
	f.Add("k", "bad name", 1.0, 1, 1, int64(0), uint8(1))
	f.Add("k", "x", -1.0, 0, 0, int64(-5), uint8(3))
	f.Fuzz(func(t *testing.T, key, name string, perSecond float64, burst, cost int, step int64, n uint8) {
		clk := &fakeClock{}
		st, err := NewMemoryStore(MemoryConfig{MaxKeys: 64, SweepInterval: -1, Clock: clk.Now})
		require.NoError(t, err)
		defer st.Close()
		class := Class{Name: name, Rate: Rate{PerSecond: perSecond, Burst: burst}}
		valid := class.Validate() == nil && cost >= 1 && cost <= burst
		for range n {
			clk.Advance(time.Duration(step % int64(time.Hour)))
			d, err := st.Allow(context.Background(), key, class, cost)
			if !valid {
				require.Error(t, err)
				require.Equal(t, Decision{}, d)
				return
			}
			require.NoError(t, err)
			require.Equal(t, burst, d.Limit)
			require.GreaterOrEqual(t, d.Remaining, 0)
			require.LessOrEqual(t, d.Remaining, burst)
			require.GreaterOrEqual(t, d.ResetAfter, time.Duration(0))
			require.LessOrEqual(t, d.ResetAfter, class.Rate.Window())
			if d.Allowed {
				require.Zero(t, d.RetryAfter)
			} else {
				require.Positive(t, d.RetryAfter)
				require.Less(t, d.RetryAfter, 2*class.Rate.Window()+time.Nanosecond, "stagger stays within one window after the refill")
			}
		}
	})
}
