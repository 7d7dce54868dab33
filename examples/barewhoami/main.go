// Command barewhoami is the load-test baseline of examples/partnerapi: a bare
// echo server answering GET /v1/whoami with the same bearer-key lookup and
// the same JSON, and nothing of errkit (no request IDs, error envelope, kill
// switches, rate limits, idempotency or logging).
//
//	go run ./examples/barewhoami -addr 127.0.0.1:8081
//
// examples/partnerapi/loadtest.sh measures both in the same run.
package main

import (
	"context"
	"crypto/sha256"
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

func whoami(c echo.Context) error {
	scheme, token, ok := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return echo.ErrUnauthorized
	}
	who, ok := keys[sha256.Sum256([]byte(token))]
	if !ok {
		return echo.ErrUnauthorized
	}
	return c.JSON(http.StatusOK, who)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	flag.Parse()
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/v1/whoami", whoami)
	srv := &http.Server{Addr: *addr, Handler: e, ReadHeaderTimeout: 10 * time.Second}

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
	fmt.Printf("bare whoami on http://%s\n", *addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "barewhoami:", err)
		os.Exit(1)
	}
	<-done
}
