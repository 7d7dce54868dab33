package killswitch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	errkitmw "github.com/layershq/errkit/middleware"
)

// Defaults of RedisConfig.
const (
	DefaultPrefix         = "errkit:killswitch:"
	DefaultResyncInterval = 5 * time.Second
	DefaultRedisTimeout   = time.Second
)

// revField is the hash field On and Off bump on every write. It keeps the
// hash in existence when the last switch is turned off, so that a missing
// hash means "Redis lost its data", never "everything is off".
const revField = "_rev"

// StartupPolicy says what a Redis source enforces before it has ever loaded
// the state from Redis.
type StartupPolicy int

const (
	// StartOpen enforces no switch until the first load succeeds, and logs
	// an error saying so. It is the default: a Redis outage at deploy time
	// does not take the API down.
	StartOpen StartupPolicy = iota
	// StartClosed enforces a global switch until the first load succeeds:
	// every checked request answers KILL_SWITCH with scope global.
	StartClosed
)

// RedisConfig configures NewRedis. Only Client is required.
type RedisConfig struct {
	// Client is the Redis (single node, sentinel or cluster) holding the
	// fleet's switches. It is not closed by Close.
	Client redis.UniversalClient
	// Prefix namespaces the keys: the switches live in the hash
	// Prefix+"switches" and changes are announced on the channel
	// Prefix+"changes". Default DefaultPrefix.
	Prefix string
	// ResyncInterval is how often the full state is reloaded even without a
	// change notification, which heals missed notifications and Redis
	// restarts. Default DefaultResyncInterval.
	ResyncInterval time.Duration
	// Timeout bounds every Redis call. Default DefaultRedisTimeout.
	Timeout time.Duration
	// StaleAfter is how old the last successful load may be before Stale
	// reports true. Default three ResyncIntervals.
	StaleAfter time.Duration
	// Startup is the policy before the first successful load. Default
	// StartOpen.
	Startup StartupPolicy
	// Logger receives outage and startup messages. Default
	// middleware.DefaultLogger() (JSON lines on stderr), so that the loud
	// start-open line and outages are never dropped.
	Logger *zap.Logger
}

