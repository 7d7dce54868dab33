package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryConfig configures a MemoryStore. The zero value is usable.
type MemoryConfig struct {
	// MaxKeys is the hard cap on tracked buckets (one per key and class).
	// When a shard is full, inserting a new bucket first evicts buckets that
	// have refilled (dropping those is free: a full bucket is
	// indistinguishable from a new one), else the fullest bucket of a small
	// sample. Default DefaultMaxKeys.
	MaxKeys int
	// SweepInterval is how often the background sweeper visits every shard
	// to drop refilled buckets, SweepBatch entries per shard per visit, one
	// shard lock at a time. Default 1s; a negative value disables the
	// sweeper (no goroutine is started; the cap still holds through
	// eviction on insert).
	SweepInterval time.Duration
	// SweepBatch is the number of entries the sweeper examines per shard
	// per visit. Default 256.
	SweepBatch int
	// Clock returns the time elapsed since an arbitrary fixed origin; it must
	// never go backwards. Default: the monotonic clock (time.Since of the
	// store's creation time, immune to wall-clock steps). Tests inject a
	// fake clock here.
	Clock func() time.Duration
}

// DefaultMaxKeys is the default cap on tracked buckets of a MemoryStore.
const DefaultMaxKeys = 1 << 20

const (
	// maxShards is the shard count of stores with at least
	// maxShards*minShardKeys keys.
	maxShards = 256
	// minShardKeys is the smallest per-shard capacity that still gets its
	// own shard.
	minShardKeys = 16
	// evictSample is how many entries an insert into a full shard examines.
	evictSample = 8
	// denyBits is the number of low bits of a packed bucket holding the
	// denial counter (staggerSlots must fit).
	denyBits = 4
	// maxTat bounds the store clock so packed times never overflow (2^59
	// ns, about 18 years of uptime).
	maxTat = int64(1)<<(63-denyBits) - 1
)

// MemoryStore is an in-process Store: sharded token buckets kept inline in
// maps of 64-bit hashes to packed 64-bit states (no pointer, no allocation
// per bucket or per decision), a hard cap on tracked buckets, and incremental
// eviction that never holds more than one shard lock.
//
// Keys are hashed together with the class name with a per-store random
// seed; two distinct (key, class) pairs share a bucket only on a 64-bit hash
// collision (probability about n²/2^65 for n live buckets), which can only
// make the limiter stricter for them.
type MemoryStore struct {
	seed      maphash.Seed
	classSeed maphash.Seed
	start     time.Time
	clock     func() time.Duration
	shards    []shard
	shardCap  int
	mask      uint64
	batch     int
	closed    atomic.Bool
	stop      chan struct{}
	done      chan struct{}
	once      sync.Once
}

// shard is one lock and its map, padded to a cache line so that
// neighbouring locks do not share one.
type shard struct {
	mu sync.Mutex
	m  map[uint64]uint64
	_  [48]byte
}

