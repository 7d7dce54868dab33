// Command barewhoami serves the load-test baselines of examples/partnerapi
// (internal/whoami) for wrk: a server answering GET /v1/whoami with the same
// bearer-key lookup and the same JSON. -framework echo4 (the default),
// echo5 and nethttp are the bare framework, with nothing of errkit (no
// request IDs, error envelope, kill switches, rate limits, idempotency or
// logging).
//
// -framework echo4-chain and -framework echo5-chain are what an echo team
// would pick instead of errkit, on the same route and lookup: echo's own
// RequestID, RequestLogger (a JSON line per request on stderr: zap on echo
// v4, slog on echo v5, echo v5's own logger type), Recover and RateLimiter
// on its memory store at a rate that never limits.
//
// -framework echo4-errkit and -framework echo5-errkit are the same chain made
// of errkit's adapter instead (Install: request IDs, access log as a JSON
// line on stderr, recovery and the envelope error handler; then the same
// lookup recording the principal, and errkit's rate limiter on its memory
// store at a rate that never limits): the like-for-like comparison with the
// -chain servers. partnerapi itself runs more (kill switches, body limit,
// Idempotency-Key) and is measured beside them too.
//
//	go run ./examples/barewhoami -addr 127.0.0.1:8081 -framework nethttp
//
// examples/partnerapi/loadtest.sh measures them in the same run as
// partnerapi.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/layershq/errkit/internal/whoami"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	framework := flag.String("framework", "echo4", "baseline: "+strings.Join(whoami.Names(), ", ")+
		" (echo4, echo5, nethttp: the bare framework; echo4-chain, echo5-chain: echo's own RequestID + RequestLogger + Recover + RateLimiter; echo4-errkit, echo5-errkit: the same chain of errkit's adapter)")
	flag.Parse()
	h, err := whoami.Handler(*framework, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "barewhoami:", err)
		os.Exit(2)
	}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}

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
