package redisstore

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/ratelimit"
	"github.com/layershq/errkit/ratelimit/internal/storetest"
)

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

// benchRate admits nearly everything, so every decision takes the
// "allowed" path (as ratelimit's own benchmarks do).
var benchRate = ratelimit.Rate{PerSecond: 1e6, Burst: 1000}

// BenchmarkStore measures Store decisions per second on loopback with
// go-redis's default pool, and the round trips (commands) per decision, at
// 1 key and 100k keys.
func BenchmarkStore(b *testing.B) {
	inst := redistest.Server(b)
	prefix := inst.Prefix(b)
	ctx := context.Background()
	for _, kc := range []struct {
		name string
		n    int
	}{{"keys=1", 1}, {"keys=100k", 100_000}} {
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
			s, err := New(client, Config{Prefix: prefix + kc.name + ":"})
			if err != nil {
				b.Fatal(err)
			}
			class := ratelimit.Class{Name: "read", Rate: benchRate}
			if _, err := s.Allow(ctx, "warmup", class, 1); err != nil { // loads the script
				b.Fatal(err)
			}
			keys := storetest.Keys(kc.n)
			hook.cmds.Store(0)
			hook.pipelines.Store(0)
			var fails atomic.Int64
			start := time.Now()
			storetest.RunKeys(b, keys, storetest.Same(func(k string) {
				if _, err := s.Allow(ctx, k, class, 1); err != nil {
					fails.Add(1)
				}
			}))
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
