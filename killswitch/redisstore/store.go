package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/internal/redisclient"
	"github.com/layershq/errkit/killswitch"
	"github.com/layershq/errkit/requestid"
)

// Defaults of [Config].
const (
	DefaultPrefix         = "errkit:killswitch:"
	DefaultResyncInterval = 5 * time.Second
	DefaultTimeout        = time.Second
)

// ErrContextTimeoutDisabled is returned by [New] for a go-redis client
// whose options leave ContextTimeoutEnabled false: such a client ignores
// context deadlines on network I/O, so [Config].Timeout could not bound
// the calls (New's initial load included).
var ErrContextTimeoutDisabled = errors.New("killswitch/redisstore: the Redis client must set ContextTimeoutEnabled so the per-call timeout holds")

// revField is the hash field On and Off bump on every write. It keeps the
// hash in existence when the last switch is turned off, so that a missing
// hash means "Redis lost its data", never "everything is off".
const revField = "_rev"

// StartupPolicy says what a [Store] enforces before it has ever loaded the
// state from Redis.
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

// Config configures [New]. Every zero field has a default.
type Config struct {
	// Prefix namespaces the keys: the switches live in the hash
	// Prefix+"switches" and changes are announced on the channel
	// Prefix+"changes". Default DefaultPrefix.
	Prefix string
	// ResyncInterval is how often the full state is reloaded even without a
	// change notification, which heals missed notifications and Redis
	// restarts. Default DefaultResyncInterval.
	ResyncInterval time.Duration
	// Timeout bounds every Redis call, and so the one load New tries before
	// it returns: an unreachable Redis delays startup by at most Timeout
	// (plus the client's own dial settings), then the Startup policy
	// applies. Default DefaultTimeout.
	Timeout time.Duration
	// StaleAfter is how old the last successful load may be before Stale
	// reports true. Default three ResyncIntervals.
	StaleAfter time.Duration
	// Startup is the policy before the first successful load. Default
	// StartOpen.
	Startup StartupPolicy
	// Logger receives outage and startup messages. Default
	// requestid.DefaultLogger() (JSON lines on stderr), so that the loud
	// start-open line and outages are never dropped.
	Logger *slog.Logger
	// Events receives KindStore events (Component "killswitch"):
	// OutcomeFailed when an outage begins (once per outage; Check keeps
	// answering from the last state), OutcomeDataLost when the hash
	// vanished from Redis and this instance wrote its state back. Nil:
	// none.
	Events event.Hook
}

