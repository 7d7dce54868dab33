package idempotency_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/internal/redistest"
)

// benchHandler is the test service without a listener; a nil g means no
// idempotency at all (the baseline).
func benchHandler(b *testing.B, g *idempotency.Guard) http.Handler {
	h := func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, err := io.WriteString(w, `{"id":"cnt_1","status":"queued"}`)
		return err
	}
	return newHandler(b, g, h, slog.New(slog.DiscardHandler))
}

const benchBody = `{"hook":"A day in the life of a barista","platforms":["tiktok","instagram"]}`

// runBench sends b.N POSTs; key(i) gives the Idempotency-Key ("" for none).
func runBench(b *testing.B, h http.Handler, key func(i int) string) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, contentPath, strings.NewReader(benchBody))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(keyIDHeader, "key_A")
		if k := key(i); k != "" {
			req.Header.Set(idempotency.HeaderKey, k)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

func noKey(int) string       { return "" }
func sameKey(int) string     { return "bench-replay-key" }
func uniqueKey(i int) string { return "bench-" + strconv.Itoa(i) }
func benchGuard(b *testing.B, s idempotency.Store) *idempotency.Guard {
	return newGuard(b, idempotency.Config{Store: s, TTL: time.Minute})
}

// BenchmarkIdempotency compares, in one run, the baseline route without the
// Guard to: the Guard with no key sent, a first run (lease, handler,
// record) and a replay, on the memory store and on Redis.
func BenchmarkIdempotency(b *testing.B) {
	b.Run("baseline", func(b *testing.B) { runBench(b, benchHandler(b, nil), noKey) })
	b.Run("memory/no-key", func(b *testing.B) {
		runBench(b, benchHandler(b, benchGuard(b, newMemory(b, 0))), noKey)
	})
	b.Run("memory/first-run", func(b *testing.B) {
		runBench(b, benchHandler(b, benchGuard(b, newMemory(b, 0))), uniqueKey)
	})
	b.Run("memory/replay", func(b *testing.B) {
		runBench(b, benchHandler(b, benchGuard(b, newMemory(b, 0))), sameKey)
	})
	inst := redistest.Server(b)
	b.Run("redis/first-run", func(b *testing.B) {
		runBench(b, benchHandler(b, benchGuard(b, newRedis(b, inst.Client(b), inst.Prefix(b)))), uniqueKey)
	})
	b.Run("redis/replay", func(b *testing.B) {
		runBench(b, benchHandler(b, benchGuard(b, newRedis(b, inst.Client(b), inst.Prefix(b)))), sameKey)
	})
}

// BenchmarkValidateKey measures header validation of a UUID key.
func BenchmarkValidateKey(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if idempotency.ValidateKey("4f1d2c1e-9a39-4c9b-8a5e-0c1b2d3e4f50") != nil {
			b.Fatal("invalid")
		}
	}
}
