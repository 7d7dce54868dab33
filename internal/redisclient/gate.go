package redisclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of [GateConfig].
const (
	// DefaultFailAfter is how many consecutive outage failures open a gate.
	DefaultFailAfter = 3
	// DefaultProbeInterval is how often an open gate probes Redis.
	DefaultProbeInterval = 500 * time.Millisecond
)

// ErrUnavailable is the error a store returns, without calling Redis, while
// its gate is open: Redis failed FailAfter calls in a row and has not
// answered a probe since.
var ErrUnavailable = errors.New("redis unavailable: failing fast until a background probe succeeds")

// GateConfig configures a [Gate].
type GateConfig struct {
	// FailAfter is how many consecutive outage failures (see [IsOutage])
	// open the gate. Zero means DefaultFailAfter; negative disables the
	// gate (every call goes to Redis).
	FailAfter int
	// ProbeInterval is the wait between probes while the gate is open.
	// Zero means DefaultProbeInterval.
	ProbeInterval time.Duration
	// ProbeTimeout bounds one probe. Zero means ProbeInterval.
	ProbeTimeout time.Duration
	// Probe checks whether Redis answers again; key is the key of the last
	// failed call ("" when there was none), so that a cluster client probes
	// the node that failed. Nil means [Ping].
	Probe func(ctx context.Context, key string) error
	// OnOpen is called (on the failing call's goroutine) when the gate
	// opens, with the failure that opened it; OnClose (on the probe's
	// goroutine) when a probe succeeded. Either may be nil.
	OnOpen  func(err error)
	OnClose func(down time.Duration)
}

// Gate turns a Redis outage into fast failures: after FailAfter
// consecutive outage failures every call fails at once with
// [ErrUnavailable] instead of waiting out its timeout, and one background
// goroutine probes Redis every ProbeInterval until it answers, then lets
// calls through again. No goroutine runs while Redis is healthy. Close
// stops the probe and waits for it. A Gate is safe for concurrent use; the
// zero value is not usable (see [NewGate]).
type Gate struct {
	cfg GateConfig

	mu       sync.Mutex
	failures int
	open     bool
	since    time.Time // when the gate opened
	lastErr  error
	lastKey  string
	closed   bool
	stop     chan struct{}
	wg       sync.WaitGroup
	disabled bool
}

// NewGate returns a closed (passing) Gate for cfg, with defaults filled in.
func NewGate(client redis.UniversalClient, cfg GateConfig) *Gate {
	if cfg.FailAfter == 0 {
		cfg.FailAfter = DefaultFailAfter
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = cfg.ProbeInterval
	}
	if cfg.Probe == nil {
		cfg.Probe = func(ctx context.Context, key string) error { return Ping(ctx, client, key) }
	}
	return &Gate{cfg: cfg, disabled: cfg.FailAfter < 0, stop: make(chan struct{})}
}

// Allow returns nil when a call may go to Redis, and an error wrapping
// [ErrUnavailable] (and the failure that opened the gate) while it is open.
func (g *Gate) Allow() error {
	if g.disabled {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open {
		return nil
	}
	return &unavailableError{cause: g.lastErr}
}

// unavailableError is ErrUnavailable with the failure that opened the gate.
type unavailableError struct{ cause error }

func (e *unavailableError) Error() string {
	if e.cause == nil {
		return ErrUnavailable.Error()
	}
	return ErrUnavailable.Error() + " (last failure: " + e.cause.Error() + ")"
}

func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }

// Record notes the outcome of a call made after Allow returned nil: a
// success resets the failure count; an outage failure (IsOutage(ctx, err),
// ctx being the caller's context) counts towards FailAfter. key is the
// call's key, for the probe.
func (g *Gate) Record(ctx context.Context, key string, err error) {
	if g.disabled {
		return
	}
	outage := IsOutage(ctx, err)
	g.mu.Lock()
	if !outage {
		if answered(err) {
			g.failures = 0
		}
		g.mu.Unlock()
		return
	}
	g.failures++
	g.lastErr, g.lastKey = err, key
	opened := false
	if !g.open && g.failures >= g.cfg.FailAfter && !g.closed {
		g.open, g.since, opened = true, time.Now(), true
		g.wg.Add(1)
		go g.probe()
	}
	g.mu.Unlock()
	if opened && g.cfg.OnOpen != nil {
		g.cfg.OnOpen(err)
	}
}

// Open reports whether the gate is failing calls fast.
func (g *Gate) Open() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

// probe runs while the gate is open, until a probe succeeds or Close.
func (g *Gate) probe() {
	defer g.wg.Done()
	t := time.NewTimer(g.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		g.mu.Lock()
		key := g.lastKey
		g.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), g.cfg.ProbeTimeout)
		err := g.cfg.Probe(ctx, key)
		cancel()
		if err == nil {
			g.mu.Lock()
			down := time.Since(g.since)
			g.open, g.failures, g.lastErr = false, 0, nil
			g.mu.Unlock()
			if g.cfg.OnClose != nil {
				g.cfg.OnClose(down)
			}
			return
		}
		t.Reset(g.cfg.ProbeInterval)
	}
}

// Close stops a running probe and waits for it to end. Afterwards the gate
// no longer opens: calls go to Redis (and wait out their timeouts) again.
// It is idempotent.
func (g *Gate) Close() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		g.open = false
		close(g.stop)
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// IsOutage reports whether err, returned by a call made under the caller's
// context ctx, says that Redis is unreachable or not answering: network
// errors, timeouts, and the replies a Redis that cannot serve gives
// (LOADING, BUSY, CLUSTERDOWN, MASTERDOWN, TRYAGAIN). Other Redis replies
// (the server answered), a cancelled caller (the client went away) and a
// closed client are not outages.
func IsOutage(ctx context.Context, err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, redis.ErrClosed) || errors.Is(err, ErrUnavailable) {
		return false
	}
	if ctx != nil && errors.Is(ctx.Err(), context.Canceled) {
		return false
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := strings.TrimPrefix(rerr.Error(), "ERR ")
		for _, p := range []string{"LOADING", "BUSY", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	return true
}

// answered reports whether a call that is not an outage reached Redis (a
// success or a reply), as opposed to a cancelled caller or a closed client.
func answered(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return true
	}
	var rerr redis.Error
	return errors.As(err, &rerr)
}

// Ping checks that Redis answers: PING on a single client, and on a
// cluster client PING to the master serving key (any node when key is "").
func Ping(ctx context.Context, client redis.UniversalClient, key string) error {
	if c, ok := client.(*redis.ClusterClient); ok && key != "" {
		node, err := c.MasterForKey(ctx, key)
		if err != nil {
			return fmt.Errorf("find the node of %q: %w", key, err)
		}
		return node.Ping(ctx).Err()
	}
	return client.Ping(ctx).Err()
}
