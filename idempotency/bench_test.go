package idempotency

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/middleware"
)

// benchEcho is the test service without a listener; mw nil means no
// idempotency middleware at all (the baseline).
func benchEcho(b *testing.B, mw echo.MiddlewareFunc) *echo.Echo {
	e := echo.New()
	if err := middleware.Install(e, middleware.Config{Logger: zap.NewNop()}); err != nil {
		b.Fatal(err)
	}
	e.Use(testAuth)
	h := func(c echo.Context) error {
		return c.JSONBlob(http.StatusCreated, []byte(`{"id":"cnt_1","status":"queued"}`))
	}
	if mw != nil {
		e.POST("/v1/projects/:projectId/content", h, mw)
	} else {
		e.POST("/v1/projects/:projectId/content", h)
	}
	return e
}

const benchBody = `{"hook":"A day in the life of a barista","platforms":["tiktok","instagram"]}`

// runBench sends b.N POSTs; key(i) gives the Idempotency-Key ("" for none).
func runBench(b *testing.B, e *echo.Echo, key func(i int) string) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, contentPath, strings.NewReader(benchBody))
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		req.Header.Set(keyIDHeader, "key_A")
		if k := key(i); k != "" {
			req.Header.Set(HeaderKey, k)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

func noKey(int) string       { return "" }
func sameKey(int) string     { return "bench-replay-key" }
func uniqueKey(i int) string { return "bench-" + strconv.Itoa(i) }
func benchMW(s Store) echo.MiddlewareFunc {
	return IdempotencyWithConfig(IdempotencyConfig{Store: s, TTL: time.Minute})
}

// BenchmarkIdempotency compares, in one run, the baseline route without the
// middleware to: the middleware with no key sent, a first run (lease,
// handler, record) and a replay, on the memory store and on Redis.
func BenchmarkIdempotency(b *testing.B) {
	b.Run("baseline", func(b *testing.B) { runBench(b, benchEcho(b, nil), noKey) })
	b.Run("memory/no-key", func(b *testing.B) { runBench(b, benchEcho(b, benchMW(NewMemoryStore(0))), noKey) })
	b.Run("memory/first-run", func(b *testing.B) { runBench(b, benchEcho(b, benchMW(NewMemoryStore(0))), uniqueKey) })
	b.Run("memory/replay", func(b *testing.B) { runBench(b, benchEcho(b, benchMW(NewMemoryStore(0))), sameKey) })
	inst := redistest.Server(b)
	b.Run("redis/first-run", func(b *testing.B) {
		runBench(b, benchEcho(b, benchMW(NewRedisStore(inst.Client(b), inst.Prefix(b)))), uniqueKey)
	})
	b.Run("redis/replay", func(b *testing.B) {
		runBench(b, benchEcho(b, benchMW(NewRedisStore(inst.Client(b), inst.Prefix(b)))), sameKey)
	})
}

// BenchmarkValidateKey measures header validation of a UUID key.
func BenchmarkValidateKey(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if ValidateKey("4f1d2c1e-9a39-4c9b-8a5e-0c1b2d3e4f50") != nil {
			b.Fatal("invalid")
		}
	}
}
