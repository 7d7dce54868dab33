package storetest

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Keys returns n distinct key IDs.
func Keys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "key_" + strconv.Itoa(i)
	}
	return keys
}

// RunKeys runs one decision per item with RunParallel, over items in a
// random order (as traffic from many API keys arrives). Each parallel
// goroutine calls worker once for its own decision function, so that it
// can keep per-goroutine state (a response header, say). The order is
// shuffled once, before the timer starts; each goroutine walks it from its
// own random offset, so picking the next item costs an increment and a
// sequential (prefetched) read, not a random-number generation and a
// division: the benchmark measures the decision, not its own key
// generation. Every contender compared in one run gets the same items in
// the same order.
//
// Besides ns/op (wall time, which on a shared machine includes time stolen
// by other processes) it reports cpu-ns/op: the process's user+system CPU
// time per operation, which other processes' load does not inflate. With
// two goroutines that never wait for each other cpu-ns/op is about twice
// ns/op on an idle 2-core machine.
func RunKeys[T any](b *testing.B, items []T, worker func() func(T)) {
	order := slices.Clone(items)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	defer func() {
		b.StopTimer()
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	}()
	b.RunParallel(func(pb *testing.PB) {
		decide := worker()
		i := rand.IntN(len(order))
		for pb.Next() {
			decide(order[i])
			if i++; i == len(order) {
				i = 0
			}
		}
	})
}

// Same returns a worker that hands every goroutine f, for decisions that
// keep no per-goroutine state.
func Same[T any](f func(T)) func() func(T) { return func() func(T) { return f } }

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
