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
	// denial counter (StaggerSlots must fit).
	denyBits = 4
	// maxTat bounds the store clock so packed times never overflow (2^59
	// ns, about 18 years of uptime).
	maxTat = int64(1)<<(63-denyBits) - 1
)

// MemoryStore is an in-process Store: sharded token buckets kept inline in
// open-addressing tables of 16-byte slots (64-bit hash, packed 64-bit
// state; no pointer, no allocation per bucket or per decision), a hard cap
// on tracked buckets, and incremental eviction that never holds more than
// one shard lock.
//
// Keys are hashed with a per-store random seed and combined with a digest
// of the class name; two distinct (key, class) pairs share a bucket only on
// a 64-bit hash collision (probability about n²/2^65 for n live buckets), which can only
// make the limiter stricter for them.
type MemoryStore struct {
	seed     maphash.Seed
	start    time.Time
	clock    func() time.Duration
	shards   []shard
	shardCap int
	mask     uint64
	batch    int
	closed   atomic.Bool
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

// shard is one lock and its table (56 bytes), padded to 128 bytes so that
// no cache line holds the fields of two shards whatever the alignment of
// the array: two cores deciding for keys of different shards never
// contend for a line.
type shard struct {
	mu sync.Mutex
	t  table
	_  [128 - 56]byte
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
		seed:     maphash.MakeSeed(),
		start:    time.Now(),
		clock:    cfg.Clock,
		shards:   make([]shard, n),
		shardCap: cfg.MaxKeys / n,
		mask:     uint64(n - 1),
		batch:    cfg.SweepBatch,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	for i := range s.shards {
		s.shards[i].t = newTable()
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
		n += sh.t.n
		sh.mu.Unlock()
	}
	return n
}

// now returns the store clock in nanoseconds, clamped to [0, maxTat/2].
// Without an injected clock it is one read of the monotonic clock
// (time.Since of a monotonic time reads nothing else).
func (s *MemoryStore) now() int64 {
	var d time.Duration
	if s.clock != nil {
		d = s.clock()
	} else {
		d = time.Since(s.start)
	}
	return min(max(int64(d), 0), maxTat/2)
}

// hash returns the bucket hash of (key, class): the key's seeded 64-bit
// hash combined with a 64-bit FNV-1a digest of the class name. Class names
// are configuration, not input, and the key hash is seeded, so two
// distinct pairs collide with probability about 2^-64 (for different
// classes the two key hashes would have to differ by exactly the
// difference of the class digests). One seeded hash per decision instead
// of two. It is never 0 (the empty slot).
func (s *MemoryStore) hash(class, key string) uint64 {
	c := uint64(14695981039346656037)
	for i := 0; i < len(class); i++ {
		c ^= uint64(class[i])
		c *= 1099511628211
	}
	h := maphash.String(s.seed, key) ^ c*0x9e3779b97f4a7c15
	if h == 0 {
		h = 1
	}
	return h
}

// packState packs a bucket state into a slot's 64-bit state.
func packState(st bucketState) uint64 { return uint64(st.tat)<<denyBits | uint64(st.denied) }

// unpackState is the inverse of packState.
func unpackState(v uint64) bucketState {
	return bucketState{tat: int64(v >> denyBits), denied: int64(v & (1<<denyBits - 1))}
}

// tatOf returns the theoretical arrival time of a packed state.
func tatOf(v uint64) int64 { return int64(v >> denyBits) }

// Allow implements Store. It never blocks on anything but one shard lock,
// held for one table probe and a store in place (plus, for a new bucket, an
// insert that may evict up to evictSample entries or double the shard's
// table), and does not allocate except when a shard's table grows.
func (s *MemoryStore) Allow(_ context.Context, key string, class Class, cost int) (Decision, error) {
	ivd, err := class.Check(cost)
	if err != nil {
		return Decision{}, err
	}
	if s.closed.Load() {
		return Decision{}, ErrClosed
	}
	iv := int64(ivd)
	h := s.hash(class.Name, key)
	sh := &s.shards[(h>>56)&s.mask]
	// Reading the clock once, before taking the lock, keeps the critical
	// section short; a caller that waited for the lock decides with a
	// slightly earlier now, which can only admit less and tell a later
	// retry time.
	now := s.now()
	sh.mu.Lock()
	t := &sh.t
	i, ok := t.probe(h)
	if ok {
		d, st := decide(unpackState(t.slots[i].st), now, iv, iv*int64(cost), class.Rate.Burst)
		t.slots[i].st = packState(st)
		sh.mu.Unlock()
		return d, nil
	}
	d, st := decide(bucketState{}, now, iv, iv*int64(cost), class.Rate.Burst)
	if t.n >= s.shardCap {
		sh.evict(h, now)
		i, _ = t.probe(h)
	}
	if t.full() {
		t.grow()
		i, _ = t.probe(h)
	}
	t.insertAt(i, h, packState(st))
	sh.mu.Unlock()
	return d, nil
}

// evict makes room for one insert in a full shard: among up to evictSample
// entries (from the new bucket's home slot on, a pseudo-random place) it
// drops every bucket that has refilled; if none has, it drops the one
// closest to full, which hands that key back at most the tokens it was
// missing. Called with the shard lock held.
func (sh *shard) evict(from uint64, now int64) {
	t := &sh.t
	i := from & t.mask
	var victim uint64
	victimTat := int64(-1)
	dropped := false
	for examined, scanned := 0, 0; examined < evictSample && scanned < len(t.slots); {
		sl := t.slots[i]
		if sl.h != 0 {
			examined++
			tat := tatOf(sl.st)
			if tat <= now {
				// Slot i now holds the next entry of the cluster, if any:
				// examine it without moving on.
				t.deleteAt(int(i))
				dropped = true
				continue
			}
			if !dropped && (victimTat < 0 || tat < victimTat) {
				victim, victimTat = sl.h, tat
			}
		}
		i = (i + 1) & t.mask
		scanned++
	}
	if !dropped && victimTat >= 0 {
		if j, ok := t.probe(victim); ok {
			t.deleteAt(j)
		}
	}
}

// sweep drops refilled buckets among up to batch entries of the shard,
// resuming where the previous sweep of this shard stopped, and visiting at
// most every slot once.
func (sh *shard) sweep(now int64, batch int) {
	sh.mu.Lock()
	t := &sh.t
	i := t.cursor & t.mask
	for examined, scanned := 0, 0; examined < batch && scanned < len(t.slots); {
		if sl := t.slots[i]; sl.h != 0 {
			examined++
			if tatOf(sl.st) <= now {
				t.deleteAt(int(i))
				continue
			}
		}
		i = (i + 1) & t.mask
		scanned++
	}
	t.cursor = i
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
