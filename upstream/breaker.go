package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/requestid"
)

// Defaults of [BreakerConfig].
const (
	DefaultFailures     = 5
	DefaultCooldown     = 30 * time.Second
	DefaultProbeLease   = 30 * time.Second
	DefaultStoreTimeout = 500 * time.Millisecond
)

// MaxResourceLength is the longest resource name a [Breaker] accepts.
const MaxResourceLength = 128

// BreakerConfig configures [NewBreaker]. Every zero field has a default.
type BreakerConfig struct {
	// Failures is how many consecutive failed calls on one instance open a
	// circuit. A success in between starts the count again. Default
	// DefaultFailures.
	Failures int
	// Cooldown is how long a circuit stays open after it opened, and after
	// each failed probe. Default DefaultCooldown.
	Cooldown time.Duration
	// ProbeLease bounds how long the fleet waits for a probe that never
	// reports back (its instance died): after it, another call may probe.
	// Keep it above the longest call a probe can make (a [Client]'s
	// Timeout). Default DefaultProbeLease.
	ProbeLease time.Duration
	// Store shares the open state with the fleet; nil keeps it in this
	// process (a private [MemoryStore]).
	Store Store
	// StoreTimeout bounds each Store call a caller waits for: the probe
	// request when a cooldown ends, and the write when a circuit changes
	// state. A Store that fails or times out is logged and the breaker
	// carries on from its own state. Default DefaultStoreTimeout.
	StoreTimeout time.Duration
	// Clock is the time source; nil means SystemClock.
	Clock Clock
	// Logger receives circuit state changes and Store outages. Default
	// requestid.DefaultLogger().
	Logger *slog.Logger
}

// Breaker is a set of circuit breakers, one [Circuit] per (platform,
// resource). See the package documentation for the behaviour.
//
// A Breaker is safe for concurrent use. It starts no goroutine, but it
// watches its Store until Close.
type Breaker struct {
	cfg   BreakerConfig
	store Store
	clock Clock
	log   *slog.Logger

	mu       sync.Mutex
	circuits map[string]*Circuit

	storeDown atomic.Bool // a Store outage is in progress and has been logged
	stop      func()
	closeOnce sync.Once
}

// NewBreaker returns a Breaker with cfg's defaults filled in. It fails for a
// negative field or a Store interface holding a nil pointer.
func NewBreaker(cfg BreakerConfig) (*Breaker, error) {
	if cfg.Failures < 0 || cfg.Cooldown < 0 || cfg.ProbeLease < 0 || cfg.StoreTimeout < 0 {
		return nil, errors.New("upstream: BreakerConfig fields must not be negative")
	}
	if cfg.Failures == 0 {
		cfg.Failures = DefaultFailures
	}
	if cfg.Cooldown == 0 {
		cfg.Cooldown = DefaultCooldown
	}
	if cfg.ProbeLease == 0 {
		cfg.ProbeLease = DefaultProbeLease
	}
	if cfg.StoreTimeout == 0 {
		cfg.StoreTimeout = DefaultStoreTimeout
	}
	store := cfg.Store
	if store == nil {
		store, _ = NewMemoryStore(MemoryConfig{})
	} else if v := reflect.ValueOf(store); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, errNilStore
	}
	b := &Breaker{
		cfg:      cfg,
		store:    store,
		clock:    clockOr(cfg.Clock),
		log:      requestid.OrDefault(cfg.Logger).With(slog.String("component", "upstream.breaker")),
		circuits: make(map[string]*Circuit),
	}
	b.stop = store.Watch(b.onChange)
	return b, nil
}

// Close stops watching the Store; the circuits keep answering from their
// last state, which no longer follows the fleet. It does not close the
// Store. Calling it again does nothing.
func (b *Breaker) Close() error {
	b.closeOnce.Do(b.stop)
	return nil
}

// Circuit returns the circuit of (platform, resource), creating it closed
// on first use; every call with the same pair returns the same *Circuit.
// resource is what CIRCUIT_OPEN names in details.resource, for example
// "tiktok-publish": 1 to MaxResourceLength printable ASCII characters
// without spaces. It fails for an invalid platform or resource.
func (b *Breaker) Circuit(platform apierror.Platform, resource string) (*Circuit, error) {
	if !platform.Valid() {
		return nil, fmt.Errorf("upstream: invalid platform %q", string(platform))
	}
	if err := validResource(resource); err != nil {
		return nil, err
	}
	return b.circuit(platform, resource), nil
}

func (b *Breaker) circuit(platform apierror.Platform, resource string) *Circuit {
	key := string(platform) + ":" + resource
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.circuits[key]
	if !ok {
		c = &Circuit{b: b, key: key, platform: platform, resource: resource}
		b.circuits[key] = c
	}
	return c
}

