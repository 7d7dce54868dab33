package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	baseline "github.com/layershq/errkit/internal/whoami"
	"github.com/layershq/errkit/ratelimit"
)

// stackWriter discards the body and reuses its header map, so the benchmark
// measures the server rather than a recorder.
type stackWriter struct {
	h      http.Header
	status int
}

func (w *stackWriter) Header() http.Header { return w.h }
func (w *stackWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}
func (w *stackWriter) WriteHeader(s int) { w.status = s }

// BenchmarkWhoami serves GET /v1/whoami, the load test's route, through the
// whole demo chain on each framework, in memory, with the access log on (a
// JSON line per request to io.Discard) at rates that never limit; and,
// beside them, the baselines of internal/whoami (served by
// examples/barewhoami for wrk), on the same route with the same key lookup:
// the chains an echo team would pick instead of errkit (echo4-chain and
// echo5-chain: echo's own RequestID, RequestLogger with a JSON line per
// request to io.Discard, Recover and RateLimiter at a rate that never
// limits) and the same chain of errkit's adapter (echo4-errkit,
// echo5-errkit), the like-for-like comparison.
func BenchmarkWhoami(b *testing.B) {
	handlers := map[string]func(b *testing.B) http.Handler{}
	var names []string
	for _, name := range []string{"echo4-chain", "echo4-errkit", "echo5-chain", "echo5-errkit"} {
		handlers[name] = func(b *testing.B) http.Handler {
			h, err := baseline.Handler(name, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			return h
		}
		names = append(names, name)
	}
	for _, fw := range frameworkNames() {
		handlers[fw] = func(b *testing.B) http.Handler {
			unlimited := ratelimit.Rate{PerSecond: 1e9, Burst: 1 << 30}
			srv, err := New(Config{
				Framework: fw, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), AccessLog: true,
				ReadRate: unlimited, WriteRate: unlimited,
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = srv.Close() })
			return srv.Handler
		}
		names = append(names, fw)
	}
	for _, name := range names {
		b.Run(name, func(b *testing.B) {
			h := handlers[name](b)
			req := httptest.NewRequest(http.MethodGet, "/v1/whoami", nil)
			req.Header.Set("Authorization", "Bearer lp_demo_full")
			w := &stackWriter{h: make(http.Header, 8)}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.status = 0
				h.ServeHTTP(w, req)
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
		})
		// As wrk drives them: one API key (one client IP for echo's
		// limiter) from every goroutine at once.
		b.Run(name+"/parallel", func(b *testing.B) {
			h := handlers[name](b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest(http.MethodGet, "/v1/whoami", nil)
				req.Header.Set("Authorization", "Bearer lp_demo_full")
				w := &stackWriter{h: make(http.Header, 8)}
				for pb.Next() {
					clear(w.h)
					w.status = 0
					h.ServeHTTP(w, req)
					if w.status != http.StatusOK {
						b.Errorf("status %d", w.status)
						return
					}
				}
			})
		})
	}
}

// BenchmarkWhoamiTelemetry is the demo's GET /v1/whoami with its
// OpenTelemetry wiring on (Config.Metrics: the otelerrkit Hook on an SDK
// meter provider, in every errkit part's Config.Events), on each
// framework: what telemetry costs a request beside BenchmarkWhoami.
func BenchmarkWhoamiTelemetry(b *testing.B) {
	for _, fw := range frameworkNames() {
		b.Run(fw, func(b *testing.B) {
			unlimited := ratelimit.Rate{PerSecond: 1e9, Burst: 1 << 30}
			srv, err := New(Config{
				Framework: fw, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), AccessLog: true,
				ReadRate: unlimited, WriteRate: unlimited, Metrics: true,
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = srv.Close() })
			req := httptest.NewRequest(http.MethodGet, "/v1/whoami", nil)
			req.Header.Set("Authorization", "Bearer lp_demo_full")
			w := &stackWriter{h: make(http.Header, 8)}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.status = 0
				srv.Handler.ServeHTTP(w, req)
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}
