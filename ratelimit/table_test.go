package ratelimit

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTableMatchesMap applies random inserts, updates and deletions to a
// table and to a Go map and checks after every step that they hold the
// same entries, that every entry is reachable from its home slot, and that
// the load factor stays at most 3/4. Hashes are drawn from a small range
// so that clusters, wrap-around and backward shifts are frequent.
func TestTableMatchesMap(t *testing.T) {
	for _, hashRange := range []uint64{24, 200, 1 << 40} {
		rng := rand.New(rand.NewPCG(1, hashRange))
		tb := newTable()
		ref := map[uint64]uint64{}
		for step := range 20_000 {
			h := 1 + rng.Uint64N(hashRange)
			switch i, ok := tb.probe(h); {
			case ok && rng.IntN(2) == 0:
				tb.deleteAt(i)
				delete(ref, h)
			case ok:
				tb.slots[i].st = uint64(step)
				ref[h] = uint64(step)
			case len(ref) < 1000:
				if tb.full() {
					tb.grow()
					i, _ = tb.probe(h)
				}
				tb.insertAt(i, h, uint64(step))
				ref[h] = uint64(step)
			}
			require.Equal(t, len(ref), tb.n, "step %d", step)
			require.LessOrEqual(t, tb.n*4, len(tb.slots)*3, "load factor above 3/4 at step %d", step)
			if step%97 == 0 || hashRange < 100 {
				got := map[uint64]uint64{}
				for _, s := range tb.slots {
					if s.h != 0 {
						got[s.h] = s.st
					}
				}
				require.Equal(t, ref, got, "step %d", step)
				for h, v := range ref {
					i, ok := tb.probe(h)
					require.True(t, ok, "entry %d unreachable at step %d", h, step)
					require.Equal(t, v, tb.slots[i].st)
				}
			}
		}
	}
}

// TestShardPadding: a shard is 128 bytes, so neighbouring shards' fields
// never share a cache line.
func TestShardPadding(t *testing.T) {
	assert.Equal(t, uintptr(128), unsafe.Sizeof(shard{}))
}