func validResource(r string) error {
	if r == "" || len(r) > MaxResourceLength {
		return fmt.Errorf("upstream: resource must be 1 to %d characters, got %d", MaxResourceLength, len(r))
	}
	for i := 0; i < len(r); i++ {
		if r[i] <= ' ' || r[i] > '~' {
			return fmt.Errorf("upstream: resource %q must be printable ASCII without spaces", r)
		}
	}
	return nil
}

// onChange applies what another instance did, as the Store reports it.
func (b *Breaker) onChange(key string, until time.Time) {
	p, resource, ok := strings.Cut(key, ":")
	if !ok || !apierror.Platform(p).Valid() || validResource(resource) != nil {
		return // not a circuit this package wrote
	}
	c := b.circuit(apierror.Platform(p), resource)
	now := b.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if until.IsZero() {
		// Reset elsewhere. A probe of our own in flight decides instead.
		if c.open.Load() && !c.probing {
			c.closeLocked()
		}
		return
	}
	if !until.After(now) || (c.open.Load() && !until.After(c.until)) {
		return // past, or no later than what we enforce already
	}
	c.until = until
	c.open.Store(true)
}

// storeCall runs one Store call bounded by StoreTimeout and logs the first
// failure of an outage and its end.
func (b *Breaker) storeCall(ctx context.Context, op string, key string, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.StoreTimeout)
	defer cancel()
	err := f(ctx)
	if err != nil {
		if b.storeDown.CompareAndSwap(false, true) {
			b.log.Warn("circuit breaker store unavailable; each instance enforces its own circuits until it is back",
				slog.String("op", op), slog.String("circuit", key), slog.String("error", err.Error()))
		}
		return err
	}
	if b.storeDown.CompareAndSwap(true, false) {
		b.log.Info("circuit breaker store available again", slog.String("op", op))
	}
	return nil
}

// State is the state of a [Circuit].
type State int

const (
	// Closed: calls go through; consecutive failures are counted.
	Closed State = iota
	// Open: calls fail fast with CIRCUIT_OPEN until the cooldown ends.
	Open
	// HalfOpen: the cooldown has ended; the next call probes the platform
	// (or a probe is in flight).
	HalfOpen
)

// String returns "closed", "open" or "half-open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Circuit is the breaker of one (platform, resource), obtained from
// [Breaker.Circuit]. Ask [Circuit.Allow] before each call and report the
// outcome to the returned [Permit].
type Circuit struct {
	b        *Breaker
	key      string
	platform apierror.Platform
	resource string

	// open is the lock-free fast path: false means closed, and a closed
	// call touches nothing else but failures.
	open     atomic.Bool
	failures atomic.Int64

	mu      sync.Mutex
	until   time.Time // open: calls are refused before it
	probing bool      // a probe of this instance is in flight
}

// Platform returns the circuit's platform.
func (c *Circuit) Platform() apierror.Platform { return c.platform }

// Resource returns the circuit's resource, as CIRCUIT_OPEN names it.
func (c *Circuit) Resource() string { return c.resource }

// State returns the circuit's state as this instance enforces it.
func (c *Circuit) State() State {
	if !c.open.Load() {
		return Closed
	}
	now := c.b.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.open.Load():
		return Closed
	case c.probing || !now.Before(c.until):
		return HalfOpen
	}
	return Open
}

// Allow asks to make one call. While the circuit is closed it returns a
// [Permit] at once, without locks or I/O. While it is open it returns
// CIRCUIT_OPEN with details.resource and details.retryAfterSeconds, the time
// left until a call will be let through (rounded up, at least 1), and
// changes nothing: refused calls do not extend the cooldown. Once the
// cooldown has ended, the first call asks the Store for the fleet's one
// probe (a single round trip) and is let through as the probe, or refused
// while another call probes. Call Permit.Done exactly once with the
// outcome of every permitted call.
func (c *Circuit) Allow(ctx context.Context) (Permit, error) {
	if !c.open.Load() {
		return Permit{c: c}, nil
	}
	return c.allowSlow(ctx)
}

// probeWait is what a call refused during a probe is told to wait: the
// probe's verdict is usually known well within it.
const probeWait = time.Second

