package errkit_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/time/rate"

	"github.com/layershq/errkit/killswitch"
	"github.com/layershq/errkit/middleware"
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

func (w *stackWriter) Header() http.Header         { return w.h }
func (w *stackWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *stackWriter) WriteHeader(s int)           { w.status = s }

// stackLogger is a production-style zap JSON logger at the default (info)
// level writing to io.Discard: whatever errkit logs is paid for.
func stackLogger() *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zapcore.InfoLevel))
}

// headerKeyID is the request header the auth stub of the benchmark reads the
// caller's key ID from (a real service would look the API key up).
const headerKeyID = "X-Bench-Key-Id"

// authStub is the service's authentication middleware of setups (c) and
// (a+auth): it records the caller with principal.Set, as a real one does
// after checking the API key.
func authStub(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		principal.Set(c, principal.Principal{
			KeyID:          c.Request().Header.Get(headerKeyID),
			OrganizationID: "org_bench",
			Scopes:         []string{"read"},
		})
		return next(c)
	}
}

// stackServers builds the setups of the full-stack comparison, each with
// one route, GET /v1/whoami answering 200:
//
//	(a)      bare echo;
//	(a+auth) bare echo plus the auth stub alone (what the service's own auth
//	         costs, included in (c));
//	(b)      echo's own chain: Recover + RequestID + RateLimiter on
//	         NewRateLimiterMemoryStore, keyed by client IP, at a rate that
//	         never limits, with echo's default error handler;
//	(c)      errkit's whole chain: middleware.Install (request ID, recovery,
//	         error handler, zap JSON logger), the auth stub, the kill-switch
//	         key/organization check on a Memory source holding 10,000 key
//	         switches (none of them the caller's), and the rate limiter on
//	         the memory store at a rate that never limits.
func stackServers(b *testing.B) map[string]*echo.Echo {
	ok := func(c echo.Context) error { return c.String(http.StatusOK, "ok") }

	bare := echo.New()
	bare.GET("/v1/whoami", ok)

	auth := echo.New()
	auth.Use(authStub)
	auth.GET("/v1/whoami", ok)

	std := echo.New()
	std.Use(
		echomw.Recover(),
		echomw.RequestID(),
		echomw.RateLimiter(echomw.NewRateLimiterMemoryStore(rate.Limit(1e9))),
	)
	std.GET("/v1/whoami", ok)

	kit := echo.New()
	if err := middleware.Install(kit, middleware.Config{Logger: stackLogger()}); err != nil {
		b.Fatal(err)
	}
	switches := killswitch.NewMemory()
	off := make([]killswitch.Switch, 10_000)
	for i := range off {
		off[i] = killswitch.Switch{Scope: killswitch.ScopeKey, ID: "key_off_" + strconv.Itoa(i), Reason: "benchmark"}
	}
	if err := switches.Replace(context.Background(), off); err != nil {
		b.Fatal(err)
	}
	store, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	kit.Use(
		authStub,
		killswitch.KillSwitch(switches),
		ratelimit.RateLimitWithConfig(ratelimit.RateLimitConfig{
			Store: store,
			Classes: map[string]ratelimit.Rate{
				ratelimit.ClassRead:  {PerSecond: 1e9, Burst: 1_000_000},
				ratelimit.ClassWrite: {PerSecond: 1e9, Burst: 1_000_000},
			},
		}),
	)
	kit.GET("/v1/whoami", ok)

	return map[string]*echo.Echo{"a=bare": bare, "a+auth": auth, "b=echo-chain": std, "c=errkit-chain": kit}
}

// BenchmarkStack compares, in one run, a request through bare echo, echo's
// own Recover + RequestID + RateLimiter chain, and errkit's whole chain
// (request ID, recovery, error handler, kill switch, rate limit), in
// parallel. Every goroutine is its own caller: its own key ID (errkit's
// bucket and kill-switch lookups) and its own client IP (echo's bucket), so
// the limiters are not measured on one contended bucket. Every response
// must be 200: nothing is limited or switched off.
//
// The overheads to compare are (b) - (a) and (c) - (a); (a+auth) - (a) is
// the share of (c)'s overhead that is the service's auth stub
// (principal.Set), not errkit.
func BenchmarkStack(b *testing.B) {
	servers := stackServers(b)
	for _, name := range []string{"a=bare", "a+auth", "b=echo-chain", "c=errkit-chain"} {
		e := servers[name]
		b.Run(name, func(b *testing.B) {
			var caller atomic.Int64
			var failed atomic.Int64
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
					e.ServeHTTP(w, req)
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
