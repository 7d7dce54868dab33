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

// newTable builds a table holding every entry of m; nil when m is empty.
func newTable(m map[string]*Switch) *table {
	if len(m) == 0 {
		return nil
	}
	n := uint64(1) << bits.Len64(uint64(2*len(m)-1)) // power of two >= 2*len(m)
	t := &table{seed: randomSeed(), mask: n - 1, slots: make([]slot, n)}
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

// get returns the switch stored for id, or nil.
func (t *table) get(id string) *Switch {
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

const (
	hashMul1 = 0x9E3779B97F4A7C15
	hashMul2 = 0xBF58476D1CE4E5B9
	hashMul3 = 0x94D049BB133111EB
)

// hashID hashes s eight bytes at a time (splitmix64-style mixing of each
// word into the state) and returns it with the low bit set. It does not
// allocate.
func hashID(seed uint64, s string) uint64 {
	h := seed ^ (uint64(len(s)) * hashMul1)
	for len(s) >= 8 {
		w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = bits.RotateLeft64((h^w)*hashMul2, 31) * hashMul1
		s = s[8:]
	}
	if len(s) > 0 {
		var w uint64
		for i := 0; i < len(s); i++ {
			w |= uint64(s[i]) << (8 * i)
		}
		h = bits.RotateLeft64((h^w)*hashMul2, 31) * hashMul1
	}
	h ^= h >> 30
	h *= hashMul2
	h ^= h >> 27
	h *= hashMul3
	h ^= h >> 31
	return h | 1
}
