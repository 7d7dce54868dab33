// Package redisstore is the Redis implementation of [idempotency.Store]:
// one keyspace shared by every instance of a service, so that a retry
// reaching any instance replays the response another instance stored, and
// a key whose first request still runs on one instance is refused on all of
// them.
//
// A lease lives in Redis for its lease TTL and is renewed by its owner; a
// stored response lives for the Guard's TTL. Every operation is one atomic
// step on exactly one key, so the store works unchanged on Redis Cluster,
// and a lease is only ever renewed, completed or released by the owner
// token that took it. Values the store did not write (a key reused by
// another program, a record from a future version) are reported as errors,
// never replayed.
//
// # No orphan leases
//
// A request whose Acquire timed out is answered INTERNAL, and its client
// retries with the same key; a lease taken for it after it gave up would
// answer that retry "in use" for a whole lease TTL, for work that never
// runs. Two mechanisms prevent it:
//
//   - Acquisition is fenced by the caller's deadline, in Redis's clock (the
//     store learns the offset from its replies, which carry Redis's time):
//     an Acquire that Redis runs after its caller gave up (it was queued
//     while Redis stalled) takes no lease.
//   - An Acquire or Release that failed without an answer is released by
//     token in the background once Redis answers again (compare-and-delete:
//     it never touches another owner's lease), which covers an Acquire that
//     Redis ran in time but whose reply was lost, and a Release that never
//     arrived. Up to 10,000 such tokens are kept; past that the oldest are
//     left to expire with their lease TTL.
//
// # Redis requirements, checked
//
// Completed keys must survive a Redis restart, or a retry after it runs
// the work again. The store checks each master at start (CONFIG GET
// appendonly, save, maxmemory, maxmemory-policy): without AOF or RDB, or
// with a memory limit and an eviction policy other than noeviction
// (leases and responses carry TTLs, so volatile-* policies evict them as
// well as allkeys-*), it logs an error and emits a KindStore event with
// OutcomeUnsafe; where CONFIG is refused (managed Redis services), it logs
// that it could not check. With Config.RequirePersistence, [New] refuses to
// start instead. A marker key per master, written at start, is checked
// every Config.CheckInterval: when it has vanished (Redis restarted without
// persistence, was flushed, or evicted it), the store logs an error, emits
// OutcomeDataLost and writes it again.
//
// # Outages
//
// After Config.FailAfter consecutive calls that got no answer, the store
// fails fast: calls return an error wrapping [ErrUnavailable] at once, so
// the Guard answers INTERNAL without waiting its StoreTimeout, and a
// background probe lets calls through again once Redis answers. On Redis
// Cluster this holds for each master on its own: while one master is down
// only the keys it serves fail (fast, once FailAfter calls to it failed),
// and keys on the other masters are served as usual. The deadline fence
// uses each master's own clock offset. While any master fails fast the
// persistence and marker checks pause (the background releases go on).
//
// A Store runs one background goroutine (the checks and the releases) and
// one more while failing fast; Close stops them. It is kept out of package
// idempotency so that a service using only the memory store does not link
// go-redis.
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/internal/redisclient"
	"github.com/layershq/errkit/requestid"
)

// DefaultPrefix prefixes the keys of a Store whose Config.Prefix is empty.
const DefaultPrefix = "errkit:idempotency:"

// Value tags: a key holds either a lease ("L" + owner token + "\n" +
// fingerprint of the owner's request) or a stored response ("R" + JSON
// record).
const (
	leaseTag  = "L"
	recordTag = "R"
	// leaseSep ends the owner token in a lease value. Tokens must not
	// contain it, so that the token part of a value is unambiguous.
	leaseSep = "\n"
)

// recordVersion is the version of the stored JSON record format.
const recordVersion = 1

// errTokenNewline is returned for an owner token containing leaseSep.
var errTokenNewline = errors.New("idempotency/redisstore: owner token contains a newline")

// acquireScript returns {1, value, now} with the current value of
// KEYS[1], or takes the lease (SET NX PX, value ARGV[1], ARGV[2] ms) and
// returns {0, "", now} when there is none: lookup and acquisition in one
// atomic step, so a record stored between them can't be missed. When
// Redis runs it after ARGV[3], the caller's deadline in Redis time (µs;
// 0: none), it takes nothing and returns {2, "", now}. now is Redis's time
// in µs.
var acquireScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local v = redis.call('GET', KEYS[1])
if v then return {1, v, now} end
local deadline = tonumber(ARGV[3])
if deadline > 0 and now > deadline then return {2, '', now} end
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
return {0, '', now}
`)

// owns is the Lua test that the value v of KEYS[1] is a lease of the owner
// ARGV[1] ("L" + token): the value starts with it followed by the separator.
const owns = `
local function owns(v)
  if not v then return false end
  return string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. '\n'
