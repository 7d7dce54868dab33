package errkit_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/layershq/errkit/killswitch"
	"github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/nethttp"
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
// writing to io.Discard: whatever errkit logs is paid for.
func stackLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// caller is the principal of the benchmark's requests.
func caller(r *http.Request) principal.Principal {
	return principal.Principal{KeyID: r.Header.Get(headerKeyID), OrganizationID: "org_bench", Scopes: []string{"read"}}
}

// headerKeyID is the request header the auth stub of the benchmark reads the
// caller's key ID from (a real service would look the API key up).
const headerKeyID = "X-Bench-Key-Id"

// authStub is the service's authentication middleware of setups (c) and
// (a+auth): it records the caller, as a real one does after checking the
// API key.
func authStub(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		middleware.SetPrincipal(c, caller(c.Request()))
		return next(c)
	}
}

// authStubHTTP is authStub for net/http.
func authStubHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, principal.Set(r, caller(r)))
	})
}

// benchSwitches is a kill-switch store holding 10,000 key switches, none of
// them a benchmark caller's.
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
//	         error handler, slog JSON logger), the auth stub, the kill-switch
//	         key/organization check on a memory store holding 10,000 key
//	         switches (none of them the caller's), and the rate limiter on
//	         the memory store at a rate that never limits;
//	(d)      a bare net/http ServeMux;
//	(e)      errkit's whole chain on net/http: nethttp.Install around the
//	         ServeMux, and on the route the same auth stub, kill switch and
//	         rate limiter as (c).
func stackServers(b *testing.B) map[string]http.Handler {
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
	kit.Use(authStub, middleware.KillSwitch(benchSwitches(b)), middleware.RateLimit(benchLimiter(b)))
	kit.GET("/v1/whoami", ok)

	okHTTP := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		_, _ = io.WriteString(w, "ok")
	})
	mux := http.NewServeMux()
	mux.Handle("GET /v1/whoami", okHTTP)

	kitMux := http.NewServeMux()
	kitMux.Handle("GET /v1/whoami", authStubHTTP(nethttp.KillSwitch(benchSwitches(b))(nethttp.RateLimit(benchLimiter(b))(okHTTP))))
	kitHTTP, err := nethttp.Install(kitMux, nethttp.Config{Logger: stackLogger()})
	if err != nil {
		b.Fatal(err)
	}

	return map[string]http.Handler{
		"a=bare": bare, "a+auth": auth, "b=echo-chain": std, "c=errkit-chain": kit,
		"d=nethttp-bare": mux, "e=errkit-nethttp-chain": kitHTTP,
	}
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
// (principal.Set), not errkit. On net/http, (e) - (d).
func BenchmarkStack(b *testing.B) {
	servers := stackServers(b)
	for _, name := range []string{"a=bare", "a+auth", "b=echo-chain", "c=errkit-chain", "d=nethttp-bare", "e=errkit-nethttp-chain"} {
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
