package killswitch

import (
	"maps"
	"slices"
	"strings"
)

// Snapshot is an immutable set of switches that are on. It is the state a
// [MemoryStore] or a Redis store enforces, and a building block for other
// [Checker] implementations: keep the current Snapshot behind an
// atomic.Pointer and replace it whole, and Check reads it without a lock, a
// network call or an allocation. The zero Snapshot (and a nil *Snapshot)
// holds no switch. A Snapshot is safe for concurrent use.
type Snapshot struct {
	global *Switch
	orgs   map[string]*Switch // the state, for copy-on-write and list
	keys   map[string]*Switch
	orgT   table // the same, for check, held by value to save a load
	keyT   table
}

// emptySnapshot has no switch on.
var emptySnapshot = &Snapshot{}

// NewSnapshot returns a Snapshot holding switches. Every switch must pass
// [Switch.Validate]; the first that does not is reported (wrapping
// [ErrInvalidSwitch]) and no Snapshot is returned. At is kept as given, zero
// included. Of several switches on the same (scope, id) the last one wins.
func NewSnapshot(switches []Switch) (*Snapshot, error) {
	for i := range switches {
		if err := switches[i].Validate(); err != nil {
			return nil, err
		}
	}
	return newSnapshot(switches), nil
}

// Check returns the broadest switch of s that is on for a request made with
// keyID on behalf of orgID (global, then organization, then key), and false
// when none is; see [Checker]. It never blocks, allocates or fails.
func (s *Snapshot) Check(keyID, orgID string) (Switch, bool) {
	if s == nil {
		return Switch{}, false
	}
	return s.check(keyID, orgID)
}

// List returns a copy of every switch of s: global first, then
// organizations, then keys, each group sorted by ID. It never returns nil.
func (s *Snapshot) List() []Switch {
	if s == nil {
		return []Switch{}
	}
	return s.list()
}

// check is the hot path: one pointer test and at most two table lookups, no
// allocation.
func (s *Snapshot) check(keyID, orgID string) (Switch, bool) {
	if s.global != nil {
		return *s.global, true
	}
	if orgID != "" {
		if sw := s.orgT.get(orgID); sw != nil {
			return *sw, true
		}
	}
	if keyID != "" {
		if sw := s.keyT.get(keyID); sw != nil {
			return *sw, true
		}
	}
	return Switch{}, false
}

// newSnapshot builds a snapshot from switches that have been validated.
// Later switches replace earlier ones on the same (scope, id).
func newSnapshot(switches []Switch) *Snapshot {
	s := &Snapshot{}
	for i := range switches {
		s.put(switches[i])
	}
	s.orgT, s.keyT = newTable(s.orgs), newTable(s.keys)
	return s
}

// put stores sw in s's maps (not its tables); only for snapshots that are
// not published yet.
func (s *Snapshot) put(sw Switch) {
	p := &sw
	switch sw.Scope {
	case ScopeGlobal:
		s.global = p
	case ScopeOrganization:
		if s.orgs == nil {
			s.orgs = make(map[string]*Switch)
		}
		s.orgs[sw.ID] = p
	case ScopeKey:
		if s.keys == nil {
			s.keys = make(map[string]*Switch)
		}
		s.keys[sw.ID] = p
	}
}

// with returns a copy of s with sw on. Only the map sw goes into is copied.
func (s *Snapshot) with(sw Switch) *Snapshot {
	n := *s
	switch sw.Scope {
	case ScopeOrganization:
		n.orgs = maps.Clone(s.orgs)
		n.put(sw)
		n.orgT = newTable(n.orgs)
	case ScopeKey:
		n.keys = maps.Clone(s.keys)
		n.put(sw)
		n.keyT = newTable(n.keys)
	default:
		n.put(sw)
	}
	return &n
}

// without returns a copy of s with the (scope, id) switch off, or s itself
// when that switch is not on.
func (s *Snapshot) without(scope Scope, id string) *Snapshot {
	switch scope {
	case ScopeGlobal:
		if s.global == nil {
			return s
		}
		n := *s
		n.global = nil
		return &n
	case ScopeOrganization:
		if _, ok := s.orgs[id]; !ok {
			return s
		}
		n := *s
		n.orgs = maps.Clone(s.orgs)
		delete(n.orgs, id)
		n.orgT = newTable(n.orgs)
		return &n
	case ScopeKey:
		if _, ok := s.keys[id]; !ok {
			return s
		}
		n := *s
		n.keys = maps.Clone(s.keys)
		delete(n.keys, id)
		n.keyT = newTable(n.keys)
		return &n
	}
	return s
}

// list returns copies of every switch: global, then organizations, then
// keys, each group sorted by ID.
func (s *Snapshot) list() []Switch {
	out := make([]Switch, 0, len(s.orgs)+len(s.keys)+1)
	if s.global != nil {
		out = append(out, *s.global)
	}
	for _, m := range []map[string]*Switch{s.orgs, s.keys} {
		start := len(out)
		for _, sw := range m {
			out = append(out, *sw)
		}
		slices.SortFunc(out[start:], func(a, b Switch) int { return strings.Compare(a.ID, b.ID) })
	}
	return out
}
