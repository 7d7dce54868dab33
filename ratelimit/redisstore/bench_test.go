package redisstore

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/principal"
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
			defer s.Close()
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

// BenchmarkOutage measures the latency one request pays in a fail-open
// limiter while its Redis is stalled (a real redis-server stopped with
// SIGSTOP: connections are accepted, nothing is answered), with the store's
// default Timeout (100ms), without failing fast (FailAfter -1: every
// decision waits out the timeout) and with it (the default: after 3
// failures decisions fail at once while a background probe waits for
// Redis). Run with
//
//	go test -run '^$' -bench Outage -benchtime 20x ./ratelimit/redisstore
func BenchmarkOutage(b *testing.B) {
	for _, bc := range []struct {
		name      string
		failAfter int
	}{{"failfast=off", -1}, {"failfast=on", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			inst := redistest.Private(b)
			opts, err := redis.ParseURL(inst.URL())
			if err != nil {
				b.Fatal(err)
			}
			opts.ContextTimeoutEnabled = true
			client := redis.NewClient(opts)
			defer client.Close()
			s, err := New(client, Config{FailAfter: bc.failAfter, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			l, err := ratelimit.New(ratelimit.Config{Store: s, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			req := principal.Set(httptest.NewRequest(http.MethodGet, "/v1/things/1", nil), principal.Principal{KeyID: "key_a"})
			if err := l.Limit(http.Header{}, req, "/v1/things/:id"); err != nil {
				b.Fatal(err)
			}
			inst.Pause(b)
			for range 3 { // the failures that open the gate, when there is one
				_ = l.Limit(http.Header{}, req, "/v1/things/:id")
			}
			var worst time.Duration
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if err := l.Limit(http.Header{}, req, "/v1/things/:id"); err != nil {
					b.Fatalf("fail-open limiter refused: %v", err)
				}
				worst = max(worst, time.Since(start))
			}
			b.StopTimer()
			b.ReportMetric(float64(worst.Microseconds()), "worst-µs")
		})
	}
}
