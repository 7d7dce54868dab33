package ratelimit

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig configures a RedisStore. The zero value is usable.
type RedisConfig struct {
	// Prefix starts every bucket key. Default DefaultRedisPrefix. It must not
	// contain '{' or '}' (the key ID is the cluster hash tag).
	Prefix string
	// Timeout bounds each decision (one round trip), through
	// context.WithTimeout on the caller's context. Default 100ms.
	Timeout time.Duration
}

// DefaultRedisPrefix is the default key prefix of a RedisStore.
const DefaultRedisPrefix = "errkit:ratelimit:"

// ErrContextTimeoutDisabled is returned by NewRedisStore for a go-redis
// client whose options leave ContextTimeoutEnabled false: such a client
// ignores context deadlines on network I/O, so the per-call timeout could
// not hold.
var ErrContextTimeoutDisabled = errors.New("ratelimit: the Redis client must set ContextTimeoutEnabled so the per-call timeout holds")

//go:embed redis.lua
var redisScriptSource string

// redisScript is the decision script, run with EVALSHA and, when Redis does
// not know it yet (first use, restart, SCRIPT FLUSH), EVAL.
var redisScript = redis.NewScript(redisScriptSource)

// RedisStore is a Store shared by a fleet of servers through Redis. Each
// decision is exactly one round trip: one Lua script over one key per
// bucket, "<prefix><class>:{<key>}", so the key ID is the Redis Cluster hash
// tag. The script reads Redis's own clock (TIME), so servers with skewed
// clocks agree, and sets a TTL that expires the key when the bucket is
// full again, so idle buckets cost nothing. No Go lock is held during I/O.
type RedisStore struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
	closed  atomic.Bool
}

// NewRedisStore returns a RedisStore over client (standalone, sentinel or
// cluster). The client stays the caller's: Close does not close it. The
// client must honour context deadlines (ContextTimeoutEnabled for
// *redis.Client, *redis.ClusterClient and *redis.Ring); otherwise
// ErrContextTimeoutDisabled is returned.
func NewRedisStore(client redis.UniversalClient, cfg RedisConfig) (*RedisStore, error) {
	if client == nil {
		return nil, errors.New("ratelimit: nil Redis client")
	}
	var ctxTimeouts = true
	switch c := client.(type) {
	case *redis.Client:
		ctxTimeouts = c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		ctxTimeouts = c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		ctxTimeouts = c.Options().ContextTimeoutEnabled
	}
	if !ctxTimeouts {
		return nil, ErrContextTimeoutDisabled
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultRedisPrefix
	}
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return nil, fmt.Errorf("ratelimit: Redis prefix %q must not contain '{' or '}'", cfg.Prefix)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 100 * time.Millisecond
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("ratelimit: Redis timeout must be positive, got %v", cfg.Timeout)
	}
	return &RedisStore{client: client, prefix: cfg.Prefix, timeout: cfg.Timeout}, nil
}

// Key returns the Redis key of the bucket of (key, class): the prefix, the
// class name (which has no ':'), then the key ID as the hash tag.
func (s *RedisStore) Key(key, class string) string {
	return s.prefix + class + ":{" + key + "}"
}

// Allow implements Store with one script round trip, bounded by the
// configured timeout. Errors from Redis are wrapped and returned with a zero
// Decision; they are never a denial.
func (s *RedisStore) Allow(ctx context.Context, key string, class Class, cost int) (Decision, error) {
	iv, err := class.check(cost)
	if err != nil {
		return Decision{}, err
	}
	if s.closed.Load() {
		return Decision{}, ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := redisScript.Run(ctx, s.client, []string{s.Key(key, class.Name)},
		iv, class.Rate.Burst, cost, staggerSlots).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if len(res) != 4 {
		return Decision{}, fmt.Errorf("ratelimit: redis: script replied %d values, want 4", len(res))
	}
	return Decision{
		Allowed:    res[0] == 1,
		Limit:      class.Rate.Burst,
		Remaining:  int(min(max(res[1], 0), int64(class.Rate.Burst))),
		RetryAfter: time.Duration(res[2]) * time.Microsecond,
		ResetAfter: time.Duration(res[3]) * time.Microsecond,
	}, nil
}

// Close makes Allow return ErrClosed. It does not close the Redis client
// and starts no goroutine, so it has nothing to wait for. It is idempotent
// and returns nil.
func (s *RedisStore) Close() error {
	s.closed.Store(true)
	return nil
}

var _ Store = (*RedisStore)(nil)
