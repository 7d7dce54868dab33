package ratelimit

import (
	"context"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	echomw "github.com/labstack/echo/v4/middleware"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/layershq/errkit/internal/redistest"
)

// benchRate admits nearly everything, so every limiter takes its "allowed"
// path and the comparison is of bookkeeping, not of denial paths.
var benchRate = Rate{PerSecond: 1e6, Burst: 1000}

// benchKeys returns n distinct key IDs.
func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "key_" + strconv.Itoa(i)
	}
	return keys
}

// keyCounts are the two key populations of the comparison.
var keyCounts = []struct {
	name string
	n    int
}{{"keys=1", 1}, {"keys=100k", 100_000}}

// runKeys runs allow over keys with RunParallel in a random order (as
// traffic from many API keys arrives). The order is shuffled once, before
// the timer starts; each goroutine walks it from its own random offset, so
// picking the next key costs an increment and a sequential (prefetched)
// read, not a random-number generation and a division: the benchmark
// measures the store, not its own key generation. Every store compared in
// one run gets the same keys in the same order.
//
// Besides ns/op (wall time, which on a shared machine includes time stolen
// by other processes) it reports cpu-ns/op: the process's user+system CPU
// time per operation, which other processes' load does not inflate. With
// two goroutines that never wait for each other cpu-ns/op is about twice
// ns/op on an idle 2-core machine.
func runKeys(b *testing.B, keys []string, allow func(key string) bool) {
	order := slices.Clone(keys)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	defer func() {
		b.StopTimer()
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	}()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(order))
		for pb.Next() {
			allow(order[i])
			if i++; i == len(order) {
				i = 0
			}
		}
	})
}

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMemoryStore compares the errkit memory store with echo's
// RateLimiterMemoryStore and with golang.org/x/time/rate limiters (a map of
// *rate.Limiter behind one mutex, as echo does, and a bare rate.Limiter for
// one key), at 1 key and 100k keys, in the same run.
func BenchmarkMemoryStore(b *testing.B) {
	ctx := context.Background()
	class := Class{Name: "read", Rate: benchRate}
	for _, kc := range keyCounts {
		keys := benchKeys(kc.n)
		b.Run("errkit/"+kc.name, func(b *testing.B) {
			s, err := NewMemoryStore(MemoryConfig{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			runKeys(b, keys, func(k string) bool {
				d, _ := s.Allow(ctx, k, class, 1)
				return d.Allowed
			})
		})
		b.Run("echo/"+kc.name, func(b *testing.B) {
			s := echomw.NewRateLimiterMemoryStoreWithConfig(echomw.RateLimiterMemoryStoreConfig{
				Rate: rate.Limit(benchRate.PerSecond), Burst: benchRate.Burst,
			})
			runKeys(b, keys, func(k string) bool {
				ok, _ := s.Allow(k)
				return ok
			})
		})
		b.Run("xrate-map/"+kc.name, func(b *testing.B) {
			var mu sync.Mutex
			m := make(map[string]*rate.Limiter)
			runKeys(b, keys, func(k string) bool {
				mu.Lock()
				l, ok := m[k]
				if !ok {
					l = rate.NewLimiter(rate.Limit(benchRate.PerSecond), benchRate.Burst)
					m[k] = l
				}
				mu.Unlock()
				return l.Allow()
			})
		})
		if kc.n == 1 {
			b.Run("xrate-bare/"+kc.name, func(b *testing.B) {
				l := rate.NewLimiter(rate.Limit(benchRate.PerSecond), benchRate.Burst)
				runKeys(b, keys, func(string) bool { return l.Allow() })
			})
		}
	}
}

// BenchmarkMemoryStoreFootprint measures the heap held per tracked bucket
// with 1M distinct keys in a store capped at 1M (DefaultMaxKeys).
func BenchmarkMemoryStoreFootprint(b *testing.B) {
	for range b.N {
		perKey, n := memoryFootprint(b, 1_000_000, DefaultMaxKeys)
		b.ReportMetric(perKey, "bytes/key")
		b.ReportMetric(float64(n), "keys")
	}
}

// memoryFootprint inserts n distinct keys into a store capped at maxKeys
// and returns the heap growth per tracked bucket and the tracked count.
func memoryFootprint(tb testing.TB, n, maxKeys int) (float64, int) {
	tb.Helper()
	keys := benchKeys(n)
	ctx := context.Background()
	class := Class{Name: "read", Rate: Rate{PerSecond: 1, Burst: 10}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, err := NewMemoryStore(MemoryConfig{MaxKeys: maxKeys, SweepInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	for _, k := range keys {
		if _, err := s.Allow(ctx, k, class, 1); err != nil {
			tb.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	tracked := s.Len()
	runtime.KeepAlive(keys)
	runtime.KeepAlive(s)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(tracked), tracked
}

// countingHook counts commands and pipelines sent by a go-redis client.
type countingHook struct{ cmds, pipelines atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.cmds.Add(1)
		return next(ctx, cmd)
	}
}
func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.pipelines.Add(1)
		return next(ctx, cmds)
	}
}

// BenchmarkRedisStore measures RedisStore decisions per second on loopback
// with go-redis's default pool, and the round trips (commands) per decision.
func BenchmarkRedisStore(b *testing.B) {
	inst := redistest.Server(b)
	prefix := inst.Prefix(b)
	ctx := context.Background()
	for _, kc := range keyCounts {
		b.Run(kc.name, func(b *testing.B) {
			opts, err := redis.ParseURL(inst.URL())
			if err != nil {
				b.Fatal(err)
			}
			opts.ContextTimeoutEnabled = true
			client := redis.NewClient(opts)
			defer client.Close()
			hook := &countingHook{}
			client.AddHook(hook)
			s, err := NewRedisStore(client, RedisConfig{Prefix: prefix + kc.name + ":"})
			if err != nil {
				b.Fatal(err)
			}
			class := Class{Name: "read", Rate: benchRate}
			if _, err := s.Allow(ctx, "warmup", class, 1); err != nil { // loads the script
				b.Fatal(err)
			}
			keys := benchKeys(kc.n)
			hook.cmds.Store(0)
			hook.pipelines.Store(0)
			var fails atomic.Int64
			start := time.Now()
			runKeys(b, keys, func(k string) bool {
				d, err := s.Allow(ctx, k, class, 1)
				if err != nil {
					fails.Add(1)
				}
				return d.Allowed
			})
			elapsed := time.Since(start)
			b.StopTimer()
			if f := fails.Load(); f > 0 {
				b.Fatalf("%d of %d decisions failed", f, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "decisions/s")
			// Commands per decision; connection set-up pipelines of
			// the pool growing (HELLO, CLIENT SETINFO) are counted apart.
			b.ReportMetric(float64(hook.cmds.Load())/float64(b.N), "roundtrips/decision")
			b.ReportMetric(float64(hook.pipelines.Load()), "dial-pipelines")
		})
	}
}
