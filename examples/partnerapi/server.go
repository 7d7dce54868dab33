package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/clientip"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/idempotency"
	idemredis "github.com/layershq/errkit/idempotency/redisstore"
	"github.com/layershq/errkit/killswitch"
	ksredis "github.com/layershq/errkit/killswitch/redisstore"
	"github.com/layershq/errkit/ratelimit"
	rlredis "github.com/layershq/errkit/ratelimit/redisstore"
	"github.com/layershq/errkit/upstream"
	upredis "github.com/layershq/errkit/upstream/redisstore"
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

	// RedisURL, when set, puts rate limits, kill switches, idempotency
	// records and the open circuit breakers in that Redis, so that several
	// servers form one fleet.
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

	// AdminToken is the bearer token of the operator API. Default: a
	// random token New generates (see [Server.AdminToken]), so that no
	// demo runs with a token anyone can read here.
	AdminToken string

	// RedisClusterAddrs, when set, are nodes (host:port) of a Redis
	// Cluster that holds what RedisURL would, through the same stores on
	// a cluster client. Set RedisURL or RedisClusterAddrs, not both.
	RedisClusterAddrs []string

	// TrustedProxies are the networks of the proxies in front of the
	// server, whose X-Forwarded-For is read (right to left, clientip) to
	// find a request's client IP. Default: none; the client is the
	// connection's peer, and X-Forwarded-For is ignored.
	TrustedProxies []netip.Prefix
	// AuthFailureRate is the budget of failed authentications (API keys
	// and the operator token) per client IP: Burst failures, then
	// PerSecond. A client past it is answered RATE_LIMITED on every
	// request, a right key included, until it refills. Default
	// ratelimit.DefaultThrottleRate (burst 10, then 1 a second).
	AuthFailureRate ratelimit.Rate
	// PublicRate is the token bucket, per client IP, of the /v1 routes
	// that need no key (the catalogue and the examples). Default
	// DefaultPublicRate.
	PublicRate ratelimit.Rate

	// JobDelay is how long a generation job takes. Default 500ms.
	JobDelay time.Duration

	// AccessLog adds one log line per request.
	AccessLog bool

	// Metrics serves GET /metrics: errkit's counters (errors by code and
	// route, rate-limit decisions, kill-switch blocks, idempotency
	// outcomes, store failures) as Prometheus text, through
	// OpenTelemetry's Prometheus exporter on a registry of its own; no
	// key, no rate limit. See telemetry.go.
	Metrics bool
	// Traces, when set, receives every request's span as JSON (a line per
	// span, as OpenTelemetry's stdouttrace exporter writes it), with
	// errkit's errkit.request_id and error.type, and the log lines get
	// trace_id and span_id.
	Traces io.Writer

	// PlatformBase is where content is published: every platform call goes
	// to PlatformBase + "/" + platform + "/publish" (trailing slashes of
	// PlatformBase dropped), answered as that platform answers (see
	// fakeplatform.go). Default: New starts an in-process fake platform
	// on a loopback listener, which Close stops, so the demo needs no
	// network. It must be an absolute http(s) URL without query.
	PlatformBase string
	// BreakerFailures is how many consecutive failed calls to a platform
	// (a 5xx, a timeout, no answer) open its circuit. Default
	// DefaultBreakerFailures. With RedisURL the open circuits are the
	// fleet's.
	BreakerFailures int
	// BreakerCooldown is how long an open circuit refuses calls with
	// CIRCUIT_OPEN before one probe goes through. Default
	// DefaultBreakerCooldown.
	BreakerCooldown time.Duration
	// FetchAllowLoopback lets POST /v1/apps/{appId}/media fetch from
	// loopback addresses (127.0.0.0/8, ::1), for tests and a local tour
	// against the fake media host. Every other private network stays
	// refused.
	FetchAllowLoopback bool

	// now, when set, is the clock of the in-memory rate limits and kill
	// switches (Retry-After, switch times), and of the circuit breaker,
	// the platform clients and the fetcher: tests freeze or move it so
	// that two servers answer byte for byte the same, or a cooldown passes
	// without waiting.
	now func() time.Time
	// platformTimeout bounds each platform call; default 5s.
	platformTimeout time.Duration
	// fetchTimeout bounds each media fetch and the wait for its headers;
	// default 10s.
	fetchTimeout time.Duration
	// fetchMaxBytes caps a fetched media file; default 8 MiB.
	fetchMaxBytes int64
	// stackLogInterval is the error writer's StackLogInterval on the
	// nethttp framework (the echo adapters take the default): tests
	// measure the log of a panic flood with and without deduplication.
	stackLogInterval time.Duration
}

