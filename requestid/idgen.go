package requestid

import (
	mrand "math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
)

// prefix starts every request ID.
const prefix = "req_"

// Len is the length of every request ID: "req_" and a 26-character ULID.
const Len = len(prefix) + ulid.EncodedSize

// idGenerator makes the ULIDs of request IDs without a lock and, where the
// monotonic clock has nanosecond resolution (Linux), without a shared write.
//
// Layout of the 128 bits: the 48-bit Unix millisecond timestamp ULID
// requires, then the 20-bit nanosecond within that millisecond (0-999999),
// then 60 random bits. The time comes from the monotonic clock (wall-clock
// time at process start plus the monotonic time elapsed since), so it never
// goes backwards when the wall clock is stepped, and the 68 time bits make
// the IDs sort by creation time to the nanosecond.
//
// Ordering guarantee: if generating ID a finishes before generating ID b
// starts (in the happens-before sense: the same goroutine, or synchronised
// goroutines), then a < b, both as 128-bit values and as strings. With a
// nanosecond clock that holds because the clock always advances between the
// two reads (a read takes longer than a nanosecond). Where the clock is
// coarser (newIDGenerator measures it: two consecutive reads can be equal,
// as on macOS), the time bits are also made strictly increasing through one
// atomic maximum, so the guarantee holds there too. Two calls that overlap
// in time may come out in either order, which is consistent with some order
// of creation.
//
// Uniqueness: two IDs collide only if they share the nanosecond and 60
// random bits (and never with a coarse clock, whose time bits are distinct).
// The random bits come from math/rand/v2's global source, the runtime's
// per-thread ChaCha8 generator seeded from the operating system, so IDs are
// also not guessable from one another (a counter would be).
//
// With a nanosecond clock nothing is written to shared memory: no mutex, no
// atomic, no shared entropy reader, no allocation.
type idGenerator struct {
	startNs int64     // Unix nanoseconds at start
	start   time.Time // carries the monotonic clock reading
	coarse  bool      // consecutive clock reads can be equal: use last
	_       [64]byte  // keep last on its own cache line
	last    atomic.Int64
}

// newIDGenerator returns a generator whose clock starts now.
func newIDGenerator() *idGenerator {
	now := time.Now()
	return &idGenerator{startNs: now.UnixNano(), start: now, coarse: clockIsCoarse()}
}

// clockIsCoarse reports whether two consecutive reads of the monotonic
// clock can return the same time.
func clockIsCoarse() bool {
	start := time.Now()
	prev := time.Since(start)
	for range 1000 {
		d := time.Since(start)
		if d <= prev {
			return true
		}
		prev = d
	}
	return false
}

// now returns the Unix time in nanoseconds for the next ID: the monotonic
// clock, made strictly increasing across the process when it is coarse.
func (g *idGenerator) now() int64 {
	ns := g.startNs + int64(time.Since(g.start))
	if !g.coarse {
		return ns
	}
	for {
		last := g.last.Load()
		t := max(ns, last+1)
		if g.last.CompareAndSwap(last, t) {
			return t
		}
	}
}

// next returns the two halves of a fresh ULID: hi is the 48-bit
// millisecond timestamp and the top 16 bits of the nanosecond within it, lo
// its low 4 bits and 60 random bits.
func (g *idGenerator) next() (hi, lo uint64) {
	ns := uint64(g.now())
	ms, sub := ns/1e6, ns%1e6 // sub < 2^20
	return ms<<16 | sub>>4, (sub&0xF)<<60 | mrand.Uint64()>>4
}

// fill writes "req_" and the 26-character Crockford base32 encoding of a
// fresh ULID into dst.
func (g *idGenerator) fill(dst *[Len]byte) {
	hi, lo := g.next()
	encodeID(dst, hi, lo)
}

// encodeID writes "req_" and the ULID encoding of the 128-bit value hi:lo
// (the same characters as ulid.ULID.MarshalTextTo) into dst: the value is
// read as 130 bits with two leading zero bits, 5 bits per character.
func encodeID(dst *[Len]byte, hi, lo uint64) {
	const enc = ulid.Encoding
	dst[0], dst[1], dst[2], dst[3] = 'r', 'e', 'q', '_'
	d := dst[4:30:30]
	d[0] = enc[hi>>61]
	d[1] = enc[(hi>>56)&31]
	d[2] = enc[(hi>>51)&31]
	d[3] = enc[(hi>>46)&31]
	d[4] = enc[(hi>>41)&31]
	d[5] = enc[(hi>>36)&31]
	d[6] = enc[(hi>>31)&31]
	d[7] = enc[(hi>>26)&31]
	d[8] = enc[(hi>>21)&31]
	d[9] = enc[(hi>>16)&31]
	d[10] = enc[(hi>>11)&31]
	d[11] = enc[(hi>>6)&31]
	d[12] = enc[(hi>>1)&31]
	d[13] = enc[(hi&1)<<4|lo>>60]
	d[14] = enc[(lo>>55)&31]
	d[15] = enc[(lo>>50)&31]
	d[16] = enc[(lo>>45)&31]
	d[17] = enc[(lo>>40)&31]
	d[18] = enc[(lo>>35)&31]
	d[19] = enc[(lo>>30)&31]
	d[20] = enc[(lo>>25)&31]
	d[21] = enc[(lo>>20)&31]
	d[22] = enc[(lo>>15)&31]
	d[23] = enc[(lo>>10)&31]
	d[24] = enc[(lo>>5)&31]
	d[25] = enc[lo&31]
}

// newID returns a fresh request ID: one allocation, the string itself.
func (g *idGenerator) newID() string {
	var buf [Len]byte
	g.fill(&buf)
	return string(buf[:])
}

// ids is the process-wide request ID generator.
var ids = newIDGenerator()

// New returns a fresh request ID, req_<ULID>: "req_" followed by 26
// uppercase Crockford base32 characters. IDs from one process sort by
// creation time (see the package documentation for the exact guarantee) and
// are unique; generating one takes no lock.
func New() string { return ids.newID() }

// Valid reports whether s is a well-formed request ID: exactly "req_"
// followed by 26 uppercase Crockford base32 characters whose value fits in
// 128 bits (the first character is 0-7).
func Valid(s string) bool {
	if len(s) != Len || s[:len(prefix)] != prefix {
		return false
	}
	if s[len(prefix)] > '7' {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
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