end
`

// renewScript extends the lease when ARGV[1] still owns it.
var renewScript = redis.NewScript(owns + `
if owns(redis.call('GET', KEYS[1])) then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// completeScript replaces the lease by the record when ARGV[1] still owns it.
var completeScript = redis.NewScript(owns + `
if owns(redis.call('GET', KEYS[1])) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`)

// releaseScript deletes the lease when ARGV[1] still owns it
// (compare-and-delete).
var releaseScript = redis.NewScript(owns + `
if owns(redis.call('GET', KEYS[1])) then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Defaults of [Config].
const (
	DefaultTimeout       = time.Second
	DefaultCheckInterval = time.Second
)

// Config configures a [Store]. The zero value is valid.
type Config struct {
	// Prefix starts every Redis key of the store. Stores that share a
	// prefix on the same Redis share their keys: give every instance of a
	// service the same one, and different services different ones.
	// Default [DefaultPrefix].
	Prefix string
	// RequirePersistence makes New check Redis before it returns, and fail
	// (with an error wrapping [ErrNoPersistence]) when a master has neither
	// AOF nor RDB, or when the check could not be made (Redis unreachable,
	// CONFIG refused). By default the check runs in the background and
	// only logs and emits events.
	RequirePersistence bool
	// Timeout bounds each call the store makes on its own (checks, marker,
	// background releases). The Guard's StoreTimeout bounds the others.
	// Default [DefaultTimeout].
	Timeout time.Duration
	// CheckInterval is how often the marker keys are checked (and tokens
	// whose release failed are released again). Default
	// [DefaultCheckInterval].
	CheckInterval time.Duration
	// FailAfter is how many consecutive calls without an answer make the
	// store fail fast, counted for each Redis Cluster master on its own.
	// Default 3; negative disables failing fast.
	FailAfter int
	// ProbeInterval is how often Redis is probed while the store fails
	// fast. Default 500ms.
	ProbeInterval time.Duration
	// Events receives KindStore events (Component "idempotency"):
	// OutcomeUnsafe when Redis lacks persistence or evicts,
	// OutcomeDataLost when a marker vanished, OutcomeFailed (Policy
	// fail_closed) for every failed call. Nil: none.
	Events event.Hook
	// Logger receives the checks' findings, outages and data losses.
	// Default requestid.DefaultLogger().
	Logger *slog.Logger
}

// ErrUnavailable is wrapped by the errors the store returns without
// calling Redis while it fails fast.
var ErrUnavailable = redisclient.ErrUnavailable

// ErrContextTimeoutDisabled is returned by [New] for a go-redis client
// whose options leave ContextTimeoutEnabled false: such a client ignores
// context deadlines on network I/O, so the Guard's StoreTimeout could not
// bound the store's calls.
var ErrContextTimeoutDisabled = errors.New("idempotency/redisstore: the Redis client must set ContextTimeoutEnabled so the store timeout holds")

// Store is an [idempotency.Store] on Redis, shared by every instance of a
// service that uses the same Redis and prefix. Each idempotency key is one
// Redis key, the prefix followed by 64 hex characters, holding either the
// lease of the request running under it or the stored response; the store
// also keeps one marker key per Redis master (prefix + "marker:{...}").
// It does not own the client. Owner tokens must not contain a newline; the
// store answers an error for one that does.
type Store struct {
	client redis.UniversalClient
	prefix string
	cfg    Config
	log    *slog.Logger
	events event.Hook
	gate   *redisclient.Gate
	clocks redisclient.Clocks // one per master: their clocks may disagree

	mu       sync.Mutex
	doubtful []pending       // tokens to release once Redis answers, oldest first
	markers  map[string]bool // marker keys written (and so expected to exist)
	checked  bool            // the persistence check ran to a conclusion

	rounds    atomic.Int64 // marker checks made: lets tests wait for rounds
	noRelease atomic.Bool  // tests: hold the background releases

	wake   chan struct{} // capacity 1: a release is pending
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

// pending is a lease to release by token.
type pending struct{ key, token string }

// maxDoubtful bounds the tokens kept for a background release.
const maxDoubtful = 10_000

var _ idempotency.Store = (*Store)(nil)

// New returns a Store on client for cfg and starts its background
// goroutine, which runs until Close. It fails for a nil client, a client
// without ContextTimeoutEnabled ([ErrContextTimeoutDisabled]: the Guard's
// StoreTimeout could not bound network I/O), a negative duration, and,
// with RequirePersistence, a Redis that does not persist or could not be
// checked within Timeout. Otherwise it does not wait for Redis: the checks
// run in the background. The client is not closed by the store.
func New(client redis.UniversalClient, cfg Config) (*Store, error) {
	if redisclient.IsNil(client) {
		return nil, errors.New("idempotency/redisstore: nil Redis client")
	}
	if !redisclient.HonoursDeadlines(client) {
		return nil, ErrContextTimeoutDisabled
	}
	if cfg.Timeout < 0 || cfg.CheckInterval < 0 || cfg.ProbeInterval < 0 {
		return nil, errors.New("idempotency/redisstore: Config durations must not be negative")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	s := &Store{
		client:  client,
		prefix:  cfg.Prefix,
		cfg:     cfg,
		log:     requestid.OrDefault(cfg.Logger).With(slog.String("component", "idempotency.redisstore")),
		events:  cfg.Events,
		markers: map[string]bool{},
		wake:    make(chan struct{}, 1),
	}
	s.gate = redisclient.NewGate(client, redisclient.GateConfig{
		FailAfter:     cfg.FailAfter,
		ProbeInterval: cfg.ProbeInterval,
		OnOpen: func(node string, err error) {
			s.log.Error("Redis is failing: idempotent requests answer INTERNAL at once until it answers again",
				nodeAttrs(node, slog.String("error", err.Error()))...)
		},
		OnClose: func(node string, down time.Duration) {
			s.log.Info("Redis answers again: idempotent requests resume", nodeAttrs(node, slog.Duration("down", down))...)
			s.poke()
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if cfg.RequirePersistence {
		cctx, ccancel := context.WithTimeout(ctx, cfg.Timeout)
		err := s.checkPersistence(cctx, true)
		ccancel()
		if err != nil {
			cancel()
			return nil, err
		}
	}
	s.wg.Add(1)
	go s.background(ctx)
	return s, nil
}

// Close stops the background work and waits for it to end. It does not
// close the Redis client; the store keeps working without it (no checks,
// no background releases, no failing fast). It is idempotent and returns
// nil.
func (s *Store) Close() error {
	s.closed.Do(func() {
		s.cancel()
		s.wg.Wait()
		s.gate.Close()
	})
	return nil
}

// nodeAttrs prepends the node to attrs when there is one (a cluster's
// master: on a cluster a failure concerns only the keys of one master).
func nodeAttrs(node string, attrs ...any) []any {
	if node == "" {
		return attrs
	}
	return append([]any{slog.String("node", node)}, attrs...)
}

// call runs one Redis call on key for a request (under its context)
// through the gate of the node serving key, and reports a failure. f gets
// that node's clock.
func (s *Store) call(ctx context.Context, key string, op string, f func(clock *redisclient.Clock) error) error {
	node := s.gate.Node(ctx, key)
	if err := s.gate.Allow(node); err != nil {
		return s.fail(ctx, op, err)
	}
	err := f(s.clocks.For(node))
	s.gate.Record(ctx, node, key, err)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// fail wraps err as the failure of op and emits it.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	err = fmt.Errorf("idempotency/redisstore: %s: %w", op, err)
	event.Fire(ctx, s.events, event.Event{Kind: event.KindStore, Outcome: event.OutcomeFailed,
		Component: event.ComponentIdempotency, Policy: event.PolicyFailClosed, Err: err})
	return err
}

// doubt remembers a lease that may exist for token although its caller
// was told the call failed, for a background release: the call was sent
// and got no answer (an outage, or the caller gave up), or, for a release
// (held is true: the lease exists), it was not sent at all because the
// store fails fast.
func (s *Store) doubt(ctx context.Context, key, token string, err error, held bool) {
	sent := !errors.Is(err, ErrUnavailable) && (redisclient.IsOutage(ctx, err) || errors.Is(err, context.Canceled))
	if !sent && !(held && errors.Is(err, ErrUnavailable)) {
		return
	}
	s.mu.Lock()
	if len(s.doubtful) >= maxDoubtful {
		s.doubtful = s.doubtful[1:]
	}
	s.doubtful = append(s.doubtful, pending{key: key, token: token})
	s.mu.Unlock()
	s.poke()
}

// poke wakes the background goroutine without blocking.
func (s *Store) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Acquire implements [idempotency.Store].
func (s *Store) Acquire(ctx context.Context, key, token, fingerprint string, leaseTTL time.Duration) (idempotency.Lookup, error) {
	if strings.Contains(token, leaseSep) {
		return idempotency.Lookup{}, errTokenNewline
	}
	lease := leaseTag + token + leaseSep + fingerprint
	rkey := s.prefix + key
	var res []any
	err := s.call(ctx, rkey, "acquire", func(clock *redisclient.Clock) error {
		sent := time.Now()
		var err error
		res, err = acquireScript.Run(ctx, s.client, []string{rkey}, lease, millis(leaseTTL), clock.Deadline(ctx)).Slice()
		if err == nil && len(res) == 3 {
			if now, ok := res[2].(int64); ok {
				clock.Observe(sent, time.Now(), now)
			}
		}
		return err
	})
	if err != nil {
		s.doubt(ctx, key, token, err, false)
		return idempotency.Lookup{}, err
	}
	code, _ := res[0].(int64)
	v, _ := res[1].(string)
	if len(res) != 3 {
		code = -1
	}
	switch code {
	case 0:
		return idempotency.Lookup{State: idempotency.Acquired}, nil
	case 2:
		return idempotency.Lookup{}, s.fail(ctx, "acquire", errLate)
	case 1:
	default:
		return idempotency.Lookup{}, s.fail(ctx, "acquire", fmt.Errorf("unexpected script reply %v", res))
	}
	switch {
	case strings.HasPrefix(v, leaseTag):
		_, fp, ok := strings.Cut(v[len(leaseTag):], leaseSep)
		if !ok {
			return idempotency.Lookup{}, fmt.Errorf("idempotency/redisstore: key %s holds a lease without fingerprint", s.prefix+key)
		}
		return idempotency.Lookup{State: idempotency.InProgress, Fingerprint: fp}, nil
	case strings.HasPrefix(v, recordTag):
		rec, err := decodeRecord([]byte(v[len(recordTag):]))
		if err != nil {
			return idempotency.Lookup{}, err
		}
		return idempotency.Lookup{State: idempotency.Completed, Record: rec}, nil
	}
	return idempotency.Lookup{}, fmt.Errorf("idempotency/redisstore: key %s holds an unknown value", s.prefix+key)
}

// Renew implements [idempotency.Store].
func (s *Store) Renew(ctx context.Context, key, token string, leaseTTL time.Duration) error {
	if strings.Contains(token, leaseSep) {
		return errTokenNewline
	}
	var n int
	err := s.call(ctx, s.prefix+key, "renew", func(*redisclient.Clock) error {
		var err error
		n, err = renewScript.Run(ctx, s.client, []string{s.prefix + key}, leaseTag+token, millis(leaseTTL)).Int()
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return idempotency.ErrLeaseLost
	}
	return nil
}

// Complete implements [idempotency.Store].
func (s *Store) Complete(ctx context.Context, key, token string, rec idempotency.Record, ttl time.Duration) error {
	if strings.Contains(token, leaseSep) {
		return errTokenNewline
	}
	enc, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	var n int
	err = s.call(ctx, s.prefix+key, "complete", func(*redisclient.Clock) error {
		var err error
		n, err = completeScript.Run(ctx, s.client, []string{s.prefix + key}, leaseTag+token, enc, millis(ttl)).Int()
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return idempotency.ErrLeaseLost
	}
	return nil
}

// Release implements [idempotency.Store].
func (s *Store) Release(ctx context.Context, key, token string) error {
	if strings.Contains(token, leaseSep) {
		return errTokenNewline
	}
	err := s.call(ctx, s.prefix+key, "release", func(*redisclient.Clock) error {
		return releaseScript.Run(ctx, s.client, []string{s.prefix + key}, leaseTag+token).Err()
	})
	if err != nil {
		s.doubt(ctx, key, token, err, true)
	}
	return err
}

// errLate is the cause when Redis ran an acquisition after its caller's
// deadline (and so took no lease).
var errLate = errors.New("Redis ran the acquisition after its deadline; no lease was taken")

// wireRecord is the JSON form of a Record in Redis.
type wireRecord struct {
	Version     int         `json:"v"`
	Fingerprint string      `json:"f"`
	Status      int         `json:"s"`
	Header      http.Header `json:"h,omitempty"`
	Body        []byte      `json:"b,omitempty"`
}

// encodeRecord renders rec as a tagged Redis value.
func encodeRecord(rec idempotency.Record) (string, error) {
	b, err := json.Marshal(wireRecord{
		Version: recordVersion, Fingerprint: rec.Fingerprint, Status: rec.Status,
		Header: rec.Header, Body: rec.Body,
	})
	if err != nil {
		return "", fmt.Errorf("idempotency/redisstore: encode idempotency record: %w", err)
	}
	return recordTag + string(b), nil
}

// decodeRecord parses the JSON part of a stored record.
func decodeRecord(b []byte) (*idempotency.Record, error) {
	var w wireRecord
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("idempotency/redisstore: decode idempotency record: %w", err)
	}
	if w.Version != recordVersion {
		return nil, fmt.Errorf("idempotency/redisstore: stored idempotency record has version %d, want %d", w.Version, recordVersion)
	}
	if w.Status < 200 || w.Status > 299 {
		return nil, fmt.Errorf("idempotency/redisstore: stored idempotency record has status %d", w.Status)
	}
	return &idempotency.Record{Fingerprint: w.Fingerprint, Status: w.Status, Header: w.Header, Body: w.Body}, nil
}

// millis renders d as whole milliseconds for PX / PEXPIRE, at least 1.
func millis(d time.Duration) string {
	ms := d.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	return strconv.FormatInt(ms, 10)
}
