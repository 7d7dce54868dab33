package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/layershq/errkit/ratelimit"
	rlredis "github.com/layershq/errkit/ratelimit/redisstore"
)

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
	adminToken := fs.String("admin-token", "", "bearer token of the /admin operator API; default: a random one, printed once at start")
	accessLog := fs.Bool("access-log", true, "log one line per request")
	metrics := fs.Bool("metrics", true, "serve errkit's counters as Prometheus text at GET /metrics (no key, no rate limit)")
	traceStdout := fs.Bool("trace-stdout", false, "print every request's span to stdout as JSON, and add trace_id and span_id to the log lines")
	platformBaseURL := fs.String("platform-base", "", "send every platform call to URL/<platform>/publish; default: an in-process fake platform on loopback")
	breakerFailures := fs.Int("breaker-failures", DefaultBreakerFailures, "consecutive failed calls to a platform that open its circuit breaker")
	breakerCooldown := fs.Duration("breaker-cooldown", DefaultBreakerCooldown, "how long an open circuit refuses calls before one probe")
	fetchAllowLoopback := fs.Bool("fetch-allow-loopback", false, "let POST /v1/apps/{appId}/media fetch from loopback addresses (tests and local tours only)")
	serving := addServingFlags(fs)
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
	var cfg Config
	if err := serving.apply(&cfg); err != nil {
		return err
	}

	// JSON lines on stderr, unsampled: every INTERNAL line and every access
	// line reaches the log. Callers' 4xx mistakes are logged at debug (the
	// access line at info records each one with its code).
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	// go-redis's own lines (pool and cluster trouble) as JSON records of
	// this log rather than plain text on stderr; process-wide, so here,
	// before any client exists.
	rlredis.SetLogger(logger)

	cfg.Framework, cfg.Logger, cfg.RedisURL, cfg.RedisPrefix = *framework, logger, *redisURL, *redisPrefix
	cfg.ReadRate, cfg.WriteRate, cfg.AdminToken, cfg.AccessLog = read, write, *adminToken, *accessLog
	cfg.PlatformBase, cfg.BreakerFailures, cfg.BreakerCooldown = *platformBaseURL, *breakerFailures, *breakerCooldown
	cfg.FetchAllowLoopback = *fetchAllowLoopback
	cfg.Metrics, cfg.Traces = *metrics, traceWriter(*traceStdout, stdout)
	srv, err := New(cfg)
	if err != nil {
		return err
	}
	defer func() { _ = srv.Close() }()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	httpSrv := serving.httpServer(srv.Handler, logger)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()

	store := "in memory"
	switch {
	case *redisURL != "":
		store = "in Redis"
	case len(cfg.RedisClusterAddrs) > 0:
		store = "in a Redis Cluster"
	}
	logger.Info("listening", "addr", ln.Addr().String(), "framework", *framework, "store", store, "platform", srv.PlatformURL())
	printBanner(stdout, "http://"+ln.Addr().String(), *framework, srv.AdminToken())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal kills the process the default way
	if err := serving.shutdown(httpSrv, served, logger); err != nil {
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

// traceWriter is where -trace-stdout prints spans: stdout, or nowhere.
func traceWriter(on bool, stdout io.Writer) io.Writer {
	if !on {
		return nil
	}
	return stdout
}