// NewMemoryStore returns a MemoryStore configured by cfg (zero fields take
// their defaults). Unless cfg.SweepInterval is negative it starts one
// background sweeper goroutine; Close stops it.
func NewMemoryStore(cfg MemoryConfig) (*MemoryStore, error) {
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.MaxKeys < 1 {
		return nil, fmt.Errorf("ratelimit: MaxKeys must be positive, got %d", cfg.MaxKeys)
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = time.Second
	}
	if cfg.SweepBatch == 0 {
		cfg.SweepBatch = 256
	}
	if cfg.SweepBatch < 1 {
		return nil, fmt.Errorf("ratelimit: SweepBatch must be positive, got %d", cfg.SweepBatch)
	}
	n := maxShards
	if cfg.MaxKeys < maxShards*minShardKeys {
		// Largest power of two with at least minShardKeys keys per shard.
		n = 1
		if q := cfg.MaxKeys / minShardKeys; q > 1 {
			n = 1 << (bits.Len(uint(q)) - 1)
		}
	}
	s := &MemoryStore{
		seed:      maphash.MakeSeed(),
		classSeed: maphash.MakeSeed(),
		start:     time.Now(),
		clock:     cfg.Clock,
		shards:    make([]shard, n),
		shardCap:  cfg.MaxKeys / n,
		mask:      uint64(n - 1),
		batch:     cfg.SweepBatch,
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	for i := range s.shards {
		s.shards[i].m = make(map[uint64]uint64)
	}
	if cfg.SweepInterval > 0 {
		go s.sweeper(cfg.SweepInterval)
	} else {
		close(s.done)
	}
	return s, nil
}

// MaxKeys returns the effective cap on tracked buckets (MaxKeys rounded
// down to a multiple of the shard count).
func (s *MemoryStore) MaxKeys() int { return s.shardCap * len(s.shards) }

// Len returns the number of buckets currently tracked.
func (s *MemoryStore) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// now returns the store clock in nanoseconds, clamped to [0, maxTat/2].
func (s *MemoryStore) now() int64 {
	var d time.Duration
	if s.clock != nil {
		d = s.clock()
	} else {
		d = time.Since(s.start)
	}
	return min(max(int64(d), 0), maxTat/2)
}

// hash returns the bucket hash of (key, class): two independently seeded
// 64-bit hashes combined, so distinct pairs collide with probability 2^-64.
func (s *MemoryStore) hash(class, key string) uint64 {
	return maphash.String(s.seed, key) ^ maphash.String(s.classSeed, class)*0x9e3779b97f4a7c15
}

// Allow implements Store. It never blocks on anything but one shard lock
// held for a map lookup and store, and does not allocate.
func (s *MemoryStore) Allow(ctx context.Context, key string, class Class, cost int) (Decision, error) {
	iv, err := class.check(cost)
	if err != nil {
		return Decision{}, err
	}
	if s.closed.Load() {
		return Decision{}, ErrClosed
	}
	h := s.hash(class.Name, key)
	sh := &s.shards[(h>>56)&s.mask]
	// Reading the clock before taking the lock keeps the critical section
	// short; a caller that waited for the lock decides with a slightly
	// earlier now, which can only admit less and tell a later retry time.
	now := s.now()
	sh.mu.Lock()
	packed, ok := sh.m[h]
	st := bucketState{tat: int64(packed >> denyBits), denied: int64(packed & (1<<denyBits - 1))}
	d, st := decide(st, now, iv, iv*int64(cost), class.Rate.Burst)
	if !ok && len(sh.m) >= s.shardCap {
		sh.evict(now)
	}
	sh.m[h] = uint64(st.tat)<<denyBits | uint64(st.denied)
	sh.mu.Unlock()
	return d, nil
}

// evict makes room for one insert in a full shard: among up to evictSample
// entries (from the map's random iteration start) it drops every bucket
// that has refilled; if none has, it drops the one closest to full, which
// hands that key back at most the tokens it was missing. Called with the
// shard lock held.
func (sh *shard) evict(now int64) {
	var victim uint64
	victimTat := int64(-1)
	dropped := false
	n := 0
	for k, v := range sh.m {
		tat := int64(v >> denyBits)
		if tat <= now {
			delete(sh.m, k)
			dropped = true
		} else if !dropped && (victimTat < 0 || tat < victimTat) {
			victim, victimTat = k, tat
		}
		if n++; n == evictSample {
			break
		}
	}
	if !dropped && victimTat >= 0 {
		delete(sh.m, victim)
	}
}

// sweep drops refilled buckets among up to batch entries of the shard.
func (sh *shard) sweep(now int64, batch int) {
	sh.mu.Lock()
	n := 0
	for k, v := range sh.m {
		if int64(v>>denyBits) <= now {
			delete(sh.m, k)
		}
		if n++; n == batch {
			break
		}
	}
	sh.mu.Unlock()
}

// sweeper visits every shard each interval until Close.
func (s *MemoryStore) sweeper(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			for i := range s.shards {
				select {
				case <-s.stop:
					return
				default:
				}
				s.shards[i].sweep(s.now(), s.batch)
			}
		}
	}
}

// Sweep runs one sweeper pass over every shard now (the background sweeper
// does the same each SweepInterval). It is useful with SweepInterval < 0 or
// an injected clock.
func (s *MemoryStore) Sweep() {
	for i := range s.shards {
		s.shards[i].sweep(s.now(), s.batch)
	}
}

// Close stops the background sweeper and waits for it to exit. Allow
// returns ErrClosed afterwards. Close is idempotent and always returns nil.
func (s *MemoryStore) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		close(s.stop)
	})
	<-s.done
	return nil
}

var _ Store = (*MemoryStore)(nil)
