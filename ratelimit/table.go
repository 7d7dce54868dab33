package ratelimit

// slot is one bucket of a table: the 64-bit hash of (class, key), 0 for an
// empty slot, and the bucket's packed state (see packState). Sixteen bytes,
// four to a cache line, no pointer: the garbage collector never scans a
// table.
type slot struct {
	h  uint64
	st uint64
}

// minTableSlots is the initial size of a shard's table.
const minTableSlots = 16

// table is an open-addressing hash table with linear probing from hash
// to packed bucket state. It stores the hash itself as the key (a 64-bit
// hash is the bucket's identity; see MemoryStore), so a lookup touches one
// cache line in the common case and an update is a store in place.
// Deletion shifts the following entries of the cluster back (no
// tombstones), so probe sequences never lengthen over time. The load
// factor stays at most 3/4. A table is not safe for concurrent use: its
// shard's mutex guards it.
type table struct {
	slots []slot
	mask  uint64
	n     int
	// cursor is where the next sweep resumes.
	cursor uint64
}

// newTable returns an empty table of minTableSlots slots.
func newTable() table {
	return table{slots: make([]slot, minTableSlots), mask: minTableSlots - 1}
}

// probe returns the index of h if present (found true), else the index of
// the empty slot where h would be inserted.
func (t *table) probe(h uint64) (int, bool) {
	i := h & t.mask
	for {
		sh := t.slots[i].h
		if sh == h {
			return int(i), true
		}
		if sh == 0 {
			return int(i), false
		}
		i = (i + 1) & t.mask
	}
}

// full reports whether one more insert would push the load factor above
// 3/4.
func (t *table) full() bool {
	return (t.n+1)*4 > len(t.slots)*3
}

// insertAt stores (h, st) in the empty slot i returned by probe.
func (t *table) insertAt(i int, h, st uint64) {
	t.slots[i] = slot{h: h, st: st}
	t.n++
}

// grow doubles the table, rehashing every entry.
func (t *table) grow() {
	old := t.slots
	t.slots = make([]slot, 2*len(old))
	t.mask = uint64(len(t.slots) - 1)
	for _, s := range old {
		if s.h == 0 {
			continue
		}
		i := s.h & t.mask
		for t.slots[i].h != 0 {
			i = (i + 1) & t.mask
		}
		t.slots[i] = s
	}
	t.cursor &= t.mask
}

// deleteAt removes the entry in slot i (which must be occupied) and shifts
// back the entries after it in its cluster that would otherwise become
// unreachable, so that no tombstone is needed. Afterwards slot i holds
// either the next entry of the cluster or nothing.
func (t *table) deleteAt(i int) {
	hole := uint64(i)
	j := hole
	for {
		j = (j + 1) & t.mask
		h := t.slots[j].h
		if h == 0 {
			break
		}
		home := h & t.mask
		// The entry at j may move into the hole unless its home lies
		// cyclically in (hole, j].
		if (j > hole && (home <= hole || home > j)) || (j < hole && home <= hole && home > j) {
			t.slots[hole] = t.slots[j]
			hole = j
		}
	}
	t.slots[hole] = slot{}
	t.n--
}
