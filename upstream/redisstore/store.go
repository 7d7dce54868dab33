package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/internal/redisclient"
	"github.com/layershq/errkit/requestid"
	"github.com/layershq/errkit/upstream"
)

// Defaults of [Config].
const (
	DefaultPrefix         = "errkit:upstream:"
	DefaultTimeout        = 500 * time.Millisecond
	DefaultResyncInterval = time.Second
)

// ErrContextTimeoutDisabled is returned by [New] for a go-redis client whose
// options leave ContextTimeoutEnabled false: such a client ignores context
// deadlines on network I/O, so neither [Config].Timeout nor the breaker's
// StoreTimeout could bound a call.
var ErrContextTimeoutDisabled = errors.New("upstream/redisstore: the Redis client must set ContextTimeoutEnabled so the per-call timeout holds")

// Config configures [New]. Every zero field has a default.
type Config struct {
	// Prefix namespaces the keys: the circuits live in the hash
	// Prefix+"circuits" and changes are announced on the channel
	// Prefix+"changes". Default DefaultPrefix.
	Prefix string
	// Timeout bounds every Redis call. Default DefaultTimeout.
	Timeout time.Duration
	// ResyncInterval is how often the open circuits are re-read even
	// without an announcement, which heals a missed one (a reconnect, a
	// Redis restart): an instance that missed a trip learns of it within
	// ResyncInterval. Default DefaultResyncInterval.
	ResyncInterval time.Duration
	// Logger receives outages of the subscription and of the calls.
	// Default requestid.DefaultLogger().
	Logger *slog.Logger
	// FailAfter is how many consecutive Trip, Reset, Probe or Release
	// calls without an answer make the store fail fast: calls then return
	// an error wrapping [ErrUnavailable] at once (the breakers carry on
	// from their own state without waiting their StoreTimeout) while a
	// background probe waits for Redis. Default 3; negative disables it.
	FailAfter int
	// ProbeInterval is how often Redis is probed while the store fails
	// fast. Default 500ms.
	ProbeInterval time.Duration
	// Events receives a KindStore event (Component "breaker") for every
	// failed call. Nil: none.
	Events event.Hook
}

// ErrUnavailable is wrapped by the errors the store returns without
// calling Redis while it fails fast.
var ErrUnavailable = redisclient.ErrUnavailable

// Store is the fleet's [upstream.Store]. It holds no circuit state of its
// own: the breakers keep theirs in memory, and the Store carries their
// changes between instances. One Redis round trip each: Trip, Reset,
// Probe and Release are Lua scripts that update the hash and announce the
// change in the same call. Closed calls never reach it.
//
// A Store runs two goroutines until Close: the subscription, and the
// resync that re-reads the open circuits every ResyncInterval and after
// every (re)subscription.
type Store struct {
	client  redis.UniversalClient
	hash    string
	channel string
	cfg     Config
	log     *slog.Logger
	origin  string // this instance, to skip its own announcements

	tokens atomic.Uint64
	gate   *redisclient.Gate
	events event.Hook

	mu       sync.Mutex
	watchers map[int]func(string, time.Time)
	nextW    int

	resync      chan struct{} // capacity 1
	needScripts atomic.Bool   // load the scripts at the next resync
	ps          *redis.PubSub
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	closed      sync.Once
}

