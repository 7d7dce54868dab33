package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/idempotency"
	idemredis "github.com/layershq/errkit/idempotency/redisstore"
	"github.com/layershq/errkit/killswitch"
	ksredis "github.com/layershq/errkit/killswitch/redisstore"
	"github.com/layershq/errkit/ratelimit"
	rlredis "github.com/layershq/errkit/ratelimit/redisstore"
)

// maxBodyBytes is the request body limit of the /v1 routes (1 MiB).
const maxBodyBytes = 1 << 20

// DefaultFramework is the framework of a zero [Config].
const DefaultFramework = "echo4"

// frameworks are the frameworks the demo is served on, by the name -framework
// takes. Each one only routes and wires: it mounts [app]'s route table and
// errkit's adapter for the framework in the documented order. Adding a
// framework is one file (server_<name>.go) and one line here.
var frameworks = map[string]func(a *app) (http.Handler, error){
	"echo4":   newEcho4,
	"echo5":   newEcho5,
	"nethttp": newNetHTTP,
}

// frameworkNames lists the framework names, sorted, for flags and errors.
func frameworkNames() []string {
	names := make([]string, 0, len(frameworks))
	for name := range frameworks {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Config configures the demo server. The zero value is a working in-memory
// server on echo v4 with the default rates.
type Config struct {
	// Framework is the web framework the API is served on: "echo4" (the
	// default, echo v4), "echo5" (echo v5) or "nethttp" (net/http's
	// ServeMux). The API is the same on every framework, byte for byte.
	Framework string

	// Logger receives every log line. Default: a logger that discards.
	Logger *slog.Logger

	// RedisURL, when set, puts rate limits, kill switches and idempotency
	// records in that Redis, so that several servers form one fleet.
	RedisURL string
	// RedisPrefix starts every Redis key and channel the server uses.
	// Default "partnerapi:".
	RedisPrefix string
	// KillSwitchResync is how often a Redis fleet reloads the kill switches
	// even without a change notification. Default: the Redis store's.
	KillSwitchResync time.Duration

	// ReadRate and WriteRate are the token buckets of the read (GET and
	// HEAD) and write (every other method) endpoint classes, per API key.
	// Defaults ratelimit.DefaultReadRate (20/s, burst 40) and
	// ratelimit.DefaultWriteRate (5/s, burst 10).
	ReadRate, WriteRate ratelimit.Rate

	// AdminToken is the bearer token of the operator API. Default
	// "admin_demo".
	AdminToken string

	// JobDelay is how long a generation job takes. Default 500ms.
	JobDelay time.Duration

	// AccessLog adds one log line per request.
	AccessLog bool

	// now, when set, is the clock of the in-memory rate limits and kill
	// switches (Retry-After, switch times): tests freeze it so that two
	// servers answer byte for byte the same.
	now func() time.Time
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

// app is everything a framework's wiring mounts, built once and free of any
// framework: the route table, the authentication, and errkit's core guards
// in the order they run.
type app struct {
	log       *slog.Logger
	accessLog bool

	// global is the global kill switch, in front of every /v1 route,
	// before authentication costs anything.
	global *killswitch.Guard
	// authenticate records the caller (principal.Set) or refuses.
	authenticate func(r *http.Request) (*http.Request, error)
	// switches are the key and organization kill switches, after
	// authentication and before the limiter, so a switched-off key spends
	// no tokens.
	switches *killswitch.Guard
	// limiter limits per (key ID, endpoint class).
	limiter *ratelimit.Limiter
	// maxBodyBytes caps request bodies on the keyed routes.
	maxBodyBytes int64
	// replay handles Idempotency-Key on POST and PATCH.
	replay *idempotency.Guard
	// admin is the operator API, mounted at adminPrefix.
	admin *killswitch.Admin

	// table is the API's routes.
	table *table
}

// New builds the server: the seeded store, errkit's guards, and the routes
// mounted on cfg.Framework in the documented order. Close releases what it
// started.
func New(cfg Config) (s *Server, err error) {
	cfg = cfg.withDefaults()
	build, ok := frameworks[cfg.Framework]
	if !ok {
		return nil, fmt.Errorf("unknown framework %q: want one of %s", cfg.Framework, strings.Join(frameworkNames(), ", "))
	}
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
		var rlcfg ratelimit.MemoryConfig
		if cfg.now != nil {
			origin := cfg.now()
			rlcfg.Clock = func() time.Duration { return cfg.now().Sub(origin) }
		}
		rl, err := ratelimit.NewMemoryStore(rlcfg)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, rl.Close)
		ks, err := killswitch.NewMemoryStore(killswitch.MemoryConfig{Now: cfg.now})
		if err != nil {
			return nil, err
		}
		idem, err := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
		if err != nil {
			return nil, err
		}
		limits, switches, replays = rl, ks, idem
	} else {
		client, err := connectRedis(cfg.RedisURL)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, client.Close)
		rl, err := rlredis.New(client, rlredis.Config{Prefix: cfg.RedisPrefix + "ratelimit:"})
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, rl.Close)
		ks, err := ksredis.New(client, ksredis.Config{
			Prefix: cfg.RedisPrefix + "killswitch:", ResyncInterval: cfg.KillSwitchResync, Logger: cfg.Logger,
		})
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, ks.Close)
		idem, err := idemredis.New(client, idemredis.Config{Prefix: cfg.RedisPrefix + "idempotency:", Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, idem.Close)
		limits, switches, replays = rl, ks, idem
	}
	s.KillSwitches = switches

	domain := newStore()
	w := newWorker(domain, cfg.JobDelay)
	s.closers = append(s.closers, func() error { w.close(); return nil })

	a := &app{
		log:          cfg.Logger,
		accessLog:    cfg.AccessLog,
		authenticate: domain.authenticateRequest,
		maxBodyBytes: maxBodyBytes,
		table:        newTable((&handlers{store: domain, worker: w}).routes()),
	}
	if a.global, err = killswitch.New(killswitch.Config{Checker: switches, GlobalOnly: true, Now: cfg.now}); err != nil {
		return nil, err
	}
	if a.switches, err = killswitch.New(killswitch.Config{Checker: switches, Now: cfg.now}); err != nil {
		return nil, err
	}
	if a.limiter, err = ratelimit.New(ratelimit.Config{
		Store:   limits,
		Classes: map[string]ratelimit.Rate{ratelimit.ClassRead: cfg.ReadRate, ratelimit.ClassWrite: cfg.WriteRate},
		Logger:  cfg.Logger,
	}); err != nil {
		return nil, err
	}
	if a.replay, err = idempotency.New(idempotency.Config{Store: replays, MaxBodyBytes: maxBodyBytes}); err != nil {
		return nil, err
	}
	if a.admin, err = killswitch.NewAdmin(killswitch.AdminConfig{
		Controller: switches,
		Authorize:  adminAuthorizer(cfg.AdminToken),
		Now:        cfg.now,
	}); err != nil {
		return nil, err
	}

	if s.Handler, err = build(a); err != nil {
		return nil, err
	}
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
	if cfg.Framework == "" {
		cfg.Framework = DefaultFramework
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
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
