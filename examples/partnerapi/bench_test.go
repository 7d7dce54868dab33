package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

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
// JSON line per request to io.Discard) at rates that never limit.
func BenchmarkWhoami(b *testing.B) {
	for _, fw := range frameworkNames() {
		b.Run(fw, func(b *testing.B) {
			unlimited := ratelimit.Rate{PerSecond: 1e9, Burst: 1 << 30}
			srv, err := New(Config{
				Framework: fw, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), AccessLog: true,
				ReadRate: unlimited, WriteRate: unlimited,
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
