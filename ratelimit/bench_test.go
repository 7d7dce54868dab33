package ratelimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"

	echomw "github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/layershq/errkit/ratelimit/internal/storetest"
)

// benchRate admits nearly everything, so every limiter takes its "allowed"
// path and the comparison is of bookkeeping, not of denial paths.
var benchRate = Rate{PerSecond: 1e6, Burst: 1000}

// keyCounts are the two key populations of the comparison.
var keyCounts = []struct {
	name string
	n    int
}{{"keys=1", 1}, {"keys=100k", 100_000}}

// BenchmarkMemoryStore compares the errkit memory store with echo's
// RateLimiterMemoryStore and with golang.org/x/time/rate limiters (a map of
// *rate.Limiter behind one mutex, as echo does, and a bare rate.Limiter for
// one key), at 1 key and 100k keys, in the same run.
func BenchmarkMemoryStore(b *testing.B) {
	ctx := context.Background()
	class := Class{Name: "read", Rate: benchRate}
	for _, kc := range keyCounts {
		keys := storetest.Keys(kc.n)
		b.Run("errkit/"+kc.name, func(b *testing.B) {
			s, err := NewMemoryStore(MemoryConfig{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			storetest.RunKeys(b, keys, storetest.Same(func(k string) {
				_, _ = s.Allow(ctx, k, class, 1)
			}))
		})
		b.Run("echo/"+kc.name, func(b *testing.B) {
			s := echomw.NewRateLimiterMemoryStoreWithConfig(echomw.RateLimiterMemoryStoreConfig{
				Rate: rate.Limit(benchRate.PerSecond), Burst: benchRate.Burst,
			})
			storetest.RunKeys(b, keys, storetest.Same(func(k string) {
				_, _ = s.Allow(k)
			}))
		})
		b.Run("xrate-map/"+kc.name, func(b *testing.B) {
			var mu sync.Mutex
			m := make(map[string]*rate.Limiter)
			storetest.RunKeys(b, keys, storetest.Same(func(k string) {
				mu.Lock()
				l, ok := m[k]
				if !ok {
					l = rate.NewLimiter(rate.Limit(benchRate.PerSecond), benchRate.Burst)
					m[k] = l
				}
				mu.Unlock()
				l.Allow()
			}))
		})
		if kc.n == 1 {
			b.Run("xrate-bare/"+kc.name, func(b *testing.B) {
				l := rate.NewLimiter(rate.Limit(benchRate.PerSecond), benchRate.Burst)
				storetest.RunKeys(b, keys, storetest.Same(func(string) { l.Allow() }))
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
	keys := storetest.Keys(n)
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

// limiterRate admits everything at any benchmark speed (one token per
// nanosecond, and a second's worth of burst, so that a goroutine descheduled
// between reading the store clock and taking the shard lock is still
// admitted), so BenchmarkLimiter measures admitted decisions only: a denial
// is an error from Limit.
var limiterRate = Rate{PerSecond: 1e9, Burst: 1e9}

// benchKey is the context key of a benchmark goroutine's current key ID.
type benchKey struct{}

// BenchmarkLimiter measures whole admitted decisions of Limiter.Limit over a
// MemoryStore (key, route table, class, Store.Allow, both RateLimit
// headers) beside the bare MemoryStore.Allow, at 1 key and 100k keys, in
// the same run: the difference is what the limiter adds to its store. Every
// decision goes through the Store interface (there is no fast path for a
// *MemoryStore). Each goroutine reuses one request, hot in its cache as a
// served request is, and only its key changes (KeyFunc reads it through
// the request's context).
func BenchmarkLimiter(b *testing.B) {
	ctx := context.Background()
	class := Class{Name: ClassRead, Rate: limiterRate}
	const route = "/v1/things/:id"
	for _, kc := range keyCounts {
		keys := storetest.Keys(kc.n)
		b.Run("Limit/"+kc.name, func(b *testing.B) {
			s, err := NewMemoryStore(MemoryConfig{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			l, err := New(Config{
				Store:   s,
				KeyFunc: func(r *http.Request) string { return *r.Context().Value(benchKey{}).(*string) },
				Classes: map[string]Rate{ClassRead: limiterRate, ClassWrite: limiterRate},
				Routes:  map[string]string{"POST /v1/uploads": ClassWrite},
			})
			if err != nil {
				b.Fatal(err)
			}
			storetest.RunKeys(b, keys, func() func(string) {
				key := new(string)
				r := httptest.NewRequest(http.MethodGet, "/v1/things/1", nil)
				r = r.WithContext(context.WithValue(r.Context(), benchKey{}, key))
				h := http.Header{}
				return func(k string) {
					*key = k
					if err := l.Limit(h, r, route); err != nil {
						b.Error(err)
					}
				}
			})
		})
		b.Run("Store.Allow/"+kc.name, func(b *testing.B) {
			s, err := NewMemoryStore(MemoryConfig{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var st Store = s
			storetest.RunKeys(b, keys, storetest.Same(func(k string) {
				if _, err := st.Allow(ctx, k, class, 1); err != nil {
					b.Error(err)
				}
			}))
		})
	}
}

// BenchmarkClassCheck measures Class.Check, the validation every Store's
// Allow does before deciding: what sending every decision through the Store
// interface costs over the fast path the limiter used to take for a
// *MemoryStore, which skipped it.
func BenchmarkClassCheck(b *testing.B) {
	class := Class{Name: ClassRead, Rate: benchRate}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := class.Check(1); err != nil {
			b.Fatal(err)
		}
	}
}
