package killswitch

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryConfig configures [NewMemoryStore]. The zero MemoryConfig is valid;
// every field has a default.
type MemoryConfig struct {
	// Now stamps Switch.At of a switch turned on without one. Default
	// time.Now.
	Now func() time.Time
}

// MemoryStore is the in-process [Source]: the embedded default for a single
// instance. Switches are flipped through its Go methods (or the operator
// API) and live as long as the process. Check reads an immutable [Snapshot]
// through an atomic pointer: no lock, no allocation. Flips are serialized
// and copy the affected scope's switches, so they cost O(switches in that
// scope); they are operator actions, not per-request work. It starts no
// goroutine and needs no Close. The zero value is not usable; call
// [NewMemoryStore].
type MemoryStore struct {
	mu   sync.Mutex // serializes writers
	snap atomic.Pointer[Snapshot]
	now  func() time.Time
}

// NewMemoryStore returns a MemoryStore with no switch on. It returns an
// error only for an invalid cfg; every MemoryConfig is valid today, and the
// error keeps the one constructor shape every errkit store has.
func NewMemoryStore(cfg MemoryConfig) (*MemoryStore, error) {
	m := &MemoryStore{now: cfg.Now}
	if m.now == nil {
		m.now = time.Now
	}
	m.snap.Store(emptySnapshot)
	return m, nil
}

// Check returns the broadest switch that is on for keyID and orgID. It never
// blocks, allocates or fails.
func (m *MemoryStore) Check(keyID, orgID string) (Switch, bool) {
	return m.snap.Load().check(keyID, orgID)
}

// On turns s on, replacing a switch on the same (scope, id). A zero s.At is
// set to the current time. It returns an error wrapping [ErrInvalidSwitch]
// when s is invalid, or ctx's error when ctx is already done.
func (m *MemoryStore) On(ctx context.Context, s Switch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return err
	}
	if s.At.IsZero() {
		s.At = m.now()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snap.Store(m.snap.Load().with(s))
	return nil
}

// Off turns the (scope, id) switch off; it is not an error when that switch
// is not on. It returns an error wrapping [ErrInvalidSwitch] for an invalid
// (scope, id), or ctx's error when ctx is already done.
func (m *MemoryStore) Off(ctx context.Context, scope Scope, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateTarget(scope, id); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snap.Store(m.snap.Load().without(scope, id))
	return nil
}

// List returns every switch that is on: global first, then organizations,
// then keys, each sorted by ID. It fails only when ctx is already done.
func (m *MemoryStore) List(ctx context.Context) ([]Switch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.snap.Load().list(), nil
}

// Replace atomically swaps the whole state for switches, as one step: no
// Check observes a mix of the old and new state. Every switch is validated
// first; on error nothing changes. A zero At is set to the current time.
func (m *MemoryStore) Replace(ctx context.Context, switches []Switch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.now()
	cp := make([]Switch, len(switches))
	for i, s := range switches {
		if err := s.Validate(); err != nil {
			return err
		}
		if s.At.IsZero() {
			s.At = now
		}
		cp[i] = s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snap.Store(newSnapshot(cp))
	return nil
}

var _ Source = (*MemoryStore)(nil)
