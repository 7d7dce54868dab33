// Package redisstore is the Redis implementation of [ratelimit.Store], for a
// fleet of servers that share their buckets. It is its own package so that
// a service using only the memory store links no Redis client.
//
// Each decision is exactly one round trip: one Lua script (EVALSHA, and
// EVAL when Redis does not have it yet: first use, restart, SCRIPT FLUSH)
// over one key per bucket, "<prefix><class>:{<key>}", so the key ID is the
// Redis Cluster hash tag. The script runs the same algorithm as
// [ratelimit.MemoryStore], GCRA with [ratelimit.StaggerSlots] staggered
// retry times, on Redis's own clock (TIME), so servers with skewed clocks
// agree, and gives each key a TTL that expires it when the bucket is full
// again, so idle buckets cost nothing. Every decision is bounded by a short
// timeout; a Redis failure is an error (the limiter's failure policy
// applies), never a denial.
//
// # Outages
//
// After Config.FailAfter consecutive failed decisions (timeouts, refused
// connections; not Redis replies) the store fails fast: Allow returns an
// error wrapping [ErrUnavailable] at once, without calling Redis, so the
// limiter's fail-open or fail-closed policy applies without the timeout
// added to every request. One background goroutine probes Redis every
// Config.ProbeInterval and lets decisions through again when it answers;
// none runs while Redis is healthy. Close stops it. On Redis Cluster this
// holds for each master on its own: while one master is down only the
// keys it serves fail (fast, once FailAfter decisions on it failed), and
// the keys of the other masters are decided as usual.
//
// # Decisions that arrive late
//
// Each decision carries its caller's deadline, converted to Redis's clock
// (the offset is learnt from the replies, which carry Redis's time; on a
// cluster, each master's own). A
// decision Redis runs after that deadline (it was queued while Redis
// stalled and the caller has given up) takes no tokens. What is left: a
// decision Redis ran in time whose reply was lost spends its tokens (one
// request's cost); nothing tells the store it ran, so nothing refunds it.
//
// # Redis requirements
//
// Persistence is optional (a restart refills every bucket: clients get at
// most one extra burst). Any eviction policy is safe (an evicted bucket is
// a full bucket), but noeviction or volatile-* keep the limiter exact
// under memory pressure. See docs/ratelimit.md for memory per key.
package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/internal/redisclient"
	"github.com/layershq/errkit/ratelimit"
	"github.com/layershq/errkit/requestid"
)

// Config configures a [Store]. The zero value is usable.
type Config struct {
	// Prefix starts every bucket key. Default [DefaultPrefix]. It must not
	// contain '{' or '}' (the key ID is the cluster hash tag).
	Prefix string
	// Timeout bounds each decision (one round trip), through
	// context.WithTimeout on the caller's context. Default 100ms.
	Timeout time.Duration
	// FailAfter is how many consecutive failed decisions make the store
	// fail fast, counted for each Redis Cluster master on its own (see the
	// package documentation). Default 3; negative
	// disables failing fast (every decision waits for Redis, up to
	// Timeout).
	FailAfter int
	// ProbeInterval is how often Redis is probed while the store fails
	// fast. Default 500ms.
	ProbeInterval time.Duration
	// Events receives a KindStore event (Component "ratelimit") for every
	// failed decision, failing fast included. Nil: none.
	Events event.Hook
	// Logger receives the start and end of an outage (once each).
	// Default requestid.DefaultLogger().
	Logger *slog.Logger
}

// ErrUnavailable is wrapped by the errors Allow returns without calling
// Redis while the store fails fast.
var ErrUnavailable = redisclient.ErrUnavailable

// DefaultPrefix is the default key prefix of a [Store].
const DefaultPrefix = "errkit:ratelimit:"

// ErrContextTimeoutDisabled is returned by [New] for a go-redis client
// whose options leave ContextTimeoutEnabled false: such a client ignores
// context deadlines on network I/O, so the per-call timeout could not hold.
var ErrContextTimeoutDisabled = errors.New("ratelimit/redisstore: the Redis client must set ContextTimeoutEnabled so the per-call timeout holds")

//go:embed redis.lua
var scriptSource string

// script is the decision script, run with EVALSHA and, when Redis does not
// know it yet, EVAL.
var script = redis.NewScript(scriptSource)

// Store is a [ratelimit.Store] shared by a fleet of servers through Redis
// (see the package documentation). It is safe for concurrent use and holds
// no Go lock during I/O.
type Store struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
	events  event.Hook
	gate    *redisclient.Gate
	clocks  redisclient.Clocks // one per master: their clocks may disagree
	closed  atomic.Bool
}