// DefaultPublicRate is the bucket of a zero [Config].PublicRate, per client
// IP: bursts of 20 requests, then 10 a second.
var DefaultPublicRate = ratelimit.Rate{PerSecond: 10, Burst: 20}

// Class names of the per-IP buckets.
const (
	// classPublic is the bucket of the routes that need no key.
	classPublic = "public"
	// classAuthFailure is the failed-authentication budget.
	classAuthFailure = ratelimit.DefaultThrottleClass
)

// Server is the demo Partner API.
type Server struct {
	// Handler serves the API; mount it on an http.Server.
	Handler http.Handler

	// KillSwitches flips the kill switches from Go (the operator API does
	// the same over HTTP).
	KillSwitches killswitch.Controller

	// platform is the in-process fake platform and media host, when
	// Config.PlatformBase is empty, and platformURL its address.
	platform    *fakePlatform
	platformURL string
	// upstreams are the platform clients, their breaker and the fetcher.
	upstreams *upstreams
	// adminToken is the operator API's token, Config.AdminToken or a
	// generated one.
	adminToken string

	closers []func() error
}

// app is everything a framework's wiring mounts, built once and free of any
// framework: the route table, the authentication, and errkit's core guards
// in the order they run.
type app struct {
	log       *slog.Logger
	accessLog bool
	// events is the telemetry's Hook (nil without telemetry), in every
	// errkit part's Config.
	events event.Hook

	// global is the global kill switch, in front of every /v1 route,
	// before authentication costs anything.
	global *killswitch.Guard
	// public limits the routes that need no key, per client IP, after
	// the global kill switch.
	public *ratelimit.Limiter
	// authenticate records the caller (principal.Set) or refuses, behind
	// the failed-authentication throttle; h is the response's header
	// (Retry-After of a throttled client).
	authenticate func(h http.Header, r *http.Request) (*http.Request, error)
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

	// stackLogInterval is Config.stackLogInterval.
	stackLogInterval time.Duration
}