// New returns a Store on client (single node, sentinel or cluster; Close
// does not close it) and starts its background work, which runs until
// Close. It returns an error only for a nil client, a client that does not
// honour context deadlines ([ErrContextTimeoutDisabled]) or a negative
// duration, never for an unreachable Redis: the breakers then work on
// their own and the Store catches up when Redis is back.
func New(client redis.UniversalClient, cfg Config) (*Store, error) {
	if redisclient.IsNil(client) {
		return nil, errors.New("upstream/redisstore: nil Redis client")
	}
	if !redisclient.HonoursDeadlines(client) {
		return nil, ErrContextTimeoutDisabled
	}
	if cfg.Timeout < 0 || cfg.ResyncInterval < 0 || cfg.ProbeInterval < 0 {
		return nil, errors.New("upstream/redisstore: Config durations must not be negative")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ResyncInterval == 0 {
		cfg.ResyncInterval = DefaultResyncInterval
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("upstream/redisstore: instance id: %w", err)
	}
	s := &Store{
		client:   client,
		hash:     cfg.Prefix + "circuits",
		channel:  cfg.Prefix + "changes",
		cfg:      cfg,
		log:      requestid.OrDefault(cfg.Logger).With(slog.String("component", "upstream.redisstore")),
		origin:   hex.EncodeToString(id[:]),
		watchers: make(map[int]func(string, time.Time)),
		resync:   make(chan struct{}, 1),
		events:   cfg.Events,
	}
	s.gate = redisclient.NewGate(client, redisclient.GateConfig{
		FailAfter:     cfg.FailAfter,
		ProbeInterval: cfg.ProbeInterval,
		OnOpen: func(_ string, err error) {
			s.log.Error("Redis is failing: circuit changes are not shared with the fleet (calls fail fast) until it answers again",
				slog.String("error", err.Error()))
		},
		OnClose: func(_ string, down time.Duration) {
			s.log.Info("Redis answers again: circuit changes are shared again", slog.Duration("down", down))
			s.requestResync()
		},
	})
	s.needScripts.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.ps = client.Subscribe(ctx) // no channel yet: no network call here
	s.wg.Add(2)
	go s.subscribeLoop(ctx)
	go s.resyncLoop(ctx)
	return s, nil
}

// Close stops the background work (and a running outage probe) and waits
// for it to end. It does not close the Redis client. Calling it again does
// nothing.
func (s *Store) Close() error {
	s.closed.Do(func() {
		s.cancel()
		_ = s.ps.Close()
		s.wg.Wait()
		s.gate.Close()
	})
	return nil
}

// call runs one request-path call through the gate, wrapping and
// reporting its failure as the failure of what.
func (s *Store) call(ctx context.Context, what string, f func(ctx context.Context) error) error {
	bctx, cancel := s.bounded(ctx)
	defer cancel()
	// Every call is on the one hash, so on a cluster one master: its gate.
	node := s.gate.Node(bctx, s.hash)
	if err := s.gate.Allow(node); err != nil {
		return s.fail(ctx, what, err)
	}
	err := f(bctx)
	s.gate.Record(ctx, node, s.hash, err)
	if err != nil {
		return s.fail(ctx, what, err)
	}
	return nil
}

func (s *Store) fail(ctx context.Context, what string, err error) error {
	err = fmt.Errorf("upstream/redisstore: %s: %w", what, err)
	event.Fire(ctx, s.events, event.Event{Kind: event.KindStore, Outcome: event.OutcomeFailed,
		Component: event.ComponentBreaker, Err: err})
	return err
}

// A circuit's hash field is "<platform>:<resource>" and its value
// "<untilMs> <probeUntilMs> <token>", token "-" when no probe is held.
// Announcements are "T <origin> <untilMs> <key>" and "R <origin> <key>".

// tripSrc: KEYS[1] hash; ARGV field, untilMs, ttlMs, channel, message.
// The hash outlives the last cooldown by an hour and then disappears.
var tripSrc = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' 0 -')
local ttl = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`

// resetSrc: KEYS[1] hash; ARGV field, channel, message.
var resetSrc = `
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`

// probeSrc: KEYS[1] hash; ARGV field, nowMs, leaseMs, token. Returns
// {1} granted, {2} closed, {3, untilMs} open, {4, probeUntilMs} busy.
var probeSrc = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return {2} end
local u, p = string.match(v, '^(%d+) (%d+) ')
if not u then redis.call('HDEL', KEYS[1], ARGV[1]) return {2} end
local now = tonumber(ARGV[2])
if now < tonumber(u) then return {3, tonumber(u)} end
if now < tonumber(p) then return {4, tonumber(p)} end
redis.call('HSET', KEYS[1], ARGV[1], u .. ' ' .. (now + tonumber(ARGV[3])) .. ' ' .. ARGV[4])
return {1}
`

