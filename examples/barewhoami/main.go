// Command barewhoami is the load-test baseline of examples/partnerapi: a bare
// server answering GET /v1/whoami with the same bearer-key lookup and the
// same JSON, and nothing of errkit (no request IDs, error envelope, kill
// switches, rate limits, idempotency or logging), on the same frameworks
// partnerapi is served on: echo v4 (-framework echo4, the default) or
// net/http's ServeMux (-framework nethttp).
//
//	go run ./examples/barewhoami -addr 127.0.0.1:8081 -framework nethttp
//
// examples/partnerapi/loadtest.sh measures both in the same run.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// caller is what whoami answers.
type caller struct {
	KeyID          string   `json:"keyId"`
	OrganizationID string   `json:"organizationId"`
	Scopes         []string `json:"scopes"`
}

// keys are the demo keys, by SHA-256 of the secret, as partnerapi keeps them.
var keys = map[[sha256.Size]byte]caller{
	sha256.Sum256([]byte("lp_demo_full")):     {"key_full", "org_demo", []string{"content:read", "content:write", "jobs:read"}},
	sha256.Sum256([]byte("lp_demo_readonly")): {"key_readonly", "org_demo", []string{"content:read", "jobs:read"}},
	sha256.Sum256([]byte("lp_other_org")):     {"key_other", "org_other", []string{"content:read", "content:write", "jobs:read"}},
	sha256.Sum256([]byte("lp_broke")):         {"key_broke", "org_broke", []string{"content:read", "content:write", "jobs:read"}},
}

// lookup authenticates an Authorization header value as partnerapi does.
func lookup(header string) (caller, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return caller{}, false
	}
	who, ok := keys[sha256.Sum256([]byte(token))]
	return who, ok
}

// servers are the baselines, by -framework name.
var servers = map[string]func() http.Handler{
	"echo4": func() http.Handler {
		e := echo.New()
		e.HideBanner, e.HidePort = true, true
		e.GET("/v1/whoami", func(c echo.Context) error {
			who, ok := lookup(c.Request().Header.Get(echo.HeaderAuthorization))
			if !ok {
				return echo.ErrUnauthorized
			}
			return c.JSON(http.StatusOK, who)
		})
		return e
	},
	// The chain an echo team would pick instead of errkit: echo's own
	// RequestID, RequestLogger (zap JSON lines on stderr, one per request,
	// as partnerapi's access log), Recover and RateLimiter on its memory
	// store at a rate that never limits, on the same route and lookup.
	"echo4-chain": func() http.Handler {
		e := echo.New()
		e.HideBanner, e.HidePort = true, true
		zcfg := zap.NewProductionConfig()
		zcfg.Sampling = nil
		logger, err := zcfg.Build()
		if err != nil {
			panic(err)
		}
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
			echomw.RateLimiter(echomw.NewRateLimiterMemoryStore(rate.Limit(1e9))),
		)
		e.GET("/v1/whoami", func(c echo.Context) error {
			who, ok := lookup(c.Request().Header.Get(echo.HeaderAuthorization))
			if !ok {
				return echo.ErrUnauthorized
			}
			return c.JSON(http.StatusOK, who)
		})
		return e
	},
	"nethttp": func() http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /v1/whoami", func(w http.ResponseWriter, r *http.Request) {
			who, ok := lookup(r.Header.Get("Authorization"))
			if !ok {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(who)
		})
		return mux
	},
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	framework := flag.String("framework", "echo4", "baseline: echo4 (bare), echo4-chain (echo's own RequestID + RequestLogger (zap) + Recover + RateLimiter) or nethttp (bare)")
	flag.Parse()
	newHandler, ok := servers[*framework]
	if !ok {
		fmt.Fprintf(os.Stderr, "barewhoami: -framework %q: want echo4, echo4-chain or nethttp\n", *framework)
		os.Exit(2)
	}
	srv := &http.Server{Addr: *addr, Handler: newHandler(), ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx) // in-flight requests finish
	}()
	fmt.Printf("bare whoami (%s) on http://%s\n", *framework, *addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "barewhoami:", err)
		os.Exit(1)
	}
	<-done
}