// New builds the server: the seeded store, errkit's guards, and the routes
// mounted on cfg.Framework in the documented order. Close releases what it
// started.
func New(cfg Config) (s *Server, err error) {
	if cfg.BreakerFailures < 0 {
		return nil, fmt.Errorf("breaker failures %d (-breaker-failures): want 1 or more, or 0 for the default", cfg.BreakerFailures)
	}
	if cfg.BreakerCooldown < 0 {
		return nil, fmt.Errorf("breaker cooldown %v (-breaker-cooldown): want a positive duration, or 0 for the default", cfg.BreakerCooldown)
	}
	if cfg.RedisURL != "" && len(cfg.RedisClusterAddrs) > 0 {
		return nil, errors.New("-redis and -redis-cluster: set one of them, not both")
	}
	cfg = cfg.withDefaults()
	build, ok := frameworks[cfg.Framework]
	if !ok {
		return nil, fmt.Errorf("unknown framework %q: want one of %s", cfg.Framework, strings.Join(frameworkNames(), ", "))
	}
	base := ""
	if cfg.PlatformBase != "" {
		if base, err = platformBase(cfg.PlatformBase); err != nil {
			return nil, err
		}
	}
	s = &Server{}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	tel, err := newTelemetry(cfg)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, tel.close) // closed last: the other parts' spans are printed
	cfg.Logger = tel.logger(cfg.Logger)

	// The errkit stores: in memory, or shared by a fleet in Redis (a nil
	// circuits keeps the breaker's open state in this process).
	var (
		limits   ratelimit.Store
		switches killswitch.Source
		replays  idempotency.Store
		circuits upstream.Store
	)
	if cfg.RedisURL == "" && len(cfg.RedisClusterAddrs) == 0 {
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
		client, err := connectRedis(cfg.RedisURL, cfg.RedisClusterAddrs)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, client.Close)
		rl, err := rlredis.New(client, rlredis.Config{Prefix: cfg.RedisPrefix + "ratelimit:", Events: tel.hook})
		if err != nil {
			return nil, err
		}
		ks, err := ksredis.New(client, ksredis.Config{
			Prefix: cfg.RedisPrefix + "killswitch:", ResyncInterval: cfg.KillSwitchResync, Logger: cfg.Logger, Events: tel.hook,
		})
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, ks.Close)
		idem, err := idemredis.New(client, idemredis.Config{Prefix: cfg.RedisPrefix + "idempotency:", Events: tel.hook})
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, idem.Close)
		cb, err := upredis.New(client, upredis.Config{Prefix: cfg.RedisPrefix + "upstream:", Logger: cfg.Logger, Events: tel.hook})
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, cb.Close)
		limits, switches, replays, circuits = rl, ks, idem, cb
	}
	s.KillSwitches = switches

	// Without a platform base, the fake platform (and media host) on
	// loopback stands in for the platforms.
	if base == "" {
		s.platform = newFakePlatform(cfg.now)
		url, stop, err := startFake(s.platform)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, stop)
		s.platformURL, base = url, url
	}
	if s.upstreams, err = newUpstreams(cfg, base, circuits); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.upstreams.close)

	domain := newStore()
	w := newWorker(domain, cfg.JobDelay)
	s.closers = append(s.closers, func() error { w.close(); return nil })

	// The unauthenticated are keyed by client IP: the connection's peer,
	// or behind the trusted proxies what they forwarded.
	ips, err := clientip.New(clientip.Config{TrustedProxies: cfg.TrustedProxies, IPv6Prefix: 64})
	if err != nil {
		return nil, err
	}
	throttle, err := ratelimit.NewThrottle(ratelimit.ThrottleConfig{
		Store: limits, KeyFunc: ips.Key, Rate: cfg.AuthFailureRate, Class: classAuthFailure,
		Now: cfg.now, Logger: cfg.Logger, Events: tel.hook,
	})
	if err != nil {
		return nil, fmt.Errorf("-auth-failure-rate/-auth-failure-burst: %w", err)
	}
	if s.adminToken = cfg.AdminToken; s.adminToken == "" {
		if s.adminToken, err = newAdminToken(); err != nil {
			return nil, err
		}
	}

	a := &app{
		log:              cfg.Logger,
		events:           tel.hook,
		accessLog:        cfg.AccessLog,
		authenticate:     (&authenticator{store: domain, throttle: throttle}).authenticate,
		maxBodyBytes:     maxBodyBytes,
		table:            newTable((&handlers{store: domain, worker: w, upstreams: s.upstreams}).routes()),
		stackLogInterval: cfg.stackLogInterval,
	}
	if a.public, err = ratelimit.New(ratelimit.Config{
		Store:     limits,
		KeyFunc:   ips.Key,
		ClassFunc: func(*http.Request) string { return classPublic },
		Classes:   map[string]ratelimit.Rate{classPublic: cfg.PublicRate},
		Logger:    cfg.Logger,
		Events:    tel.hook,
	}); err != nil {
		return nil, fmt.Errorf("-public-rate/-public-burst: %w", err)
	}
	if a.global, err = killswitch.New(killswitch.Config{Checker: switches, GlobalOnly: true, Now: cfg.now, Events: tel.hook}); err != nil {
		return nil, err
	}
	if a.switches, err = killswitch.New(killswitch.Config{Checker: switches, Now: cfg.now, Events: tel.hook}); err != nil {
		return nil, err
	}
	if a.limiter, err = ratelimit.New(ratelimit.Config{
		Store:   limits,
		Classes: map[string]ratelimit.Rate{ratelimit.ClassRead: cfg.ReadRate, ratelimit.ClassWrite: cfg.WriteRate},
		Logger:  cfg.Logger,
		Events:  tel.hook,
	}); err != nil {
		return nil, err
	}
	if a.replay, err = idempotency.New(idempotency.Config{Store: replays, MaxBodyBytes: maxBodyBytes, Events: tel.hook}); err != nil {
		return nil, err
	}
	if a.admin, err = killswitch.NewAdmin(killswitch.AdminConfig{
		Controller: switches,
		Authorize:  adminAuthorizer(s.adminToken, throttle),
		Now:        cfg.now,
	}); err != nil {
		return nil, err
	}

	if s.Handler, err = build(a); err != nil {
		return nil, err
	}
	s.Handler = tel.wrap(s.Handler)
	return s, nil
}

