package killswitch

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
)

// table is an immutable open-addressing hash set of IDs, built once per
// snapshot for the hot path. A lookup hashes the ID with a short, seeded,
// allocation-free hash and probes linearly from there; the table is at most
// half full, so a miss usually ends at the first empty slot. It exists
// because the runtime map's lookup cost dominated Check on the target
// machine (see bench_test.go).
type table struct {
	seed  uint64
	mask  uint64
	slots []slot
}

// slot holds one ID. h is the full hash with the low bit set, so that 0
// marks an empty slot.
type slot struct {
	h  uint64
	id string
	sw *Switch
}

// newTable builds a table holding every entry of m; the zero table when m
// is empty.
func newTable(m map[string]*Switch) table {
	if len(m) == 0 {
		return table{}
	}
	n := uint64(1) << bits.Len64(uint64(2*len(m)-1)) // power of two >= 2*len(m)
	t := table{seed: randomSeed(), mask: n - 1, slots: make([]slot, n)}
	for id, sw := range m {
		h := hashID(t.seed, id)
		i := h & t.mask
		for t.slots[i].h != 0 {
			i = (i + 1) & t.mask
		}
		t.slots[i] = slot{h: h, id: id, sw: sw}
	}
	return t
}

// get returns the switch stored for id, or nil. The zero table holds
// nothing.
func (t *table) get(id string) *Switch {
	if len(t.slots) == 0 {
		return nil
	}
	h := hashID(t.seed, id)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.h == h && s.id == id {
			return s.sw
		}
		if s.h == 0 {
			return nil
		}
	}
}

// randomSeed returns a random hash seed, so that which IDs collide differs
// from table to table and from process to process.
func randomSeed() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return binary.LittleEndian.Uint64(b[:])
}

// wyhash-style constants.
const (
	hashK0 = 0xa0761d6478bd642f
	hashK1 = 0xe7037ed1a0b428db
)

// wymix is the 128-bit multiply-fold of wyhash: the xor of the high and
// low halves of x*y.
func wymix(x, y uint64) uint64 {
	hi, lo := bits.Mul64(x, y)
	return hi ^ lo
}

// r8 reads eight bytes little-endian; the compiler turns it into one load.
func r8(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// r4 reads four bytes little-endian.
func r4(s string) uint64 {
	_ = s[3]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
}

// hashID hashes s in the manner of wyhash (one 128-bit multiply per 16
// bytes, overlapping reads for the tail) and returns it with the low bit
// set. IDs are short, so the common case is a single multiply. It does not allocate.
func hashID(seed uint64, s string) uint64 {
	n := len(s)
	var a, b uint64
	switch {
	case n > 16:
		rest := s
		for len(rest) > 16 {
			seed = wymix(r8(rest)^hashK1, r8(rest[8:])^seed)
			rest = rest[16:]
		}
		a, b = r8(s[n-16:]), r8(s[n-8:])
	case n >= 8:
		a, b = r8(s), r8(s[n-8:])
	case n >= 4:
		a, b = r4(s), r4(s[n-4:])
	case n > 0:
		a = uint64(s[0])<<16 | uint64(s[n>>1])<<8 | uint64(s[n-1])
	}
	return wymix(a^hashK1^uint64(n), b^seed^hashK0) | 1
}
