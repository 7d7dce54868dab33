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
package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/internal/redisclient"
	"github.com/layershq/errkit/ratelimit"
)

// Config configures a [Store]. The zero value is usable.
type Config struct {
	// Prefix starts every bucket key. Default [DefaultPrefix]. It must not
	// contain '{' or '}' (the key ID is the cluster hash tag).
	Prefix string
	// Timeout bounds each decision (one round trip), through
	// context.WithTimeout on the caller's context. Default 100ms.
	Timeout time.Duration
}

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
	return &Store{client: client, prefix: cfg.Prefix, timeout: cfg.Timeout}, nil
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
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := script.Run(ctx, s.client, []string{s.Key(key, class.Name)},
		int64(iv), class.Rate.Burst, cost, ratelimit.StaggerSlots).Int64Slice()
	if err != nil {
		return ratelimit.Decision{}, fmt.Errorf("ratelimit/redisstore: %w", err)
	}
	if len(res) != 4 {
		return ratelimit.Decision{}, fmt.Errorf("ratelimit/redisstore: script replied %d values, want 4", len(res))
	}
	return ratelimit.Decision{
		Allowed:    res[0] == 1,
		Limit:      class.Rate.Burst,
		Remaining:  int(min(max(res[1], 0), int64(class.Rate.Burst))),
		RetryAfter: time.Duration(res[2]) * time.Microsecond,
		ResetAfter: time.Duration(res[3]) * time.Microsecond,
	}, nil
}

// Close makes Allow return [ratelimit.ErrClosed]. It does not close the
// Redis client and starts no goroutine, so it has nothing to wait for. It
// is idempotent and returns nil.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}

var _ ratelimit.Store = (*Store)(nil)