// Store is the fleet's [killswitch.Source]. Every instance holds the whole
// state in memory (Check never touches the network) and reloads it from a
// Redis hash when another instance announces a change on a pub/sub
// channel, and every ResyncInterval regardless. A flip made on one
// instance is therefore enforced by the others within one pub/sub round
// trip, and within ResyncInterval when the notification was missed.
//
// When Redis cannot be reached, the instance keeps enforcing the last state
// it loaded, logs the outage once, and reports Stale until a load succeeds
// again. When Redis answers without the hash after having had it (restarted
// without persistence), the instance writes the state it enforces back
// (unless another instance already did) and carries on from it. Before the
// first successful load the Startup policy applies.
//
// A Store runs two goroutines until Close.
type Store struct {
	client  redis.UniversalClient
	key     string
	channel string
	cfg     Config
	log     *slog.Logger
	now     func() time.Time

	snap atomic.Pointer[killswitch.Snapshot]

	mu sync.Mutex // serializes loads and writes, so a slow load never undoes a write

	stateMu   sync.Mutex
	loaded    bool      // a load has succeeded once
	sawHash   bool      // the last successful load found the hash
	lastSync  time.Time // of the last successful load
	lastErr   error     // of the last load attempt; nil after a success
	outage    bool      // an outage is in progress and has been logged
	badFields int       // undecodable fields in the last load, to log changes only

	loads atomic.Int64 // load attempts, successful or not: lets tests wait for resyncs

	reload chan struct{} // a change notification wants a reload; capacity 1
	ps     *redis.PubSub
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

// New returns a Store reading and writing the switches through client
// (single node, sentinel or cluster; Close does not close it), and starts
// its background work, which runs until Close. It tries one load of the
// state, bounded by cfg.Timeout, before returning; if that fails, the
// Startup policy applies (logged) and loading is retried in the
// background. The client must honour context deadlines
// (ContextTimeoutEnabled for *redis.Client, *redis.ClusterClient and
// *redis.Ring); otherwise [ErrContextTimeoutDisabled] is returned. It
// returns an error only for such a client, a nil client or an invalid cfg,
// never for an unreachable Redis.
func New(client redis.UniversalClient, cfg Config) (*Store, error) {
	if redisclient.IsNil(client) {
		return nil, errors.New("killswitch/redisstore: nil Redis client")
	}
	if !redisclient.HonoursDeadlines(client) {
		return nil, ErrContextTimeoutDisabled
	}
	if cfg.ResyncInterval < 0 || cfg.Timeout < 0 || cfg.StaleAfter < 0 {
		return nil, errors.New("killswitch/redisstore: Config durations must not be negative")
	}
	if cfg.Startup != StartOpen && cfg.Startup != StartClosed {
		return nil, fmt.Errorf("killswitch/redisstore: unknown StartupPolicy %d", cfg.Startup)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.ResyncInterval == 0 {
		cfg.ResyncInterval = DefaultResyncInterval
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.StaleAfter == 0 {
		cfg.StaleAfter = 3 * cfg.ResyncInterval
	}
	r := &Store{
		client:  client,
		key:     cfg.Prefix + "switches",
		channel: cfg.Prefix + "changes",
		cfg:     cfg,
		log:     requestid.OrDefault(cfg.Logger).With(slog.String("component", "killswitch")),
		now:     time.Now,
		reload:  make(chan struct{}, 1),
	}
	r.snap.Store(&killswitch.Snapshot{})
	if cfg.Startup == StartClosed {
		closed, err := killswitch.NewSnapshot([]killswitch.Switch{{
			Scope:  killswitch.ScopeGlobal,
			Reason: "fail-closed startup: the kill-switch state has not been loaded from Redis yet",
			By:     "killswitch",
			At:     r.now(),
		}})
		if err != nil {
			return nil, fmt.Errorf("killswitch/redisstore: fail-closed state: %w", err)
		}
		r.snap.Store(closed)
	}

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.ps = r.client.Subscribe(ctx) // no channel yet: no network call here
	if err := r.load(ctx); err != nil {
		if cfg.Startup == StartClosed {
			r.log.Error("KILL SWITCH STARTING CLOSED: the state could not be loaded from Redis; "+
				"every request answers KILL_SWITCH (global) until it loads",
				slog.String("key", r.key), slog.String("error", err.Error()))
		} else {
			r.log.Error("KILL SWITCH STARTING OPEN: the state could not be loaded from Redis; "+
				"NO switch is enforced until it loads",
				slog.String("key", r.key), slog.String("error", err.Error()))
		}
	}
	r.wg.Add(2)
	go r.subscribeLoop(ctx)
	go r.resyncLoop(ctx)
	return r, nil
}

// Check returns the broadest switch that is on for keyID and orgID in the
// last state loaded. It never blocks, allocates or touches the network.
func (r *Store) Check(keyID, orgID string) (killswitch.Switch, bool) {
	return r.snap.Load().Check(keyID, orgID)
}

// On stores s in Redis, reloads the state and announces the change to the
// fleet. A zero s.At is set to the current time. It fails with an error
// wrapping killswitch.ErrInvalidSwitch for an invalid s, or with Redis's
// error when the write failed (then nothing changed). When only the
// announcement fails the write stands, other instances pick it up at their
// next resync, and On returns nil after logging a warning.
func (r *Store) On(ctx context.Context, s killswitch.Switch) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.At.IsZero() {
		s.At = r.now()
	}
	value, err := json.Marshal(encodeEntry(s))
	if err != nil {
		return fmt.Errorf("killswitch/redisstore: encode switch: %w", err)
	}
	return r.write(ctx, func(p redis.Pipeliner, wctx context.Context) {
		p.HSet(wctx, r.key, fieldName(s.Scope, s.ID), value)
	})
}

// Off deletes the (scope, id) switch from Redis, reloads the state and
// announces the change; turning off a switch that is not on is not an
// error. Errors are as for On.
func (r *Store) Off(ctx context.Context, scope killswitch.Scope, id string) error {
	if err := validateTarget(scope, id); err != nil {
		return err
	}
	return r.write(ctx, func(p redis.Pipeliner, wctx context.Context) {
		p.HDel(wctx, r.key, fieldName(scope, id))
	})
}

// validateTarget checks a (scope, id) pair: a switch with nothing else set
// validates exactly that.
func validateTarget(scope killswitch.Scope, id string) error {
	return killswitch.Switch{Scope: scope, ID: id}.Validate()
}

// write runs one change and the revision bump in a MULTI/EXEC on the hash,
// reloads the state and publishes a change notification.
func (r *Store) write(ctx context.Context, change func(redis.Pipeliner, context.Context)) error {
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
			return fmt.Errorf("killswitch/redisstore: write to Redis: %w", err)
		}
		if n == 0 {
			if _, err := r.reseedLocked(wctx); err != nil {
				return fmt.Errorf("killswitch/redisstore: write to Redis: %w", err)
			}
		}
	}
	_, err := r.client.TxPipelined(wctx, func(p redis.Pipeliner) error {
		change(p, wctx)
		p.HIncrBy(wctx, r.key, revField, 1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("killswitch/redisstore: write to Redis: %w", err)
	}
	if err := r.loadLocked(ctx); err != nil {
		r.log.Warn("kill switch written to Redis but the state could not be reloaded; it applies at the next resync",
			slog.String("error", err.Error()))
	}
	if err := r.client.Publish(wctx, r.channel, "changed").Err(); err != nil {
		r.log.Warn("kill switch written to Redis but the change notification failed; other instances apply it at their next resync",
			slog.String("channel", r.channel), slog.String("error", err.Error()))
	}
	return nil
}

// List loads the state from Redis and returns every switch that is on:
// global first, then organizations, then keys, each sorted by ID. It fails
// when Redis cannot be read.
func (r *Store) List(ctx context.Context) ([]killswitch.Switch, error) {
	if err := r.load(ctx); err != nil {
		return nil, err
	}
	return r.snap.Load().List(), nil
}

// Enforced returns the switches this instance enforces right now, from
// memory, without calling Redis: the last state loaded (or, before any load,
// what the Startup policy enforces).
func (r *Store) Enforced() []killswitch.Switch { return r.snap.Load().List() }

// LastSync returns when the state was last loaded from Redis successfully,
// and the zero time when it never was.
func (r *Store) LastSync() time.Time {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return r.lastSync
}

// Loaded reports whether the state has been loaded from Redis at least once.
func (r *Store) Loaded() bool {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return r.loaded
}

// Stale reports whether the enforced state may be out of date: no load has
// succeeded yet, the last load attempt failed, or the last successful load
// is older than StaleAfter.
func (r *Store) Stale() bool {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return !r.loaded || r.lastErr != nil || r.now().Sub(r.lastSync) > r.cfg.StaleAfter
}

// Close stops the background work and waits for it to end. It does not
// close the Redis client. Calling it again does nothing. After Close, Check
// keeps answering with the last state loaded, which no longer follows the
// fleet.
func (r *Store) Close() error {
	r.closed.Do(func() {
		r.cancel()
		_ = r.ps.Close()
		r.wg.Wait()
	})
	return nil
}

// errStateLost reports a hash that vanished after having been loaded and
// could not be re-seeded.
var errStateLost = errors.New("killswitch/redisstore: the kill-switch hash is missing from Redis although it was loaded before (Redis restarted without persistence?); keeping the last known state")

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
func (r *Store) load(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loadLocked(ctx)
}

// loadLocked is load with r.mu held. On failure the enforced state is left
// as it was.
func (r *Store) loadLocked(ctx context.Context) error {
	defer r.loads.Add(1)
	lctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	fields, err := r.client.HGetAll(lctx, r.key).Result()
	if err == nil && len(fields) == 0 && r.hadHash() {
		fields, err = r.reseedLocked(lctx)
	}
	var snap *killswitch.Snapshot
	var switches []killswitch.Switch
	var bad []string
	if err == nil {
		switches = make([]killswitch.Switch, 0, len(fields))
		for f, v := range fields {
			if f == revField {
				continue
			}
			s, derr := decodeEntry(f, v)
			if derr != nil {
				bad = append(bad, f)
				continue
			}
			switches = append(switches, s)
		}
		// decodeEntry only returns valid switches, so this cannot fail; if
		// it ever did, keeping the last state is the safe direction.
		snap, err = killswitch.NewSnapshot(switches)
	}
	if err != nil {
		r.noteFailure(ctx, err)
		return err
	}
	r.snap.Store(snap)
	r.noteSuccess(len(switches), bad, len(fields) > 0)
	return nil
}

// reseedLocked heals a Redis that lost the hash (restarted without
// persistence, or flushed): it writes the state this instance enforces back,
// unless another instance already did, announces it, and returns the hash
// as it now is. Lifting every switch because Redis forgot them would be the
// unsafe direction; to clear all switches, turn them off (Off or the
// operator API), don't delete the hash. Limits: the state written back is
// this instance's, so a flip it had not yet received (it missed the
// notification and Redis lost the data before its next resync) is not in
// it; fields it could not decode are not either. It fails with an error
// wrapping errStateLost.
func (r *Store) reseedLocked(ctx context.Context) (map[string]string, error) {
	cur := r.snap.Load().List()
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
		r.cfg.Events.Emit(ctx, event.Event{Kind: event.KindStore, Outcome: event.OutcomeDataLost,
			Component: event.ComponentKillSwitch, Err: errStateLost})
		r.log.Warn("kill switch hash was missing from Redis although it was loaded before (Redis restarted without persistence?); "+
			"re-seeded it with this instance's last known state", slog.String("key", r.key), slog.Int("switches", len(cur)))
		if err := r.client.Publish(ctx, r.channel, "changed").Err(); err != nil {
			r.log.Warn("kill switch hash re-seeded but the change notification failed; other instances reload it at their next resync",
				slog.String("error", err.Error()))
		}
	}
	fields, err := r.client.HGetAll(ctx, r.key).Result()
	if err == nil && len(fields) == 0 {
		err = errStateLost // deleted again in between: try at the next resync
	}
	return fields, err
}

// hadHash reports whether the last successful load found the hash.
func (r *Store) hadHash() bool {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return r.sawHash
}

// noteFailure records a failed load and logs the first failure of an outage.
func (r *Store) noteFailure(ctx context.Context, err error) {
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
	r.cfg.Events.Emit(context.Background(), event.Event{Kind: event.KindStore, Outcome: event.OutcomeFailed,
		Component: event.ComponentKillSwitch, Err: err})
	if r.loaded {
		r.log.Error("kill-switch state cannot be loaded from Redis; enforcing the last known state until it can",
			slog.Time("lastSync", r.lastSync), slog.String("error", err.Error()))
	}
	// Before the first load New logs the startup policy instead.
}

// noteSuccess records a successful load and logs the end of an outage and
// changes in the number of undecodable fields.
func (r *Store) noteSuccess(n int, bad []string, sawHash bool) {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	now := r.now()
	if r.outage {
		if r.loaded {
			r.log.Info("kill-switch state loaded from Redis again; outage over",
				slog.Duration("stale", now.Sub(r.lastSync)), slog.Int("switches", n))
		} else {
			r.log.Info("kill-switch state loaded from Redis for the first time", slog.Int("switches", n))
		}
	}
	if len(bad) != r.badFields {
		if len(bad) > 0 {
			r.log.Warn("ignoring undecodable kill-switch fields in Redis", slog.String("key", r.key), slog.Any("fields", bad))
		}
		r.badFields = len(bad)
	}
	r.outage, r.loaded, r.lastErr, r.lastSync, r.sawHash = false, true, nil, now, sawHash
}

// requestReload asks resyncLoop for a reload without blocking; requests
// arriving while one is pending coalesce.
func (r *Store) requestReload() {
	select {
	case r.reload <- struct{}{}:
	default:
	}
}

// subscribeLoop listens for change notifications. go-redis reconnects and
// resubscribes the PubSub by itself after a connection error; the
// subscription confirmation it then receives triggers a reload, so changes
// missed while disconnected are picked up at once.
func (r *Store) subscribeLoop(ctx context.Context) {
	defer r.wg.Done()
	const maxBackoff = time.Second
	backoff := 50 * time.Millisecond
	if err := r.ps.Subscribe(ctx, r.channel); err != nil && ctx.Err() == nil {
		r.log.Debug("subscribe failed; retrying", slog.String("error", err.Error()))
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
func (r *Store) resyncLoop(ctx context.Context) {
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

var _ killswitch.Source = (*Store)(nil)
