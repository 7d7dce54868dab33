package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/killswitch"
	"github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/ratelimit"
)

// maxBodyBytes is the request body limit of the /v1 routes (1 MiB).
const maxBodyBytes = 1 << 20

// Config configures the demo server. The zero value is a working in-memory
// server with the default rates.
type Config struct {
	// Logger receives every log line. Default: zap.NewNop().
	Logger *zap.Logger

	// RedisURL, when set, puts rate limits, kill switches and idempotency
	// records in that Redis, so that several servers form one fleet.
	RedisURL string
	// RedisPrefix starts every Redis key and channel the server uses.
	// Default "partnerapi:".
	RedisPrefix string
	// KillSwitchResync is how often a Redis fleet reloads the kill switches
	// even without a change notification. Default
	// killswitch.DefaultResyncInterval.
	KillSwitchResync time.Duration

	// ReadRate and WriteRate are the token buckets of the read (GET) and
	// write (every other method) endpoint classes, per API key. Defaults
	// ratelimit.DefaultReadRate (20/s, burst 40) and
	// ratelimit.DefaultWriteRate (5/s, burst 10).
	ReadRate, WriteRate ratelimit.Rate

	// AdminToken is the bearer token of the operator API. Default
	// "admin_demo".
	AdminToken string

	// JobDelay is how long a generation job takes. Default 500ms.
	JobDelay time.Duration

	// AccessLog adds one log line per request.
	AccessLog bool
}

// Server is the demo Partner API.
type Server struct {
	// Handler serves the API; mount it on an http.Server.
	Handler http.Handler

	// KillSwitches flips the kill switches from Go (the operator API does
	// the same over HTTP).
	KillSwitches killswitch.Controller

	closers []func() error
}

// New builds the server: errkit wired into an echo in the documented order,
// the seeded store, and the routes. Close releases what it started.
func New(cfg Config) (s *Server, err error) {
	cfg = cfg.withDefaults()
	s = &Server{}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()

	// The three errkit stores: in memory, or shared by a fleet in Redis.
	var (
		limits   ratelimit.Store
		switches killswitch.Source
		replays  idempotency.Store
	)
	if cfg.RedisURL == "" {
		mem, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, mem.Close)
		limits, switches, replays = mem, killswitch.NewMemory(), idempotency.NewMemoryStore(0)
	} else {
		client, err := connectRedis(cfg.RedisURL)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, client.Close)
		rl, err := ratelimit.NewRedisStore(client, ratelimit.RedisConfig{Prefix: cfg.RedisPrefix + "ratelimit:"})
		if err != nil {
			return nil, err
		}
		ks, err := killswitch.NewRedis(context.Background(), killswitch.RedisConfig{
			Client: client, Prefix: cfg.RedisPrefix + "killswitch:",
			ResyncInterval: cfg.KillSwitchResync, Logger: cfg.Logger,
		})
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, ks.Close)
		limits, switches, replays = rl, ks, idempotency.NewRedisStore(client, cfg.RedisPrefix+"idempotency:")
	}
	s.KillSwitches = switches

	domain := newStore()
	w := newWorker(domain, cfg.JobDelay)
	s.closers = append(s.closers, func() error { w.close(); return nil })

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard) // errkit logs; echo itself has nothing to say

	// 1. Request IDs, panic recovery and the envelope error handler.
	mwcfg := middleware.Config{Logger: cfg.Logger}
	if cfg.AccessLog {
		mwcfg.AccessLog = &middleware.AccessLogConfig{}
	}
	if err := middleware.Install(e, mwcfg); err != nil {
		return nil, err
	}

	// 2. The global kill switch answers every /v1 route, before
	// authentication costs anything.
	v1 := e.Group("/v1", killswitch.Global(switches))

	// 3. Authentication, 4. key and organization kill switches, 5. rate
	// limits per (key ID, endpoint class), 6. the body limit, and
	// 7. Idempotency-Key on POST.
	limiter, err := ratelimit.RateLimitConfig{
		Store:   limits,
		Classes: map[string]ratelimit.Rate{ratelimit.ClassRead: cfg.ReadRate, ratelimit.ClassWrite: cfg.WriteRate},
	}.ToMiddleware()
	if err != nil {
		return nil, err
	}
	replay, err := idempotency.IdempotencyConfig{Store: replays, MaxBodyBytes: maxBodyBytes}.ToMiddleware()
	if err != nil {
		return nil, err
	}
	api := v1.Group("",
		authenticate(domain),
		killswitch.KillSwitch(switches),
		limiter,
		middleware.BodyLimit(maxBodyBytes),
		replay,
	)

	// Routes. /healthz, /v1/errors and the operator API need no key.
	h := &handlers{store: domain, worker: w}
	e.GET("/healthz", healthz)
	v1.GET("/errors", listErrors)
	v1.GET("/errors/:code/example", errorExample)
	api.GET("/whoami", whoami)
	api.POST("/projects/:projectId/content", h.createContent, requireScope(scopeContentWrite))
	api.GET("/content/:containerId", h.getContent, requireScope(scopeContentRead))
	api.POST("/content/:containerId/approve", h.approve, requireScope(scopeContentWrite))
	api.POST("/content/:containerId/reject", h.reject, requireScope(scopeContentWrite))
	api.POST("/content/:containerId/schedule", h.schedule, requireScope(scopeContentWrite))
	api.GET("/jobs/:jobId", h.getJob, requireScope(scopeJobsRead))

	// Operators: outside /v1, so never rate limited or switched off.
	if err := killswitch.RegisterAdminWithConfig(e.Group("/admin/killswitch"), killswitch.AdminConfig{
		Controller:   switches,
		Authorize:    adminAuthorizer(cfg.AdminToken),
		ErrorHandler: e.HTTPErrorHandler,
	}); err != nil {
		return nil, err
	}

	s.Handler = e
	return s, nil
}

// Close stops the server's background work (pending jobs, the kill-switch
// subscription, the rate limiter's sweeper) and closes its Redis client.
// Shut the http.Server down first.
func (s *Server) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

func (cfg Config) withDefaults() Config {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.RedisPrefix == "" {
		cfg.RedisPrefix = "partnerapi:"
	}
	if cfg.ReadRate == (ratelimit.Rate{}) {
		cfg.ReadRate = ratelimit.DefaultReadRate
	}
	if cfg.WriteRate == (ratelimit.Rate{}) {
		cfg.WriteRate = ratelimit.DefaultWriteRate
	}
	if cfg.AdminToken == "" {
		cfg.AdminToken = "admin_demo"
	}
	if cfg.JobDelay <= 0 {
		cfg.JobDelay = 500 * time.Millisecond
	}
	return cfg
}

// connectRedis connects to the Redis at url and checks that it answers.
func connectRedis(url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	opts.ContextTimeoutEnabled = true // the rate limiter's and the idempotency store's per-call timeouts must hold
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis at %s: %w", opts.Addr, err)
	}
	return client, nil
}
