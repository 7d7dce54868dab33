package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/layershq/errkit/clientip"
	"github.com/layershq/errkit/ratelimit"
)

// The http.Server's limits, as docs/operations.md ("Server timeouts")
// recommends for every service: errkit cannot cut a slow client, the
// server does.
const (
	// defaultReadHeaderTimeout cuts slow headers: the connection is
	// closed without an answer.
	defaultReadHeaderTimeout = 5 * time.Second
	// defaultReadTimeout bounds a whole request, body included, from its
	// first byte: a dribbling body is cut there (1 MiB needs 35 KiB/s).
	defaultReadTimeout = 30 * time.Second
	// defaultWriteTimeout bounds the handler and its response, from the
	// end of the headers: above the slowest route (a 10 s media fetch).
	defaultWriteTimeout = 60 * time.Second
	// defaultIdleTimeout closes a kept-alive connection that sends no next
	// request.
	defaultIdleTimeout = 120 * time.Second
	// maxHeaderBytes bounds the request line and headers (net/http answers
	// a plain-text 431 past it, before errkit runs).
	maxHeaderBytes = 64 << 10
	// defaultShutdownTimeout bounds how long in-flight requests may take to
	// finish after SIGINT or SIGTERM; then the connections still open are
	// closed.
	defaultShutdownTimeout = 10 * time.Second
)

// servingFlags are the flags of how the demo meets its clients: the
// server's timeouts, the Redis Cluster, and the per-IP limits of the
// unauthenticated.
type servingFlags struct {
	readHeaderTimeout, readTimeout, writeTimeout, idleTimeout, shutdownTimeout *time.Duration

	redisCluster   *string
	trustedProxies *string
	authFailRate   *float64
	authFailBurst  *float64
	publicRate     *float64
	publicBurst    *float64
}

// addServingFlags defines the serving flags on fs.
func addServingFlags(fs *flag.FlagSet) *servingFlags {
	return &servingFlags{
		readHeaderTimeout: fs.Duration("read-header-timeout", defaultReadHeaderTimeout, "close a connection whose request headers take longer"),
		readTimeout:       fs.Duration("read-timeout", defaultReadTimeout, "cut a request (line, headers and body) that takes longer to arrive"),
		writeTimeout:      fs.Duration("write-timeout", defaultWriteTimeout, "cut a response not written within this time after the request headers"),
		idleTimeout:       fs.Duration("idle-timeout", defaultIdleTimeout, "close a kept-alive connection idle for longer"),
		shutdownTimeout:   fs.Duration("shutdown-timeout", defaultShutdownTimeout, "on SIGINT or SIGTERM, how long in-flight requests may take before the connections still open are closed"),

		redisCluster:   fs.String("redis-cluster", "", "Redis Cluster nodes (host:port,host:port,...) holding what -redis would; not with -redis"),
		trustedProxies: fs.String("trusted-proxies", "", "comma-separated CIDRs (or addresses) of the proxies whose X-Forwarded-For names the client IP; default none: the client is the connection's peer"),
		authFailRate:   fs.Float64("auth-failure-rate", ratelimit.DefaultThrottleRate.PerSecond, "failed authentications per second per client IP once the burst is spent"),
		authFailBurst:  fs.Float64("auth-failure-burst", float64(ratelimit.DefaultThrottleRate.Burst), "failed authentications per client IP before it is answered RATE_LIMITED"),
		publicRate:     fs.Float64("public-rate", DefaultPublicRate.PerSecond, "requests per second per client IP to the /v1 routes that need no key (the catalogue, the examples)"),
		publicBurst:    fs.Float64("public-burst", float64(DefaultPublicRate.Burst), "bucket size per client IP of the /v1 routes that need no key"),
	}
}

// apply checks the flags and sets them on cfg.
func (f *servingFlags) apply(cfg *Config) error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"-read-header-timeout", *f.readHeaderTimeout}, {"-read-timeout", *f.readTimeout},
		{"-write-timeout", *f.writeTimeout}, {"-idle-timeout", *f.idleTimeout}, {"-shutdown-timeout", *f.shutdownTimeout},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s %v: want a positive duration", d.name, d.v)
		}
	}
	var err error
	if cfg.AuthFailureRate, err = rate(*f.authFailRate, *f.authFailBurst); err != nil {
		return fmt.Errorf("-auth-failure-rate/-auth-failure-burst: %w", err)
	}
	if cfg.PublicRate, err = rate(*f.publicRate, *f.publicBurst); err != nil {
		return fmt.Errorf("-public-rate/-public-burst: %w", err)
	}
	if cfg.TrustedProxies, err = clientip.ParsePrefixes(strings.Split(*f.trustedProxies, ",")...); err != nil {
		return fmt.Errorf("-trusted-proxies: %w", err)
	}
	for _, a := range strings.Split(*f.redisCluster, ",") {
		if a = strings.TrimSpace(a); a != "" {
			cfg.RedisClusterAddrs = append(cfg.RedisClusterAddrs, a)
		}
	}
	if *f.redisCluster != "" && len(cfg.RedisClusterAddrs) == 0 {
		return fmt.Errorf("-redis-cluster %q: want host:port,host:port,...", *f.redisCluster)
	}
	return nil
}

// httpServer returns the http.Server of h with the flags' timeouts and
// net/http's own error lines in the JSON log.
func (f *servingFlags) httpServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: *f.readHeaderTimeout,
		ReadTimeout:       *f.readTimeout,
		WriteTimeout:      *f.writeTimeout,
		IdleTimeout:       *f.idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelError),
	}
}

// shutdown stops srv, whose Serve returns on served: in-flight requests
// get the shutdown timeout to finish, then the connections still open (a
// handler still running, a body still dribbling in, which only the read
// timeout would end) are closed, so the process always exits within the
// shutdown timeout.
func (f *servingFlags) shutdown(srv *http.Server, served <-chan error, logger *slog.Logger) error {
	timeout := *f.shutdownTimeout
	logger.Info("shutting down: waiting for in-flight requests", "timeout", timeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		if !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("shutdown: %w", err)
		}
		logger.Warn("shutdown timeout: closing the connections still open", "timeout", timeout.String())
		if err := srv.Close(); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
