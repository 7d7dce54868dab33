package echo5_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/layershq/errkit/echo5"
	"github.com/layershq/errkit/killswitch"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/ratelimit"
)

// stackWriter is a ResponseWriter that discards the body and reuses its
// header map, so the benchmark measures echo and the middleware rather than
// a recorder.
type stackWriter struct {
	h      http.Header
	status int
}

func (w *stackWriter) Header() http.Header { return w.h }
func (w *stackWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK // what net/http does for a body without WriteHeader
	}
	return len(b), nil
}
func (w *stackWriter) WriteHeader(s int) { w.status = s }

// stackLogger is a production-style JSON logger at the default (info) level
// writing to io.Discard: whatever is logged is paid for.
func stackLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// headerKeyID is the request header the auth stub reads the caller's key ID
// from (a real service would look the API key up).
const headerKeyID = "X-Bench-Key-Id"

// authStub is the service's authentication middleware, the same in every
// setup but the bare one: it records the caller, as a real one does after
// checking the API key.
func authStub(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		r := c.Request()
		echo5.SetPrincipal(c, principal.Principal{KeyID: r.Header.Get(headerKeyID), OrganizationID: "org_bench", Scopes: []string{"read"}})
		return next(c)
	}
}

// benchSwitches is a kill-switch guard on a memory store holding 10,000
// key switches, none of them a benchmark caller's.
func benchSwitches(b *testing.B) *killswitch.Guard {
	switches, err := killswitch.NewMemoryStore(killswitch.MemoryConfig{})
	if err != nil {
		b.Fatal(err)
	}
	off := make([]killswitch.Switch, 10_000)
	for i := range off {
		off[i] = killswitch.Switch{Scope: killswitch.ScopeKey, ID: "key_off_" + strconv.Itoa(i), Reason: "benchmark"}
	}
	if err := switches.Replace(context.Background(), off); err != nil {
		b.Fatal(err)
	}
	g, err := killswitch.New(killswitch.Config{Checker: switches})
	if err != nil {
		b.Fatal(err)
	}
	return g
}

// benchLimiter is a rate limiter on the memory store at a rate that never
// limits.
func benchLimiter(b *testing.B) *ratelimit.Limiter {
	store, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	l, err := ratelimit.New(ratelimit.Config{
		Store: store,
		Classes: map[string]ratelimit.Rate{
			ratelimit.ClassRead:  {PerSecond: 1e9, Burst: 1_000_000},
			ratelimit.ClassWrite: {PerSecond: 1e9, Burst: 1_000_000},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// stackServers builds the setups of the comparison on echo v5, each with
// one route, GET /v1/whoami answering 200 "ok":
//
//	(a)        bare echo v5;
//	(a+auth)   bare echo v5 plus the auth stub alone (the service's own
//	           cost, included in (b) and (c));
//	(b)        echo v5's own chain, what an echo team would pick instead:
//	           middleware.RequestID + RequestLogger (its default: every
//	           request logged through e.Logger, the same JSON logger) +
//	           Recover, the auth stub, and RateLimiter on
//	           NewRateLimiterMemoryStore at a rate that never limits, keyed
//	           by the caller's key ID;
//	(c)        errkit's whole chain: echo5.Install (request ID, recovery,
//	           error handler, the same logger), the auth stub, the kill
//	           switch's key/organization check on a memory store holding
//	           10,000 key switches (none of them the caller's), and the rate
//	           limiter on the memory store at a rate that never limits;
//	(c+access) (c) with errkit's access log, one line per request like (b)'s
//	           RequestLogger.
func stackServers(b *testing.B) map[string]http.Handler {
	ok := func(c *echo.Context) error { return c.String(http.StatusOK, "ok") }

	bare := echo.New()
	bare.GET("/v1/whoami", ok)

	auth := echo.New()
	auth.Use(authStub)
	auth.GET("/v1/whoami", ok)

	std := echo.New()
	std.Logger = stackLogger()
	std.Use(
		middleware.RequestID(),
		middleware.RequestLogger(),
		middleware.Recover(),
		authStub,
		middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
			Store:               middleware.NewRateLimiterMemoryStore(1e9),
			IdentifierExtractor: func(c *echo.Context) (string, error) { return principal.KeyID(c.Request()), nil },
		}),
	)
	std.GET("/v1/whoami", ok)

	kit := func(access *echo5.AccessLogConfig) *echo.Echo {
		e := echo.New()
		if err := echo5.Install(e, echo5.Config{Logger: stackLogger(), AccessLog: access}); err != nil {
			b.Fatal(err)
		}
		e.Use(authStub, echo5.KillSwitch(benchSwitches(b)), echo5.RateLimit(benchLimiter(b)))
		e.GET("/v1/whoami", ok)
		return e
	}

	return map[string]http.Handler{
		"a=bare": bare, "a+auth": auth, "b=echo5-chain": std,
		"c=errkit-chain": kit(nil), "c+access=errkit-chain-accesslog": kit(&echo5.AccessLogConfig{}),
	}
}

// BenchmarkStack compares, in one run, a request through bare echo v5,
// echo v5's own RequestID + RequestLogger + Recover + RateLimiter chain,
// and errkit's whole chain (request ID, recovery, error handler, kill
// switch, rate limit), in parallel. Every goroutine is its own caller: its
// own key ID (every limiter's bucket, errkit's kill-switch lookup) and its
// own client IP, so no limiter is measured on one contended bucket. Every
// response must be 200: nothing is limited or switched off.
//
// The throughput ratio to report is (b)/(c) in ns/op (>= 1.0: errkit's
// chain serves at least as many requests); (a+auth) - (a) is the auth
// stub's share of both.
func BenchmarkStack(b *testing.B) {
	servers := stackServers(b)
	for _, name := range []string{"a=bare", "a+auth", "b=echo5-chain", "c=errkit-chain", "c+access=errkit-chain-accesslog"} {
		h := servers[name]
		b.Run(name, func(b *testing.B) {
			var caller, failed atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				n := caller.Add(1)
				req := httptest.NewRequest(http.MethodGet, "/v1/whoami", nil)
				req.RemoteAddr = "10.0." + strconv.FormatInt(n%250, 10) + ".1:40000"
				req.Header.Set(headerKeyID, "key_bench_"+strconv.FormatInt(n, 10))
				w := &stackWriter{h: make(http.Header, 8)}
				for pb.Next() {
					clear(w.h)
					w.status = 0
					h.ServeHTTP(w, req)
					if w.status != http.StatusOK {
						failed.Add(1)
					}
				}
			})
			if f := failed.Load(); f > 0 {
				b.Fatalf("%d responses were not 200", f)
			}
		})
	}
}
