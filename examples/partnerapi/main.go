package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/layershq/errkit/ratelimit"
)

// shutdownTimeout bounds how long in-flight requests may take to finish after
// SIGINT or SIGTERM.
const shutdownTimeout = 10 * time.Second

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "partnerapi:", err)
		os.Exit(1)
	}
}

// run parses the flags, serves until SIGINT or SIGTERM, then shuts down
// gracefully: in-flight requests finish, background work stops.
func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("partnerapi", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	framework := fs.String("framework", DefaultFramework, "web framework to serve the API on: "+strings.Join(frameworkNames(), ", ")+" (echo4 is echo v4, echo5 echo v5, nethttp net/http's ServeMux)")
	redisURL := fs.String("redis", "", "Redis URL (redis://host:port/db); when set, rate limits, kill switches and idempotency records live there and several instances form one fleet")
	redisPrefix := fs.String("redis-prefix", "partnerapi:", "prefix of every Redis key")
	readRate := fs.Float64("read-rate", ratelimit.DefaultReadRate.PerSecond, "read (GET) requests per second per API key")
	readBurst := fs.Float64("read-burst", float64(ratelimit.DefaultReadRate.Burst), "read bucket size per API key")
	writeRate := fs.Float64("write-rate", ratelimit.DefaultWriteRate.PerSecond, "write requests per second per API key")
	writeBurst := fs.Float64("write-burst", float64(ratelimit.DefaultWriteRate.Burst), "write bucket size per API key")
	adminToken := fs.String("admin-token", "admin_demo", "bearer token of the /admin operator API")
	accessLog := fs.Bool("access-log", true, "log one line per request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	read, err := rate(*readRate, *readBurst)
	if err != nil {
		return fmt.Errorf("-read-rate/-read-burst: %w", err)
	}
	write, err := rate(*writeRate, *writeBurst)
	if err != nil {
		return fmt.Errorf("-write-rate/-write-burst: %w", err)
	}

	if _, ok := frameworks[*framework]; !ok {
		return fmt.Errorf("-framework %q: want one of %s", *framework, strings.Join(frameworkNames(), ", "))
	}

	// JSON lines on stderr, unsampled: every INTERNAL line and every access
	// line reaches the log. Callers' 4xx mistakes are logged at debug (the
	// access line at info records each one with its code).
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	srv, err := New(Config{
		Framework: *framework, Logger: logger, RedisURL: *redisURL, RedisPrefix: *redisPrefix,
		ReadRate: read, WriteRate: write, AdminToken: *adminToken, AccessLog: *accessLog,
	})
	if err != nil {
		return err
	}
	defer func() { _ = srv.Close() }()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	httpSrv := &http.Server{
		Handler:           srv.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelError),
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()

	store := "in memory"
	if *redisURL != "" {
		store = "in Redis"
	}
	logger.Info("listening", "addr", ln.Addr().String(), "framework", *framework, "store", store)
	printBanner(stdout, "http://"+ln.Addr().String(), *framework, *adminToken)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal kills the process the default way
	logger.Info("shutting down: waiting for in-flight requests", "timeout", shutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// rate checks a rate and burst given on the command line.
func rate(perSecond, burst float64) (ratelimit.Rate, error) {
	if burst < 1 || burst > math.MaxInt32 || burst != math.Trunc(burst) {
		return ratelimit.Rate{}, fmt.Errorf("burst %v: want a whole number between 1 and %d", burst, math.MaxInt32)
	}
	r := ratelimit.Rate{PerSecond: perSecond, Burst: int(burst)}
	return r, ratelimit.Class{Name: "flag", Rate: r}.Validate()
}

// printBanner tells a new user what to do next.
func printBanner(w io.Writer, url, framework, adminToken string) {
	var b strings.Builder
	fmt.Fprintf(&b, "errkit demo Partner API on %s (%s)\n\nDemo keys (Authorization: Bearer <key>):\n", url, framework)
	for _, k := range demoKeys {
		fmt.Fprintf(&b, "  %-17s %-13s %-10s %s\n", k.Secret, k.Principal.KeyID, k.Principal.OrganizationID, strings.Join(k.Principal.Scopes, " "))
	}
	fmt.Fprintf(&b, "Operator token (/admin/killswitch): %s\n\nTry:\n", adminToken)
	fmt.Fprintf(&b, "  curl -i %s/v1/whoami -H 'Authorization: Bearer lp_demo_full'\n", url)
	fmt.Fprintf(&b, "  curl -i %s/v1/projects/prj_demo/content -H 'Authorization: Bearer lp_demo_full' -H 'Content-Type: application/json' -d '{\"hook\":\"3 ways to sleep better\"}'\n", url)
	fmt.Fprintf(&b, "  curl -i %s/v1/errors/RATE_LIMITED/example\n\n", url)
	_, _ = io.WriteString(w, b.String())
}