// Redis is the fleet Source. Every instance holds the whole state in memory
// (Check never touches the network) and reloads it from a Redis hash when
// another instance announces a change on a pub/sub channel, and every
// ResyncInterval regardless. A flip made on one instance is therefore
// enforced by the others within one pub/sub round trip, and within
// ResyncInterval when the notification was missed.
//
// When Redis cannot be reached, the instance keeps enforcing the last state
// it loaded, logs the outage once, and reports Stale until a load succeeds
// again. When Redis answers without the hash after having had it (restarted
// without persistence), the instance writes the state it enforces back
// (unless another instance already did) and carries on from it. Before the first successful load the Startup policy
// applies.
//
// Redis starts two goroutines; Close, or cancelling the context given to
// NewRedis, stops them.
type Redis struct {
	client  redis.UniversalClient
	key     string
	channel string
	cfg     RedisConfig
	log     *zap.Logger
	now     func() time.Time

	snap atomic.Pointer[snapshot]

	mu sync.Mutex // serializes loads and writes, so a slow load never undoes a write

	stateMu   sync.Mutex
	loaded    bool      // a load has succeeded once
	sawHash   bool      // the last successful load found the hash
	lastSync  time.Time // of the last successful load
	lastErr   error     // of the last load attempt; nil after a success
	outage    bool      // an outage is in progress and has been logged
	badFields int       // undecodable fields in the last load, to log changes only

	reload chan struct{} // a change notification wants a reload; capacity 1
	ps     *redis.PubSub
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

// NewRedis returns a Redis source and starts its background work, which
// runs until ctx is done or Close is called. It tries one load of the state
// before returning; if that fails, the Startup policy applies (logged) and
// loading is retried in the background. It returns an error only for a
// configuration mistake.
func NewRedis(ctx context.Context, cfg RedisConfig) (*Redis, error) {
	if cfg.Client == nil {
		return nil, errors.New("killswitch: RedisConfig.Client is nil")
	}
	if cfg.ResyncInterval < 0 || cfg.Timeout < 0 || cfg.StaleAfter < 0 {
		return nil, errors.New("killswitch: RedisConfig durations must not be negative")
	}
	if cfg.Startup != StartOpen && cfg.Startup != StartClosed {
		return nil, fmt.Errorf("killswitch: unknown StartupPolicy %d", cfg.Startup)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.ResyncInterval == 0 {
		cfg.ResyncInterval = DefaultResyncInterval
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultRedisTimeout
	}
	if cfg.StaleAfter == 0 {
		cfg.StaleAfter = 3 * cfg.ResyncInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = errkitmw.DefaultLogger()
	}
	r := &Redis{
		client:  cfg.Client,
		key:     cfg.Prefix + "switches",
		channel: cfg.Prefix + "changes",
		cfg:     cfg,
		log:     cfg.Logger.Named("killswitch"),
		now:     time.Now,
		reload:  make(chan struct{}, 1),
	}
	if cfg.Startup == StartClosed {
		r.snap.Store(newSnapshot([]Switch{{
			Scope:  ScopeGlobal,
			Reason: "fail-closed startup: the kill-switch state has not been loaded from Redis yet",
			By:     "killswitch",
			At:     r.now(),
		}}))
	} else {
		r.snap.Store(emptySnapshot)
	}

	ctx, r.cancel = context.WithCancel(ctx)
	r.ps = r.client.Subscribe(ctx) // no channel yet: no network call here
	if err := r.load(ctx); err != nil {
		if cfg.Startup == StartClosed {
			r.log.Error("KILL SWITCH STARTING CLOSED: the state could not be loaded from Redis; "+
				"every request answers KILL_SWITCH (global) until it loads",
				zap.String("key", r.key), zap.Error(err))
		} else {
			r.log.Error("KILL SWITCH STARTING OPEN: the state could not be loaded from Redis; "+
				"NO switch is enforced until it loads",
				zap.String("key", r.key), zap.Error(err))
		}
	}
	r.wg.Add(2)
	go r.subscribeLoop(ctx)
	go r.resyncLoop(ctx)
	return r, nil
}

// Check returns the broadest switch that is on for keyID and orgID in the
// last state loaded. It never blocks, allocates or touches the network.
func (r *Redis) Check(keyID, orgID string) (Switch, bool) {
	return r.snap.Load().check(keyID, orgID)
}

// On stores s in Redis, reloads the state and announces the change to the
// fleet. A zero s.At is set to the current time. It fails with an error
// wrapping ErrInvalidSwitch for an invalid s, or with Redis's error when the
// write failed (then nothing changed). When only the announcement fails the
// write stands, other instances pick it up at their next resync, and On
// returns nil after logging a warning.
func (r *Redis) On(ctx context.Context, s Switch) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.At.IsZero() {
		s.At = r.now()
	}
	value, err := json.Marshal(encodeEntry(s))
	if err != nil {
		return fmt.Errorf("killswitch: encode switch: %w", err)
	}
	return r.write(ctx, func(p redis.Pipeliner, wctx context.Context) {
		p.HSet(wctx, r.key, fieldName(s.Scope, s.ID), value)
	})
}

// Off deletes the (scope, id) switch from Redis, reloads the state and
// announces the change; turning off a switch that is not on is not an
// error. Errors are as for On.
func (r *Redis) Off(ctx context.Context, scope Scope, id string) error {
	if err := validateTarget(scope, id); err != nil {
		return err
	}
	return r.write(ctx, func(p redis.Pipeliner, wctx context.Context) {
		p.HDel(wctx, r.key, fieldName(scope, id))
	})
}

// write runs one change and the revision bump in a MULTI/EXEC on the hash,
// reloads the state and publishes a change notification.
func (r *Redis) write(ctx context.Context, change func(redis.Pipeliner, context.Context)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	if r.hadHash() {
		// A write into a hash Redis lost would recreate it with this one
		// change, and every instance would load that as the whole state:
		// put the known state back first.
		n, err := r.client.Exists(wctx, r.key).Result()
		if err != nil {
			return fmt.Errorf("killswitch: write to Redis: %w", err)
		}
		if n == 0 {
			if _, err := r.reseedLocked(wctx); err != nil {
				return fmt.Errorf("killswitch: write to Redis: %w", err)
			}
		}
	}
	_, err := r.client.TxPipelined(wctx, func(p redis.Pipeliner) error {
		change(p, wctx)
		p.HIncrBy(wctx, r.key, revField, 1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("killswitch: write to Redis: %w", err)
	}
	if err := r.loadLocked(ctx); err != nil {
		r.log.Warn("kill switch written to Redis but the state could not be reloaded; it applies at the next resync", zap.Error(err))
	}
	if err := r.client.Publish(wctx, r.channel, "changed").Err(); err != nil {
		r.log.Warn("kill switch written to Redis but the change notification failed; other instances apply it at their next resync",
			zap.String("channel", r.channel), zap.Error(err))
	}
	return nil
}

// List loads the state from Redis and returns every switch that is on:
// global first, then organizations, then keys, each sorted by ID. It fails
// when Redis cannot be read.
func (r *Redis) List(ctx context.Context) ([]Switch, error) {
	if err := r.load(ctx); err != nil {
		return nil, err
	}
	return r.snap.Load().list(), nil
}

// Enforced returns the switches this instance enforces right now, from
// memory, without calling Redis: the last state loaded (or, before any load,
// what the Startup policy enforces).
func (r *Redis) Enforced() []Switch { return r.snap.Load().list() }

// LastSync returns when the state was last loaded from Redis successfully,
// and the zero time when it never was.
func (r *Redis) LastSync() time.Time {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return r.lastSync
}

// Loaded reports whether the state has been loaded from Redis at least once.
func (r *Redis) Loaded() bool {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return r.loaded
}

// Stale reports whether the enforced state may be out of date: no load has
// succeeded yet, the last load attempt failed, or the last successful load
// is older than StaleAfter.
func (r *Redis) Stale() bool {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return !r.loaded || r.lastErr != nil || r.now().Sub(r.lastSync) > r.cfg.StaleAfter
}

// Close stops the background work and waits for it to end. It does not
// close the Redis client. Calling it again does nothing.
func (r *Redis) Close() error {
	r.closed.Do(func() {
		r.cancel()
		_ = r.ps.Close()
		r.wg.Wait()
	})
	return nil
}

// errStateLost reports a hash that vanished after having been loaded and
// could not be re-seeded.
var errStateLost = errors.New("killswitch: the switches hash is missing from Redis although it was loaded before (Redis restarted without persistence?); keeping the last known state")

// reseedScript writes the switches ARGV (field, value, field, value, ...)
// and a revision into the hash KEYS[1] only if the hash does not exist, in
// one atomic step, so that of several instances re-seeding at once the
// first wins and the others change nothing. It returns 1 when it wrote.
var reseedScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 1, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HINCRBY', KEYS[1], '` + revField + `', 1)
return 1
`)

// load reloads the whole state from Redis.
func (r *Redis) load(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loadLocked(ctx)
}

// loadLocked is load with r.mu held. On failure the enforced state is left
// as it was.
func (r *Redis) loadLocked(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	fields, err := r.client.HGetAll(lctx, r.key).Result()
	if err == nil && len(fields) == 0 && r.hadHash() {
		fields, err = r.reseedLocked(lctx)
	}
	if err != nil {
		r.noteFailure(ctx, err)
		return err
	}
	switches := make([]Switch, 0, len(fields))
	var bad []string
	for f, v := range fields {
		if f == revField {
			continue
		}
		s, err := decodeEntry(f, v)
		if err != nil {
			bad = append(bad, f)
			continue
		}
		switches = append(switches, s)
	}
	r.snap.Store(newSnapshot(switches))
	r.noteSuccess(len(switches), bad, len(fields) > 0)
	return nil
}

// reseedLocked heals a Redis that lost the hash (restarted without
// persistence, or flushed): it writes the state this instance enforces back,
// unless another instance already did, announces it, and returns the hash
// as it now is. Lifting every switch because Redis forgot them would be the
// unsafe direction; to clear all switches, turn them off (Off or the admin
// API), don't delete the hash. Limits: the state written back is this
// instance's, so a flip it had not yet received (it missed the notification
// and Redis lost the data before its next resync) is not in it; fields it
// could not decode are not either. It fails with an error wrapping
// errStateLost.
func (r *Redis) reseedLocked(ctx context.Context) (map[string]string, error) {
	cur := r.snap.Load().list()
	args := make([]any, 0, 2*len(cur))
	for _, s := range cur {
		v, err := json.Marshal(encodeEntry(s))
		if err != nil {
			return nil, fmt.Errorf("%w: encode switch: %v", errStateLost, err)
		}
		args = append(args, fieldName(s.Scope, s.ID), v)
	}
	wrote, err := reseedScript.Run(ctx, r.client, []string{r.key}, args...).Int()
	if err != nil {
		return nil, fmt.Errorf("%w: re-seeding it failed: %v", errStateLost, err)
	}
	if wrote == 1 {
		r.log.Warn("kill switch hash was missing from Redis although it was loaded before (Redis restarted without persistence?); "+
			"re-seeded it with this instance's last known state", zap.String("key", r.key), zap.Int("switches", len(cur)))
		if err := r.client.Publish(ctx, r.channel, "changed").Err(); err != nil {
			r.log.Warn("kill switch hash re-seeded but the change notification failed; other instances reload it at their next resync", zap.Error(err))
		}
	}
	fields, err := r.client.HGetAll(ctx, r.key).Result()
	if err == nil && len(fields) == 0 {
		err = errStateLost // deleted again in between: try at the next resync
	}
	return fields, err
}

// hadHash reports whether the last successful load found the hash.
func (r *Redis) hadHash() bool {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return r.sawHash
}

// noteFailure records a failed load and logs the first failure of an outage.
func (r *Redis) noteFailure(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return // shutting down, not an outage
	}
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	r.lastErr = err
	if r.outage {
		return
	}
	r.outage = true
	if r.loaded {
		r.log.Error("kill-switch state cannot be loaded from Redis; enforcing the last known state until it can",
			zap.Time("lastSync", r.lastSync), zap.Error(err))
	}
	// Before the first load NewRedis logs the startup policy instead.
}

// noteSuccess records a successful load and logs the end of an outage and
// changes in the number of undecodable fields.
func (r *Redis) noteSuccess(n int, bad []string, sawHash bool) {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	now := r.now()
	if r.outage {
		if r.loaded {
			r.log.Info("kill-switch state loaded from Redis again; outage over",
				zap.Duration("stale", now.Sub(r.lastSync)), zap.Int("switches", n))
		} else {
			r.log.Info("kill-switch state loaded from Redis for the first time", zap.Int("switches", n))
		}
	}
	if len(bad) != r.badFields {
		if len(bad) > 0 {
			r.log.Warn("ignoring undecodable kill-switch fields in Redis", zap.String("key", r.key), zap.Strings("fields", bad))
		}
		r.badFields = len(bad)
	}
	r.outage, r.loaded, r.lastErr, r.lastSync, r.sawHash = false, true, nil, now, sawHash
}

// requestReload asks resyncLoop for a reload without blocking; requests
// arriving while one is pending coalesce.
func (r *Redis) requestReload() {
	select {
	case r.reload <- struct{}{}:
	default:
	}
}

// subscribeLoop listens for change notifications. go-redis reconnects and
// resubscribes the PubSub by itself after a connection error; the
// subscription confirmation it then receives triggers a reload, so changes
// missed while disconnected are picked up at once.
func (r *Redis) subscribeLoop(ctx context.Context) {
	defer r.wg.Done()
	const maxBackoff = time.Second
	backoff := 50 * time.Millisecond
	if err := r.ps.Subscribe(ctx, r.channel); err != nil && ctx.Err() == nil {
		r.log.Debug("subscribe failed; retrying", zap.Error(err))
	}
	for ctx.Err() == nil {
		msg, err := r.ps.ReceiveTimeout(ctx, 2*r.cfg.ResyncInterval)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var netErr interface{ Timeout() bool }
			if errors.As(err, &netErr) && netErr.Timeout() {
				_ = r.ps.Ping(ctx) // detects a dead connection; the next receive reconnects
				continue
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
			r.requestReload()
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				r.requestReload()
			}
		}
	}
}

// resyncLoop reloads the state on request and every ResyncInterval.
func (r *Redis) resyncLoop(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.reload:
		case <-t.C:
		}
		_ = r.load(ctx)
	}
}

// sleep waits for d or until ctx is done, and reports whether d elapsed.
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

// entry is the JSON value of one switch in the Redis hash. Its field name
// carries the scope and ID (see fieldName).
type entry struct {
	Reason             string    `json:"reason,omitempty"`
	By                 string    `json:"by,omitempty"`
	At                 time.Time `json:"at,omitzero"`
	ExpectedDurationMs int64     `json:"expectedDurationMs,omitempty"`
}

func encodeEntry(s Switch) entry {
	return entry{Reason: s.Reason, By: s.By, At: s.At.UTC(), ExpectedDurationMs: s.ExpectedDuration.Milliseconds()}
}

// fieldName is the hash field of a switch: "global", "organization:<id>" or
// "key:<id>".
func fieldName(scope Scope, id string) string {
	if scope == ScopeGlobal {
		return string(ScopeGlobal)
	}
	return string(scope) + ":" + id
}

// decodeEntry turns one hash field and value into a switch. The field must
// name a valid (scope, id). The value is best effort: a field that is
// present turns its switch on even when the value is empty or not the JSON
// this package writes (an operator may flip a switch with a bare
// "HSET <prefix>switches key:<id> 1"); an expected duration is kept only
// when it is positive and on the global switch.
func decodeEntry(field, value string) (Switch, error) {
	var s Switch
	if field == string(ScopeGlobal) {
		s.Scope = ScopeGlobal
	} else {
		scope, id, ok := strings.Cut(field, ":")
		if !ok || scope == string(ScopeGlobal) {
			return Switch{}, fmt.Errorf("%w: field %q is not global, organization:<id> or key:<id>", ErrInvalidSwitch, field)
		}
		s.Scope, s.ID = Scope(scope), id
	}
	if err := validateTarget(s.Scope, s.ID); err != nil {
		return Switch{}, err
	}
	var e entry
	if json.Unmarshal([]byte(value), &e) == nil {
		s.Reason, s.By, s.At = e.Reason, e.By, e.At
		if s.Scope == ScopeGlobal && e.ExpectedDurationMs > 0 && e.ExpectedDurationMs <= maxExpectedMs {
			s.ExpectedDuration = time.Duration(e.ExpectedDurationMs) * time.Millisecond
		}
	} else {
		s.Reason = "(set directly in Redis)"
	}
	return s, nil
}

// maxExpectedMs keeps a decoded duration far from time.Duration overflow.
const maxExpectedMs = int64(365 * 24 * time.Hour / time.Millisecond)

var _ Source = (*Redis)(nil)
