package upstream

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"
)

// Store shares the breakers' open state between the instances of a fleet. A
// [Breaker] keeps every circuit's state in memory and answers closed calls
// from it alone; it talks to its Store only when a circuit changes state
// (Trip, Reset), when a cooldown has ended (Probe) and when a probe ends
// without a verdict (Release). Watch delivers what other instances did.
//
// Keys are "<platform>:<resource>", for example "tiktok:publish". Times are
// wall-clock instants, so the instances of a fleet must keep their clocks
// in step (NTP): a skew between two instances is an error in the remaining
// time one reports for a circuit the other opened.
//
// Implementations must be safe for concurrent use. [MemoryStore] shares state
// within one process; the redisstore package shares it through Redis.
type Store interface {
	// Trip records that key is open until until, for every instance, and
	// tells the other instances. now is the caller's current time; until is
	// after it.
	Trip(ctx context.Context, key string, now, until time.Time) error
	// Reset records that key is closed, for every instance, and tells the
	// other instances.
	Reset(ctx context.Context, key string) error
	// Probe asks, at now, for the one call the fleet lets through once key's
	// cooldown has ended. When it is granted, no other instance is granted a
	// probe of key until lease has passed, Release is called with the
	// returned token, or key is tripped or reset.
	Probe(ctx context.Context, key string, now time.Time, lease time.Duration) (Probe, error)
	// Release gives back the probe that token names, when it ended without a
	// verdict, so that another call may probe at once. A token that no
	// longer holds the probe is ignored.
	Release(ctx context.Context, key, token string) error
	// Watch registers fn for what other instances do: fn(key, until) when
	// key was tripped until until, fn(key, time.Time{}) when it was reset.
	// A store may also call fn for keys it finds open when it re-reads the
	// shared state, and with instants already past; fn must ignore those and
	// must not block. stop unregisters fn.
	Watch(fn func(key string, until time.Time)) (stop func())
}

// ProbeStatus is the answer to [Store.Probe].
type ProbeStatus int

const (
	// ProbeGranted: the caller holds the probe; its outcome decides.
	ProbeGranted ProbeStatus = iota + 1
	// ProbeClosed: the circuit is closed (another instance's probe
	// succeeded); the call may go through as any closed call.
	ProbeClosed
	// ProbeOpen: the circuit is open until Probe.Until (another instance
	// tripped it again).
	ProbeOpen
	// ProbeBusy: another call holds the probe, at most until Probe.Until.
	ProbeBusy
)

// String returns the status's name, for logs.
func (s ProbeStatus) String() string {
	switch s {
	case ProbeGranted:
		return "granted"
	case ProbeClosed:
		return "closed"
	case ProbeOpen:
		return "open"
	case ProbeBusy:
		return "busy"
	}
	return "ProbeStatus(" + strconv.Itoa(int(s)) + ")"
}

// Probe is the answer to [Store.Probe].
type Probe struct {
	// Status says whether the probe was granted, and if not, why.
	Status ProbeStatus
	// Until is, for ProbeOpen, the end of the new cooldown and, for
	// ProbeBusy, when the probe held by another call expires.
	Until time.Time
	// Token names a granted probe, for Release.
	Token string
}

// MemoryConfig configures [NewMemoryStore]. It has no fields yet; it exists
// so that every store constructor has the same shape.
type MemoryConfig struct{}

// MemoryStore is a [Store] that shares state between the breakers of one
// process. A [Breaker] without a Store uses a private one. It starts no
// goroutines.
type MemoryStore struct {
	mu       sync.Mutex
	circuits map[string]memCircuit
	watchers map[int]func(string, time.Time)
	nextW    int
	nextTok  uint64
}

type memCircuit struct {
	until      time.Time
	probeUntil time.Time
	token      string
}

// NewMemoryStore returns an empty MemoryStore. It never fails today; the
// error keeps the constructor shape of every store.
func NewMemoryStore(cfg MemoryConfig) (*MemoryStore, error) {
	_ = cfg
	return &MemoryStore{circuits: make(map[string]memCircuit), watchers: make(map[int]func(string, time.Time))}, nil
}

// Trip records key open until until and tells the other watchers.
func (m *MemoryStore) Trip(ctx context.Context, key string, now, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	m.circuits[key] = memCircuit{until: until}
	ws := m.watchersLocked()
	m.mu.Unlock()
	for _, w := range ws {
		w(key, until)
	}
	return nil
}

// Reset records key closed and tells the watchers.
func (m *MemoryStore) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.circuits, key)
	ws := m.watchersLocked()
	m.mu.Unlock()
	for _, w := range ws {
		w(key, time.Time{})
	}
	return nil
}

// Probe grants the probe of key when its cooldown has ended and no other
// call holds it.
func (m *MemoryStore) Probe(ctx context.Context, key string, now time.Time, lease time.Duration) (Probe, error) {
	if err := ctx.Err(); err != nil {
		return Probe{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.circuits[key]
	switch {
	case !ok:
		return Probe{Status: ProbeClosed}, nil
	case now.Before(c.until):
		return Probe{Status: ProbeOpen, Until: c.until}, nil
	case now.Before(c.probeUntil):
		return Probe{Status: ProbeBusy, Until: c.probeUntil}, nil
	}
	m.nextTok++
	c.probeUntil, c.token = now.Add(lease), strconv.FormatUint(m.nextTok, 10)
	m.circuits[key] = c
	return Probe{Status: ProbeGranted, Token: c.token}, nil
}

// Release gives back the probe token holds, if it still does.
func (m *MemoryStore) Release(ctx context.Context, key, token string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.circuits[key]; ok && token != "" && c.token == token {
		c.probeUntil, c.token = time.Time{}, ""
		m.circuits[key] = c
	}
	return nil
}

// Watch registers fn. Unlike a fleet store, a MemoryStore also calls fn for
// the changes the watcher's own breaker made, which a [Breaker] ignores as
// it already applied them.
func (m *MemoryStore) Watch(fn func(key string, until time.Time)) (stop func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.nextW
	m.nextW++
	m.watchers[id] = fn
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.watchers, id)
	}
}

func (m *MemoryStore) watchersLocked() []func(string, time.Time) {
	ws := make([]func(string, time.Time), 0, len(m.watchers))
	for _, w := range m.watchers {
		ws = append(ws, w)
	}
	return ws
}

// errNilStore is returned for a Store interface holding a nil pointer.
var errNilStore = errors.New("upstream: BreakerConfig.Store holds a nil pointer")

var _ Store = (*MemoryStore)(nil)
