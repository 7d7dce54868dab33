package idempotency

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultMaxEntries bounds a MemoryStore whose MemoryConfig.MaxEntries is
// zero.
const DefaultMaxEntries = 100_000

// MemoryConfig configures a [MemoryStore]. The zero value is valid.
type MemoryConfig struct {
	// MaxEntries bounds the leases and stored responses held at once.
	// Default [DefaultMaxEntries]; negative is a configuration error.
	MaxEntries int
}

// ErrStoreFull is returned by MemoryStore.Acquire when the store holds its
// maximum number of entries, no stored response is left to evict and the
// oldest lease is live: a live lease is never evicted (evicting it would let
// the same work run twice). The [Guard] answers INTERNAL, and the client
// retries with the same key.
var ErrStoreFull = errors.New("idempotency: memory store full of running requests")

// MemoryStore is an in-process Store: bounded, expiring, without background
// goroutines (expired entries are dropped when met), so it has nothing to
// close. It suits a single process; services with several instances need a
// shared store (redisstore.Store) so that all instances see the same keys.
//
// It holds at most MemoryConfig.MaxEntries leases and records. When a new lease needs
// room, the oldest lease is dropped if it has expired, else the oldest stored
// response (a later retry of that key runs again); a live lease is never
// dropped (see ErrStoreFull). Stored responses are kept whole in memory: size
// MaxEntries for the responses the idempotent routes return.
type MemoryStore struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*memEntry
	leases  *list.List // of *memEntry, by acquisition, oldest first
	records *list.List // of *memEntry, by completion, oldest first
}

// memEntry is a lease (rec == nil) or a stored response.
type memEntry struct {
	key     string
	token   string // lease owner
	fp      string // fingerprint of the lease owner's request
	rec     *Record
	expires time.Time
	elem    *list.Element // in leases or records
}

// NewMemoryStore returns an empty MemoryStore for cfg, or an error when
// cfg.MaxEntries is negative.
func NewMemoryStore(cfg MemoryConfig) (*MemoryStore, error) {
	switch {
	case cfg.MaxEntries < 0:
		return nil, fmt.Errorf("idempotency: MemoryConfig.MaxEntries %d is negative", cfg.MaxEntries)
	case cfg.MaxEntries == 0:
		cfg.MaxEntries = DefaultMaxEntries
	}
	return &MemoryStore{
		max:     cfg.MaxEntries,
		now:     time.Now,
		entries: make(map[string]*memEntry),
		leases:  list.New(),
		records: list.New(),
	}, nil
}

// Len returns the number of entries held, including expired ones not yet
// dropped. It never exceeds the store's maximum.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// Acquire implements Store. The returned record is a copy.
func (s *MemoryStore) Acquire(_ context.Context, key, token, fingerprint string, leaseTTL time.Duration) (Lookup, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if e := s.live(key, now); e != nil {
		if e.rec != nil {
			return Lookup{State: Completed, Record: cloneRecord(e.rec)}, nil
		}
		return Lookup{State: InProgress, Fingerprint: e.fp}, nil
	}
	for len(s.entries) >= s.max {
		if f := s.leases.Front(); f != nil && !now.Before(f.Value.(*memEntry).expires) {
			s.remove(f.Value.(*memEntry))
			continue
		}
		f := s.records.Front()
		if f == nil {
			return Lookup{}, ErrStoreFull
		}
		s.remove(f.Value.(*memEntry))
	}
	e := &memEntry{key: key, token: token, fp: fingerprint, expires: now.Add(leaseTTL)}
	e.elem = s.leases.PushBack(e)
	s.entries[key] = e
	return Lookup{State: Acquired}, nil
}

// Renew implements Store.
func (s *MemoryStore) Renew(_ context.Context, key, token string, leaseTTL time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	e := s.live(key, now)
	if e == nil || e.rec != nil || e.token != token {
		return ErrLeaseLost
	}
	e.expires = now.Add(leaseTTL)
	return nil
}

// Complete implements Store. The store keeps its own copy of rec.
func (s *MemoryStore) Complete(_ context.Context, key, token string, rec Record, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	e := s.live(key, now)
	if e == nil || e.rec != nil || e.token != token {
		return ErrLeaseLost
	}
	e.token, e.fp = "", ""
	e.rec = cloneRecord(&rec)
	e.expires = now.Add(ttl)
	s.leases.Remove(e.elem)
	e.elem = s.records.PushBack(e)
	return nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, key, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[key]; e != nil && e.rec == nil && e.token == token {
		s.remove(e)
	}
	return nil
}

// live returns the unexpired entry of key, dropping an expired one.
func (s *MemoryStore) live(key string, now time.Time) *memEntry {
	e := s.entries[key]
	if e == nil {
		return nil
	}
	if !now.Before(e.expires) {
		s.remove(e)
		return nil
	}
	return e
}

// remove drops e from the store.
func (s *MemoryStore) remove(e *memEntry) {
	if e.rec == nil {
		s.leases.Remove(e.elem)
	} else {
		s.records.Remove(e.elem)
	}
	delete(s.entries, e.key)
}

// cloneRecord returns a deep copy of r.
func cloneRecord(r *Record) *Record {
	c := *r
	c.Header = r.Header.Clone()
	if r.Body != nil {
		c.Body = append([]byte(nil), r.Body...)
	}
	return &c
}