// PlatformURL returns the address of the in-process fake platform
// ("http://127.0.0.1:<port>"; its media host is under /media/), or "" when
// Config.PlatformBase sends the platform calls elsewhere.
func (s *Server) PlatformURL() string { return s.platformURL }

// AdminToken returns the operator API's bearer token: Config.AdminToken, or
// the one New generated. Print it once; never log it.
func (s *Server) AdminToken() string { return s.adminToken }

// Close stops the server's background work (pending jobs, the kill-switch
// and circuit-breaker subscriptions, the rate limiter's sweeper, the fake
// platform) and closes its Redis client.
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
	if cfg.AuthFailureRate == (ratelimit.Rate{}) {
		cfg.AuthFailureRate = ratelimit.DefaultThrottleRate
	}
	if cfg.PublicRate == (ratelimit.Rate{}) {
		cfg.PublicRate = DefaultPublicRate
	}
	if cfg.JobDelay <= 0 {
		cfg.JobDelay = 500 * time.Millisecond
	}
	if cfg.BreakerFailures == 0 {
		cfg.BreakerFailures = DefaultBreakerFailures
	}
	if cfg.BreakerCooldown == 0 {
		cfg.BreakerCooldown = DefaultBreakerCooldown
	}
	if cfg.platformTimeout <= 0 {
		cfg.platformTimeout = defaultPlatformTimeout
	}
	if cfg.fetchTimeout <= 0 {
		cfg.fetchTimeout = defaultFetchTimeout
	}
	if cfg.fetchMaxBytes <= 0 {
		cfg.fetchMaxBytes = defaultMediaMaxBytes
	}
	return cfg
}

// connectRedis connects to the Redis at url, or to the Redis Cluster of
// clusterAddrs, and checks that it answers. The stores take either as a
// redis.UniversalClient.
func connectRedis(url string, clusterAddrs []string) (redis.UniversalClient, error) {
	var (
		client redis.UniversalClient
		where  string
	)
	if len(clusterAddrs) > 0 {
		// The rate limiter's, the idempotency store's and the breaker
		// store's per-call timeouts must hold on every node.
		client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: clusterAddrs, ContextTimeoutEnabled: true})
		where = "redis cluster " + strings.Join(clusterAddrs, ",")
	} else {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		opts.ContextTimeoutEnabled = true // the rate limiter's, the idempotency store's and the breaker store's per-call timeouts must hold
		client = redis.NewClient(opts)
		where = "redis at " + opts.Addr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return client, nil
}
