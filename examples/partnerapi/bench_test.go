package main

import (
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	echo5 "github.com/labstack/echo/v5"
	echo5mw "github.com/labstack/echo/v5/middleware"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	xrate "golang.org/x/time/rate"

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
// beside them, the chains an echo team would pick instead of errkit
// (examples/barewhoami's echo4-chain and echo5-chain: echo's own RequestID,
// RequestLogger with a JSON line per request to io.Discard, Recover and
// RateLimiter at a rate that never limits), on the same route with the same
// key lookup.
func BenchmarkWhoami(b *testing.B) {
	handlers := map[string]func(b *testing.B) http.Handler{"echo4-chain": echo4Chain, "echo5-chain": echo5Chain}
	names := []string{"echo4-chain", "echo5-chain"}
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

// chainCaller is what the chains' whoami answers, as examples/barewhoami.
type chainCaller struct {
	KeyID          string   `json:"keyId"`
	OrganizationID string   `json:"organizationId"`
	Scopes         []string `json:"scopes"`
}

// chainKeys is examples/barewhoami's key table: by SHA-256 of the secret.
var chainKeys = map[[sha256.Size]byte]chainCaller{
	sha256.Sum256([]byte("lp_demo_full")): {"key_full", "org_demo", []string{"content:read", "content:write", "jobs:read"}},
}

// chainLookup authenticates an Authorization value as the demo does.
func chainLookup(header string) (chainCaller, bool) {
	token, ok := bearerToken(header)
	if !ok {
		return chainCaller{}, false
	}
	who, ok := chainKeys[sha256.Sum256([]byte(token))]
	return who, ok
}

// echo4Chain is examples/barewhoami's echo4-chain, logging to io.Discard.
func echo4Chain(*testing.B) http.Handler {
	e := echo.New()
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zapcore.InfoLevel))
	e.Use(
		echomw.RequestID(),
		echomw.RequestLoggerWithConfig(echomw.RequestLoggerConfig{
			LogStatus: true, LogURI: true, LogMethod: true, LogLatency: true, LogRequestID: true, LogRoutePath: true,
			LogValuesFunc: func(c echo.Context, v echomw.RequestLoggerValues) error {
				logger.Info("request",
					zap.String("requestId", v.RequestID), zap.String("method", v.Method),
					zap.String("route", v.RoutePath), zap.Int("status", v.Status), zap.Duration("latency", v.Latency))
				return nil
			},
		}),
		echomw.Recover(),
		echomw.RateLimiter(echomw.NewRateLimiterMemoryStore(xrate.Limit(1e9))),
	)
	e.GET("/v1/whoami", func(c echo.Context) error {
		who, ok := chainLookup(c.Request().Header.Get(echo.HeaderAuthorization))
		if !ok {
			return echo.ErrUnauthorized
		}
		return c.JSON(http.StatusOK, who)
	})
	return e
}

// echo5Chain is examples/barewhoami's echo5-chain, logging to io.Discard.
func echo5Chain(*testing.B) http.Handler {
	e := echo5.NewWithConfig(echo5.Config{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	e.Use(
		echo5mw.RequestID(),
		echo5mw.RequestLoggerWithConfig(echo5mw.RequestLoggerConfig{
			LogStatus: true, LogURI: true, LogMethod: true, LogLatency: true, LogRequestID: true, LogRoutePath: true,
			HandleError: true,
			LogValuesFunc: func(c *echo5.Context, v echo5mw.RequestLoggerValues) error {
				c.Logger().LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
					slog.String("requestId", v.RequestID), slog.String("method", v.Method),
					slog.String("route", v.RoutePath), slog.Int("status", v.Status), slog.Duration("latency", v.Latency))
				return nil
			},
		}),
		echo5mw.Recover(),
		echo5mw.RateLimiter(echo5mw.NewRateLimiterMemoryStore(1e9)),
	)
	e.GET("/v1/whoami", func(c *echo5.Context) error {
		who, ok := chainLookup(c.Request().Header.Get(echo5.HeaderAuthorization))
		if !ok {
			return echo5.ErrUnauthorized
		}
		return c.JSON(http.StatusOK, who)
	})
	return e
}
