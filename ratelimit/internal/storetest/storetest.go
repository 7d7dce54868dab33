// Package storetest holds the test helpers that the memory and Redis
// stores' tests share: a concurrent hammer on one bucket and the check that
// it admitted what the bucket promises.
package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Hammer calls allow from n goroutines for d and returns the number of
// admitted requests and the time from the first call to the last return.
// allow reports whether its request was admitted; any error fails the test.
func Hammer(t testing.TB, d time.Duration, n int, allow func(context.Context) (bool, error)) (int64, time.Duration) {
	t.Helper()
	var admitted, failed atomic.Int64
	var wg sync.WaitGroup
	ctx := context.Background()
	start := time.Now()
	deadline := start.Add(d)
	for range n {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				ok, err := allow(ctx)
				if err != nil {
					failed.Add(1)
					continue
				}
				if ok {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	require.Zero(t, failed.Load(), "failed decisions")
	return admitted.Load(), elapsed
}

// AssertExact checks that a bucket of burst and perSecond admitted, over
// elapsed, no more than burst + perSecond×elapsed (+1) requests and at least
// 90% of that (no starvation).
func AssertExact(t testing.TB, perSecond float64, burst int, admitted int64, elapsed time.Duration) {
	t.Helper()
	bound := float64(burst) + perSecond*elapsed.Seconds() + 1
	t.Logf("admitted %d in %v, bound %.1f", admitted, elapsed, bound)
	assert.LessOrEqual(t, float64(admitted), bound, "more admitted than the bucket allows")
	assert.GreaterOrEqual(t, float64(admitted), 0.9*bound, "starvation: far fewer admitted than the bucket allows")
}
