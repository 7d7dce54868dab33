package upstream_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/upstream"
	"github.com/layershq/errkit/upstream/redisstore"
)

// stubTransport answers every request with an empty 200 from memory, so
// that a benchmark measures what wraps it, not the network.
type stubTransport struct{}

func (stubTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, ContentLength: 0}, nil
}

type cmdCounter struct{ n atomic.Int64 }

func (h *cmdCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// redisBreaker is a Breaker on a real Redis (the REDIS_URL server or a
// private one), with a counter of the commands its client sends.
func redisBreaker(b *testing.B) (*upstream.Breaker, *cmdCounter) {
	b.Helper()
	inst := redistest.Server(b)
	client := inst.Client(b)
	counter := &cmdCounter{}
	client.AddHook(counter)
	store, err := redisstore.New(client, redisstore.Config{Prefix: inst.Prefix(b), Logger: discard})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	br, err := upstream.NewBreaker(upstream.BreakerConfig{Store: store, Logger: discard})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = br.Close() })
	return br, counter
}

func memoryBreaker(b *testing.B) *upstream.Breaker {
	b.Helper()
	br, err := upstream.NewBreaker(upstream.BreakerConfig{Logger: discard})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = br.Close() })
	return br
}

func benchClient(b *testing.B, base http.RoundTripper, br *upstream.Breaker) *upstream.Client {
	b.Helper()
	c, err := upstream.NewClient(upstream.ClientConfig{Platform: apierror.PlatformTikTok, Resource: "tiktok-publish", Breaker: br, Transport: base})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func roundTrips(b *testing.B, rt http.RoundTripper, url string) {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := rt.RoundTrip(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// BenchmarkClosedBreaker measures, in one run, the overhead of a closed
// circuit per call: the breaker alone (Allow + Done) in memory and on
// Redis, and a whole Client call beside the bare RoundTripper it wraps,
// from memory and over loopback HTTP. "redis-cmds/op" is the Redis round
// trips per call: 0 on the closed path.
func BenchmarkClosedBreaker(b *testing.B) {
	ctx := context.Background()
	circuitBench := func(b *testing.B, br *upstream.Breaker) {
		c, err := br.Circuit(apierror.PlatformTikTok, "tiktok-publish")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p, err := c.Allow(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				p.Done(upstream.Succeeded)
			}
		})
	}
	b.Run("circuit/memory", func(b *testing.B) { circuitBench(b, memoryBreaker(b)) })
	b.Run("circuit/redis", func(b *testing.B) {
		br, counter := redisBreaker(b)
		start := counter.n.Load()
		circuitBench(b, br)
		b.ReportMetric(float64(counter.n.Load()-start)/float64(b.N), "redis-cmds/op")
	})

	b.Run("stub/bare", func(b *testing.B) { roundTrips(b, stubTransport{}, "http://platform.test/v2/") })
	b.Run("stub/client-no-breaker", func(b *testing.B) {
		roundTrips(b, benchClient(b, stubTransport{}, nil), "http://platform.test/v2/")
	})
	b.Run("stub/client-memory", func(b *testing.B) {
		roundTrips(b, benchClient(b, stubTransport{}, memoryBreaker(b)), "http://platform.test/v2/")
	})
	b.Run("stub/client-redis", func(b *testing.B) {
		br, counter := redisBreaker(b)
		start := counter.n.Load()
		roundTrips(b, benchClient(b, stubTransport{}, br), "http://platform.test/v2/")
		b.ReportMetric(float64(counter.n.Load()-start)/float64(b.N), "redis-cmds/op")
	})

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"data":{},"error":{"code":"ok"}}`)
	}))
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	b.Run("loopback/bare", func(b *testing.B) { roundTrips(b, tr, srv.URL) })
	b.Run("loopback/client-memory", func(b *testing.B) { roundTrips(b, benchClient(b, tr, memoryBreaker(b)), srv.URL) })
	b.Run("loopback/client-redis", func(b *testing.B) {
		br, counter := redisBreaker(b)
		start := counter.n.Load()
		roundTrips(b, benchClient(b, tr, br), srv.URL)
		b.ReportMetric(float64(counter.n.Load()-start)/float64(b.N), "redis-cmds/op")
	})
}