// releaseSrc: KEYS[1] hash; ARGV field, token.
var releaseSrc = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local u, t = string.match(v, '^(%d+) %d+ (%S+)$')
if u and t == ARGV[2] then redis.call('HSET', KEYS[1], ARGV[1], u .. ' 0 -') return 1 end
return 0
`

var (
	tripScript    = redis.NewScript(tripSrc)
	resetScript   = redis.NewScript(resetSrc)
	probeScript   = redis.NewScript(probeSrc)
	releaseScript = redis.NewScript(releaseSrc)
	scripts       = []string{tripSrc, resetSrc, probeSrc, releaseSrc}
)

// keepAfterCooldown is how long the hash outlives the last cooldown.
const keepAfterCooldown = time.Hour

func (s *Store) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.Timeout)
}

// Trip records key open until until and announces it, in one round trip.
func (s *Store) Trip(ctx context.Context, key string, now, until time.Time) error {
	ms := strconv.FormatInt(until.UnixMilli(), 10)
	ttl := (until.Sub(now) + keepAfterCooldown).Milliseconds()
	return s.call(ctx, "trip "+key, func(ctx context.Context) error {
		return tripScript.Run(ctx, s.client, []string{s.hash}, key, ms, ttl, s.channel, "T "+s.origin+" "+ms+" "+key).Err()
	})
}

// Reset records key closed and announces it, in one round trip.
func (s *Store) Reset(ctx context.Context, key string) error {
	return s.call(ctx, "reset "+key, func(ctx context.Context) error {
		return resetScript.Run(ctx, s.client, []string{s.hash}, key, s.channel, "R "+s.origin+" "+key).Err()
	})
}

// Probe asks for key's probe at now, in one round trip.
func (s *Store) Probe(ctx context.Context, key string, now time.Time, lease time.Duration) (upstream.Probe, error) {
	token := s.origin + "-" + strconv.FormatUint(s.tokens.Add(1), 10)
	var res []int64
	err := s.call(ctx, "probe "+key, func(ctx context.Context) error {
		var err error
		res, err = probeScript.Run(ctx, s.client, []string{s.hash}, key, now.UnixMilli(), lease.Milliseconds(), token).Int64Slice()
		return err
	})
	if err != nil {
		return upstream.Probe{}, err
	}
	if len(res) == 0 {
		return upstream.Probe{}, fmt.Errorf("upstream/redisstore: probe %s: empty reply", key)
	}
	switch res[0] {
	case 1:
		return upstream.Probe{Status: upstream.ProbeGranted, Token: token}, nil
	case 2:
		return upstream.Probe{Status: upstream.ProbeClosed}, nil
	case 3, 4:
		if len(res) < 2 {
			break
		}
		st := upstream.ProbeOpen
		if res[0] == 4 {
			st = upstream.ProbeBusy
		}
		return upstream.Probe{Status: st, Until: time.UnixMilli(res[1])}, nil
	}
	return upstream.Probe{}, fmt.Errorf("upstream/redisstore: probe %s: unexpected reply %v", key, res)
}

// Release gives back the probe token holds, in one round trip.
func (s *Store) Release(ctx context.Context, key, token string) error {
	return s.call(ctx, "release "+key, func(ctx context.Context) error {
		return releaseScript.Run(ctx, s.client, []string{s.hash}, key, token).Err()
	})
}

// Watch registers fn for the trips and resets of other instances, and for
// the open circuits every resync finds.
func (s *Store) Watch(fn func(key string, until time.Time)) (stop func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextW
	s.nextW++
	s.watchers[id] = fn
	s.requestResync() // a new watcher learns what is open now
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.watchers, id)
	}
}

func (s *Store) notify(key string, until time.Time) {
	s.mu.Lock()
	ws := make([]func(string, time.Time), 0, len(s.watchers))
	for _, w := range s.watchers {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	for _, w := range ws {
		w(key, until)
	}
}

// handle applies one announcement.
func (s *Store) handle(payload string) {
	kind, rest, ok := strings.Cut(payload, " ")
	if !ok {
		return
	}
	origin, rest, ok := strings.Cut(rest, " ")
	if !ok || origin == s.origin {
		return
	}
	switch kind {
	case "T":
		ms, key, ok := strings.Cut(rest, " ")
		n, err := strconv.ParseInt(ms, 10, 64)
		if ok && err == nil && key != "" {
			s.notify(key, time.UnixMilli(n))
		}
	case "R":
		if rest != "" {
			s.notify(rest, time.Time{})
		}
	}
}

// load re-reads every circuit and reports the open ones.
func (s *Store) load(ctx context.Context) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	fields, err := s.client.HGetAll(ctx, s.hash).Result()
	if err != nil {
		return err
	}
	for key, v := range fields {
		ms, _, _ := strings.Cut(v, " ")
		if n, err := strconv.ParseInt(ms, 10, 64); err == nil && n > 0 {
			s.notify(key, time.UnixMilli(n))
		}
	}
	return nil
}

func (s *Store) requestResync() {
	select {
	case s.resync <- struct{}{}:
	default:
	}
}

// subscribeLoop receives announcements. go-redis reconnects and
// resubscribes by itself after a connection error; the confirmation it
// then receives triggers a resync, so what was missed meanwhile is read.
func (s *Store) subscribeLoop(ctx context.Context) {
	defer s.wg.Done()
	const maxBackoff = time.Second
	backoff := 50 * time.Millisecond
	if err := s.ps.Subscribe(ctx, s.channel); err != nil && ctx.Err() == nil {
		s.log.Debug("subscribe failed; retrying", slog.String("error", err.Error()))
	}
	down := false
	for ctx.Err() == nil {
		msg, err := s.ps.ReceiveTimeout(ctx, 2*s.cfg.ResyncInterval+time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var netErr interface{ Timeout() bool }
			if errors.As(err, &netErr) && netErr.Timeout() {
				_ = s.ps.Ping(ctx) // detects a dead connection; the next receive reconnects
				continue
			}
			if !down {
				down = true
				s.log.Warn("circuit announcements unavailable; open circuits of other instances are learnt at the next successful resync",
					slog.String("channel", s.channel), slog.String("error", err.Error()))
			}
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Message:
			s.handle(m.Payload)
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				if down {
					down = false
					s.log.Info("circuit announcements available again", slog.String("channel", s.channel))
				}
				s.needScripts.Store(true) // a restarted Redis has forgotten them
				s.requestResync()
			}
		}
	}
}

// resyncLoop re-reads the open circuits on request and every
// ResyncInterval.
func (s *Store) resyncLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.resync:
		case <-t.C:
		}
		if s.needScripts.Load() && s.loadScripts(ctx) == nil {
			s.needScripts.Store(false)
		}
		_ = s.load(ctx)
	}
}

// loadScripts loads the scripts in one round trip, in the background, so
// that Trip, Reset, Probe and Release each cost a single EVALSHA instead of
// an EVALSHA, a NOSCRIPT error and an EVAL on first use.
func (s *Store) loadScripts(ctx context.Context) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		// p.ScriptLoad, not Script.Load: the latter records the (not yet
		// known) reply of a pipelined load as the script's hash.
		for _, src := range scripts {
			p.ScriptLoad(ctx, src)
		}
		return nil
	})
	return err
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

var _ upstream.Store = (*Store)(nil)
