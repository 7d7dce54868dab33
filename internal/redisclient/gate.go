package redisclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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
// the gate of the node a call would go to is open: that node failed
// FailAfter calls in a row and has not answered a probe since.
var ErrUnavailable = errors.New("redis unavailable: failing fast until a background probe succeeds")

// GateConfig configures a [Gate].
type GateConfig struct {
	// FailAfter is how many consecutive outage failures (see [IsOutage])
	// of one node open its gate. Zero means DefaultFailAfter; negative
	// disables the gate (every call goes to Redis).
	FailAfter int
	// ProbeInterval is the wait between probes while a node's gate is
	// open. Zero means DefaultProbeInterval.
	ProbeInterval time.Duration
	// ProbeTimeout bounds one probe. Zero means ProbeInterval.
	ProbeTimeout time.Duration
	// Probe checks whether a node answers again; key is the key of the
	// node's last failed call, so that a cluster client probes the master
	// that serves it now. Nil means [Ping].
	Probe func(ctx context.Context, key string) error
	// OnOpen is called (on the failing call's goroutine) when a node's
	// gate opens, with the node ("" for a client that is not a cluster
	// client, or a cluster node that could not be found) and the failure
	// that opened it; OnClose (on the probe's goroutine) when its probe
	// succeeded. Either may be nil.
	OnOpen  func(node string, err error)
	OnClose func(node string, down time.Duration)
}

// Gate turns a Redis outage into fast failures, node by node: after
// FailAfter consecutive outage failures of calls to one node, every call
// to that node fails at once with [ErrUnavailable] instead of waiting out
// its timeout, and one background goroutine probes it every ProbeInterval
// until it answers, then lets calls through again. On a cluster client a
// node is the master serving a key's slot (as go-redis routes the call),
// so a failed master fails only its own keys: calls to the others go on,
// and their successes do not hide its failures. Any other client is one
// node. No goroutine runs while Redis is healthy. Close stops the probes
// and waits for them. A Gate is safe for concurrent use; the zero value is
// not usable (see [NewGate]).
type Gate struct {
	cfg      GateConfig
	cluster  *redis.ClusterClient // nil: one node
	disabled bool

	// lost is set while the gate of unknownNode is open: the cluster's
	// layout could not be loaded, and looking a node up would wait on the
	// network again.
	lost atomic.Bool

	mu     sync.Mutex
	nodes  map[string]*nodeState // only nodes with failures: at most the masters
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

// nodeState is what a Gate knows of a node that failed.
type nodeState struct {
	failures int
	open     bool
	since    time.Time // when the gate opened
	lastErr  error
	lastKey  string
}

// unknownNode is the node of a client that is not a cluster client, and of
// a cluster call whose master could not be found.
const unknownNode = ""

// NewGate returns a Gate for client with every node passing, and defaults
// filled in.
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
	g := &Gate{cfg: cfg, disabled: cfg.FailAfter < 0, stop: make(chan struct{}), nodes: map[string]*nodeState{}}
	g.cluster, _ = client.(*redis.ClusterClient)
	return g
}

// Node returns the node a call on key goes to: for a cluster client the
// address of the master serving key's slot, from go-redis's own slot table
// (the one it routes the call with, which it reloads on MOVED and
// periodically), and "" for any other client. It makes no network call
// once the client knows the cluster's layout; before that it loads it
// under ctx, as the call itself would. A node that cannot be found is "".
func (g *Gate) Node(ctx context.Context, key string) string {
	if g.cluster == nil || g.lost.Load() {
		return unknownNode
	}
	m, err := g.cluster.MasterForKey(ctx, key)
	if err != nil {
		return unknownNode
	}
	return m.Options().Addr
}

// Allow returns nil when a call may go to node (from [Gate.Node]), and an
// error wrapping [ErrUnavailable] (and the failure that opened the gate)
// while node's gate is open.
func (g *Gate) Allow(node string) error {
	if g.disabled {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.nodes[node]
	if st == nil || !st.open {
		return nil
	}
	return &unavailableError{node: node, cause: st.lastErr}
}

// unavailableError is ErrUnavailable with the node and the failure that
// opened its gate.
type unavailableError struct {
	node  string
	cause error
}

func (e *unavailableError) Error() string {
	msg := ErrUnavailable.Error()
	var extra []string
	if e.node != "" {
		extra = append(extra, "node "+e.node)
	}
	if e.cause != nil {
		extra = append(extra, "last failure: "+e.cause.Error())
	}
	if len(extra) > 0 {
		msg += " (" + strings.Join(extra, "; ") + ")"
	}
	return msg
}

func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }

// Record notes the outcome of a call to node made after Allow(node)
// returned nil: an answer resets node's failure count; an outage failure
// (IsOutage(ctx, err), ctx being the caller's context) counts towards
// FailAfter. key is the call's key, for the probe.
func (g *Gate) Record(ctx context.Context, node, key string, err error) {
	if g.disabled {
		return
	}
	outage := IsOutage(ctx, err)
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	st := g.nodes[node]
	if !outage {
		if answered(err) && st != nil && !st.open {
			delete(g.nodes, node) // a healthy node takes no room
		}
		g.mu.Unlock()
		return
	}
	if st == nil {
		st = &nodeState{}
		g.nodes[node] = st
	}
	st.failures++
	st.lastErr, st.lastKey = err, key
	opened := false
	if !st.open && st.failures >= g.cfg.FailAfter {
		st.open, st.since, opened = true, time.Now(), true
		if node == unknownNode && g.cluster != nil {
			g.lost.Store(true)
		}
		g.wg.Add(1)
		go g.probe(node, st)
	}
	g.mu.Unlock()
	if opened && g.cfg.OnOpen != nil {
		g.cfg.OnOpen(node, err)
	}
}

// Open reports whether node's gate is failing calls fast.
func (g *Gate) Open(node string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.nodes[node]
	return st != nil && st.open
}

// Down reports whether any node's gate is failing calls fast.
func (g *Gate) Down() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, st := range g.nodes {
		if st.open {
			return true
		}
	}
	return false
}

// probe runs while node's gate is open, until a probe succeeds or Close.
func (g *Gate) probe(node string, st *nodeState) {
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
		key := st.lastKey
		g.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), g.cfg.ProbeTimeout)
		err := g.cfg.Probe(ctx, key)
		cancel()
		if err == nil {
			g.mu.Lock()
			down := time.Since(st.since)
			if g.nodes[node] == st {
				delete(g.nodes, node)
			}
			if node == unknownNode {
				g.lost.Store(false)
			}
			g.mu.Unlock()
			if g.cfg.OnClose != nil {
				g.cfg.OnClose(node, down)
			}
			return
		}
		t.Reset(g.cfg.ProbeInterval)
	}
}

// Close stops the running probes and waits for them to end. Afterwards no
// gate opens: calls go to Redis (and wait out their timeouts) again. It is
// idempotent.
func (g *Gate) Close() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		clear(g.nodes)
		g.lost.Store(false)
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
