package middleware

import (
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
)

// requestIDPrefix starts every request ID.
const requestIDPrefix = "req_"

// requestIDLen is the length of a request ID: "req_" and a 26-character ULID.
const requestIDLen = len(requestIDPrefix) + ulid.EncodedSize

// idGenerator makes the ULIDs of request IDs without a lock.
//
// Layout of the 128 bits: the 48-bit Unix millisecond timestamp ULID
// requires, then 16 random bits drawn once per process (the salt), then a
// 64-bit counter that starts at a random value below 2^63 and is incremented
// atomically for every ID. The timestamp comes from the monotonic clock
// (wall-clock time at process start plus the monotonic time elapsed since),
// so it never goes backwards when the wall clock is stepped.
//
// Ordering guarantee: if generating ID a finishes before generating ID b
// starts (in the happens-before sense: the same goroutine, or synchronised
// goroutines), then a < b, both as 128-bit values and as strings. Within one
// millisecond, IDs are ordered by the counter, which is a single
// linearizable sequence for the whole process, so "sorts by creation time"
// holds below millisecond granularity too, not only between milliseconds.
// Two calls that overlap in time may come out in either order, which is
// consistent with some order of creation.
//
// Uniqueness: within a process every ID has a distinct counter value (2^63
// IDs before the counter could wrap). Across processes two IDs collide only
// if they share the millisecond, the 16-bit salt and the 64-bit counter value,
// all three drawn independently.
//
// The only shared write is one atomic add on the counter: no mutex, no
// shared entropy reader, no allocation.
type idGenerator struct {
	startMs int64     // Unix milliseconds at start
	start   time.Time // carries the monotonic clock reading
	salt    [2]byte
	_       [64]byte // keep the counter on its own cache line
	seq     atomic.Uint64
	_       [56]byte
}

// newIDGenerator returns a generator seeded from crypto/rand.
func newIDGenerator() *idGenerator {
	var seed [10]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails (Go 1.24+)
	now := time.Now()
	g := &idGenerator{startMs: now.UnixMilli(), start: now}
	copy(g.salt[:], seed[:2])
	g.seq.Store(binary.BigEndian.Uint64(seed[2:]) >> 1)
	return g
}

// next returns a fresh ULID.
func (g *idGenerator) next() ulid.ULID {
	seq := g.seq.Add(1)
	ms := uint64(g.startMs + time.Since(g.start).Milliseconds())
	var id ulid.ULID
	id[0] = byte(ms >> 40)
	id[1] = byte(ms >> 32)
	id[2] = byte(ms >> 24)
	id[3] = byte(ms >> 16)
	id[4] = byte(ms >> 8)
	id[5] = byte(ms)
	id[6] = g.salt[0]
	id[7] = g.salt[1]
	binary.BigEndian.PutUint64(id[8:], seq)
	return id
}

// appendID writes "req_" and the 26-character encoding of a fresh ULID into
// dst.
func (g *idGenerator) fill(dst *[requestIDLen]byte) {
	copy(dst[:], requestIDPrefix)
	_ = g.next().MarshalTextTo(dst[len(requestIDPrefix):]) // never fails: dst has room
}

// newID returns a fresh request ID: one allocation, the string itself.
func (g *idGenerator) newID() string {
	var buf [requestIDLen]byte
	g.fill(&buf)
	return string(buf[:])
}

// ids is the process-wide request ID generator.
var ids = newIDGenerator()

// NewRequestID returns a fresh request ID, req_<ULID>: "req_" followed by 26
// uppercase Crockford base32 characters. IDs from one process sort by
// creation time (see the package documentation for the exact guarantee) and
// are unique; generating one takes no lock.
func NewRequestID() string { return ids.newID() }

// ValidRequestID reports whether s is a well-formed request ID: exactly
// "req_" followed by 26 uppercase Crockford base32 characters whose value
// fits in 128 bits (the first character is 0-7).
func ValidRequestID(s string) bool {
	if len(s) != requestIDLen || s[:len(requestIDPrefix)] != requestIDPrefix {
		return false
	}
	if s[len(requestIDPrefix)] > '7' {
		return false
	}
	for i := len(requestIDPrefix); i < len(s); i++ {
		if !crockford[s[i]] {
			return false
		}
	}
	return true
}

// crockford marks the bytes of the uppercase Crockford base32 alphabet.
var crockford = func() (t [256]bool) {
	for i := 0; i < len(ulid.Encoding); i++ {
		t[ulid.Encoding[i]] = true
	}
	return t
}()