func (c *Circuit) allowSlow(ctx context.Context) (Permit, error) {
	now := c.b.clock.Now()
	c.mu.Lock()
	switch {
	case !c.open.Load():
		c.mu.Unlock()
		return Permit{c: c}, nil
	case now.Before(c.until):
		d := c.until.Sub(now)
		c.mu.Unlock()
		return Permit{}, c.refuse(d)
	case c.probing:
		c.mu.Unlock()
		return Permit{}, c.refuse(probeWait)
	}
	c.probing = true
	c.mu.Unlock()

	var p Probe
	err := c.b.storeCall(ctx, "probe", c.key, func(ctx context.Context) error {
		var err error
		p, err = c.b.store.Probe(ctx, c.key, now, c.b.cfg.ProbeLease)
		return err
	})
	if err != nil {
		if ctx.Err() != nil { // the caller gave up, not the store
			c.mu.Lock()
			c.probing = false
			c.mu.Unlock()
			return Permit{}, c.refuse(probeWait)
		}
		return Permit{c: c, probe: true}, nil // probe on our own authority
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch p.Status {
	case ProbeGranted:
		return Permit{c: c, probe: true, token: p.Token}, nil
	case ProbeClosed:
		c.probing = false
		c.closeLocked()
		return Permit{c: c}, nil
	case ProbeOpen:
		c.probing = false
		if p.Until.After(c.until) {
			c.until = p.Until
		}
	default: // ProbeBusy: ask again soon, not after the whole lease
		c.probing = false
		next := now.Add(probeWait)
		if p.Until.Before(next) {
			next = p.Until
		}
		if next.After(c.until) {
			c.until = next
		}
	}
	return Permit{}, c.refuse(c.until.Sub(now))
}

func (c *Circuit) refuse(d time.Duration) *apierror.Error {
	return apierror.CircuitOpen(c.resource, d)
}

// closeLocked closes the circuit; c.mu is held.
func (c *Circuit) closeLocked() {
	c.open.Store(false)
	c.failures.Store(0)
	c.until = time.Time{}
}

// openLocked opens the circuit for a full cooldown from now; c.mu is held.
func (c *Circuit) openLocked(now time.Time) time.Time {
	c.until = now.Add(c.b.cfg.Cooldown)
	c.failures.Store(0)
	c.open.Store(true)
	return c.until
}

// trip opens a closed circuit after too many failures.
func (c *Circuit) trip() {
	now := c.b.clock.Now()
	c.mu.Lock()
	if c.open.Load() {
		c.mu.Unlock()
		return // another failure got here first
	}
	until := c.openLocked(now)
	c.mu.Unlock()
	c.b.log.Warn("circuit opened", slog.String("platform", string(c.platform)), slog.String("resource", c.resource),
		slog.Int("failures", c.b.cfg.Failures), slog.Duration("cooldown", c.b.cfg.Cooldown))
	c.shareTrip(now, until)
}

func (c *Circuit) shareTrip(now, until time.Time) {
	_ = c.b.storeCall(context.Background(), "trip", c.key, func(ctx context.Context) error {
		return c.b.store.Trip(ctx, c.key, now, until)
	})
}

// probeDone applies a probe's outcome.
func (c *Circuit) probeDone(o Outcome, token string) {
	switch o {
	case Succeeded:
		c.mu.Lock()
		c.probing = false
		c.closeLocked()
		c.mu.Unlock()
		c.b.log.Info("circuit closed: the probe succeeded", slog.String("platform", string(c.platform)), slog.String("resource", c.resource))
		_ = c.b.storeCall(context.Background(), "reset", c.key, func(ctx context.Context) error {
			return c.b.store.Reset(ctx, c.key)
		})
	case Failed:
		now := c.b.clock.Now()
		c.mu.Lock()
		c.probing = false
		until := c.openLocked(now)
		c.mu.Unlock()
		c.b.log.Warn("circuit re-opened: the probe failed", slog.String("platform", string(c.platform)), slog.String("resource", c.resource),
			slog.Duration("cooldown", c.b.cfg.Cooldown))
		c.shareTrip(now, until)
	default:
		c.mu.Lock()
		c.probing = false
		c.mu.Unlock()
		if token != "" {
			_ = c.b.storeCall(context.Background(), "release", c.key, func(ctx context.Context) error {
				return c.b.store.Release(ctx, c.key, token)
			})
		}
	}
}

// Outcome is what a permitted call reports to its [Permit].
type Outcome int

const (
	// Succeeded: the platform answered and is healthy (any answer that is
	// not a failure, a 4xx about the request included). It resets the
	// failure count; a probe that succeeded closes the circuit.
	Succeeded Outcome = iota + 1
	// Failed: the platform failed (unreachable, timed out, a 5xx). It
	// counts towards opening; a probe that failed re-opens the circuit for a
	// full cooldown.
	Failed
	// Abandoned: the call ended without a verdict (the caller gave up). It
	// changes nothing; an abandoned probe lets another call probe at once.
	Abandoned
)

// Permit is the permission to make one call, from [Circuit.Allow]. Its zero
// value (returned with an error) ignores Done.
type Permit struct {
	c     *Circuit
	probe bool
	token string
}

// Probe reports whether the call is the circuit's half-open probe.
func (p Permit) Probe() bool { return p.probe }

// Done reports the call's outcome. Call it exactly once per permitted call.
func (p Permit) Done(o Outcome) {
	c := p.c
	if c == nil {
		return
	}
	if p.probe {
		c.probeDone(o, p.token)
		return
	}
	switch o {
	case Succeeded:
		if c.failures.Load() != 0 {
			c.failures.Store(0)
		}
	case Failed:
		if c.open.Load() {
			return // admitted before the circuit opened: already counted in
		}
		if c.failures.Add(1) >= int64(c.b.cfg.Failures) {
			c.trip()
		}
	}
}