// New returns a Store over client (standalone, sentinel or cluster). The
// client stays the caller's: Close does not close it. A nil client is an
// error. The client must honour context deadlines (ContextTimeoutEnabled
// for *redis.Client, *redis.ClusterClient and *redis.Ring); otherwise
// [ErrContextTimeoutDisabled] is returned.
func New(client redis.UniversalClient, cfg Config) (*Store, error) {
	if redisclient.IsNil(client) {
		return nil, errors.New("ratelimit/redisstore: nil Redis client")
	}
	if !redisclient.HonoursDeadlines(client) {
		return nil, ErrContextTimeoutDisabled
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return nil, fmt.Errorf("ratelimit/redisstore: prefix %q must not contain '{' or '}'", cfg.Prefix)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 100 * time.Millisecond
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("ratelimit/redisstore: timeout must be positive, got %v", cfg.Timeout)
	}
	if cfg.ProbeInterval < 0 {
		return nil, fmt.Errorf("ratelimit/redisstore: probe interval must not be negative, got %v", cfg.ProbeInterval)
	}
	log := requestid.OrDefault(cfg.Logger).With(slog.String("component", "ratelimit.redisstore"))
	s := &Store{client: client, prefix: cfg.Prefix, timeout: cfg.Timeout, events: cfg.Events}
	s.gate = redisclient.NewGate(client, redisclient.GateConfig{
		FailAfter:     cfg.FailAfter,
		ProbeInterval: cfg.ProbeInterval,
		OnOpen: func(node string, err error) {
			log.Error("Redis is failing: rate-limit decisions fail fast (the limiter's failure policy applies) until it answers again",
				nodeAttrs(node, slog.String("error", err.Error()))...)
		},
		OnClose: func(node string, down time.Duration) {
			log.Info("Redis answers again: rate-limit decisions resume", nodeAttrs(node, slog.Duration("down", down))...)
		},
	})
	return s, nil
}

// Key returns the Redis key of the bucket of (key, class): the prefix, the
// class name (which has no ':'), then the key ID as the hash tag.
func (s *Store) Key(key, class string) string {
	return s.prefix + class + ":{" + key + "}"
}

// Allow implements [ratelimit.Store] with one script round trip, bounded by
// the configured timeout. It validates class and cost with
// [ratelimit.Class.Check] before any I/O. Errors from Redis are wrapped and
// returned with a zero Decision; they are never a denial. After Close it
// returns [ratelimit.ErrClosed].
func (s *Store) Allow(ctx context.Context, key string, class ratelimit.Class, cost int) (ratelimit.Decision, error) {
	iv, err := class.Check(cost)
	if err != nil {
		return ratelimit.Decision{}, err
	}
	if s.closed.Load() {
		return ratelimit.Decision{}, ratelimit.ErrClosed
	}
	rkey := s.Key(key, class.Name)
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	node := s.gate.Node(cctx, rkey)
	if err := s.gate.Allow(node); err != nil {
		return ratelimit.Decision{}, s.fail(ctx, err)
	}
	clock := s.clocks.For(node)
	sent := time.Now()
	res, err := script.Run(cctx, s.client, []string{rkey},
		int64(iv), class.Rate.Burst, cost, ratelimit.StaggerSlots, clock.Deadline(cctx)).Int64Slice()
	s.gate.Record(ctx, node, rkey, err)
	if err != nil {
		return ratelimit.Decision{}, s.fail(ctx, err)
	}
	if len(res) != 5 {
		return ratelimit.Decision{}, fmt.Errorf("ratelimit/redisstore: script replied %d values, want 5", len(res))
	}
	clock.Observe(sent, time.Now(), res[4])
	if res[0] < 0 {
		return ratelimit.Decision{}, s.fail(ctx, errLate)
	}
	return ratelimit.Decision{
		Allowed:    res[0] == 1,
		Limit:      class.Rate.Burst,
		Remaining:  int(min(max(res[1], 0), int64(class.Rate.Burst))),
		RetryAfter: time.Duration(res[2]) * time.Microsecond,
		ResetAfter: time.Duration(res[3]) * time.Microsecond,
	}, nil
}

// nodeAttrs prepends the node to attrs when there is one (a cluster's
// master: on a cluster an outage concerns only the keys of one master).
func nodeAttrs(node string, attrs ...any) []any {
	if node == "" {
		return attrs
	}
	return append([]any{slog.String("node", node)}, attrs...)
}

// errLate is the cause when Redis ran a decision after its caller's
// deadline (and so took nothing).
var errLate = errors.New("Redis ran the decision after its deadline; no tokens were taken")

// fail wraps a failed decision's error and reports it.
func (s *Store) fail(ctx context.Context, err error) error {
	err = fmt.Errorf("ratelimit/redisstore: %w", err)
	event.Fire(ctx, s.events, event.Event{Kind: event.KindStore, Outcome: event.OutcomeFailed,
		Component: event.ComponentRateLimit, Err: err})
	return err
}

// Close makes Allow return [ratelimit.ErrClosed] and stops the outage
// probe, waiting for it to end. It does not close the Redis client. It is
// idempotent and returns nil.
func (s *Store) Close() error {
	s.closed.Store(true)
	s.gate.Close()
	return nil
}

var _ ratelimit.Store = (*Store)(nil)
