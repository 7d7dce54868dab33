package requestid

import (
	"crypto/rand"
	"encoding/binary"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestValid checks the well-formedness rule.
func TestValid(t *testing.T) {
	for _, c := range []struct {
		s  string
		ok bool
	}{
		{"req_01HXZ9G7KMV2QX8Y1S5RJW3B7T", true},
		{"req_00000000000000000000000000", true},
		{"req_7ZZZZZZZZZZZZZZZZZZZZZZZZZ", true},
		{"req_8ZZZZZZZZZZZZZZZZZZZZZZZZZ", false}, // overflows 128 bits
		{"req_01hxz9g7kmv2qx8y1s5rjw3b7t", false},
		{"req_01HXZ9G7KMV2QX8Y1S5RJW3B7", false},
		{"req_01HXZ9G7KMV2QX8Y1S5RJW3B7TT", false},
		{"REQ_01HXZ9G7KMV2QX8Y1S5RJW3B7T", false},
		{"req_01HXZ9G7KMV2QX8Y1S5RJW3BIT", false}, // I is not Crockford
		{"req_01HXZ9G7KMV2QX8Y1S5RJW3BOT", false}, // O neither
		{"req_01HXZ9G7KMV2QX8Y1S5RJW3BLT", false}, // L neither
		{"req_01HXZ9G7KMV2QX8Y1S5RJW3B7U", false}, // U neither
		{"req_01HXZ9G7KMV2QX8Y1S5RJW3B\xc3\x84", false},
		{"req_0000000000000000000000000\x00", false},
		{"", false},
	} {
		assert.Equal(t, c.ok, Valid(c.s), "%q", c.s)
	}
	assert.Equal(t, 30, Len)
	assert.True(t, Valid(New()))
}

// TestEncodeIDMatchesULID checks the hand-written encoder against the ulid
// package on random and edge values.
func TestEncodeIDMatchesULID(t *testing.T) {
	vals := [][2]uint64{{0, 0}, {^uint64(0), ^uint64(0)}, {1, 0}, {0, 1}, {1 << 63, 1 << 63}, {1, 1 << 63}}
	for range 1000 {
		var b [16]byte
		_, _ = rand.Read(b[:])
		vals = append(vals, [2]uint64{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])})
	}
	for _, v := range vals {
		var u ulid.ULID
		binary.BigEndian.PutUint64(u[:8], v[0])
		binary.BigEndian.PutUint64(u[8:], v[1])
		var buf [Len]byte
		encodeID(&buf, v[0], v[1])
		require.Equal(t, "req_"+u.String(), string(buf[:]))
		require.True(t, Valid(string(buf[:])))
	}
}

// TestOrdering checks "IDs from one process sort by creation time": the
// ULID timestamp is the creation millisecond, IDs generated one after the
// other sort in that order even within one millisecond (by the nanosecond
// that follows it), and IDs handed from goroutine to goroutine
// (happens-before) keep sorting in creation order.
func TestOrdering(t *testing.T) {
	before := time.Now().UnixMilli()
	seq := make([]string, 10000)
	for i := range seq {
		seq[i] = New()
	}
	after := time.Now().UnixMilli()
	require.True(t, slices.IsSorted(seq))
	require.Len(t, slices.Compact(slices.Clone(seq)), len(seq), "unique")
	sameMs := 0
	for i, id := range seq {
		ms := int64(ulid.MustParseStrict(id[4:]).Time())
		require.GreaterOrEqual(t, ms, before-1) // monotonic-clock ms vs wall clock: allow rounding
		require.LessOrEqual(t, ms, after+1)
		if i > 0 && ms == int64(ulid.MustParseStrict(seq[i-1][4:]).Time()) {
			sameMs++
		}
	}
	require.Positive(t, sameMs, "the test must cover IDs within one millisecond")

	// The 20 bits after the millisecond are the nanosecond within it, and
	// the last 60 bits are random: no two consecutive IDs differ by a small
	// step there (a counter would make the next ID guessable).
	for i, id := range seq {
		u := ulid.MustParseStrict(id[4:])
		hi, lo := binary.BigEndian.Uint64(u[:8]), binary.BigEndian.Uint64(u[8:])
		sub := (hi&0xFFFF)<<4 | lo>>60
		require.Less(t, sub, uint64(1e6), "nanosecond within the millisecond")
		if i > 0 {
			p := ulid.MustParseStrict(seq[i-1][4:])
			prev := binary.BigEndian.Uint64(p[8:]) & (1<<60 - 1)
			diff := int64(lo&(1<<60-1)) - int64(prev)
			require.False(t, diff > -1000 && diff < 1000, "random bits of %s follow those of %s", id, seq[i-1])
		}
	}

	// A relay across goroutines: each goroutine makes its ID after the
	// previous one finished (happens-before through the channel), so the
	// creation order is the relay order.
	relay := make([]string, 2000)
	done := make(chan struct{})
	for i := range relay {
		go func() { relay[i] = New(); done <- struct{}{} }()
		<-done
	}
	require.True(t, slices.IsSorted(relay))

	// Concurrent generation: every ID unique, each goroutine's own sequence
	// sorted.
	var wg sync.WaitGroup
	var mu sync.Mutex
	all := map[string]bool{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]string, 2000)
			for i := range mine {
				mine[i] = New()
			}
			assert.True(t, slices.IsSorted(mine))
			mu.Lock()
			defer mu.Unlock()
			for _, id := range mine {
				assert.False(t, all[id], "duplicate %s", id)
				all[id] = true
			}
		}()
	}
	wg.Wait()
	assert.Len(t, all, 8*2000)
}

// TestCoarseClock: with the strictly increasing time bits used where the
// clock is coarse, IDs made one after the other (also across goroutines
// that synchronise) sort in creation order and their time bits never
// repeat, whatever the clock's resolution.
func TestCoarseClock(t *testing.T) {
	now := time.Now()
	g := &idGenerator{startNs: now.UnixNano(), start: now, coarse: true}
	timeBits := func(id string) uint64 {
		u := ulid.MustParseStrict(id[4:])
		return binary.BigEndian.Uint64(u[:8])<<4 | binary.BigEndian.Uint64(u[8:])>>60
	}
	seq := make([]string, 20000)
	for i := range seq {
		seq[i] = g.newID()
	}
	require.True(t, slices.IsSorted(seq))
	for i := 1; i < len(seq); i++ {
		require.Greater(t, timeBits(seq[i]), timeBits(seq[i-1]))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	all := map[uint64]bool{}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				tb := timeBits(g.newID())
				mu.Lock()
				assert.False(t, all[tb], "time bits repeated")
				all[tb] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Len(t, all, 4*2000)
}

// sink keeps a generated ID alive, as a caller does.
var sink string

// TestNewIDGenerator: a fresh generator's clock starts at the wall clock
// and its IDs are well formed; New costs one allocation (the string).
func TestNewIDGenerator(t *testing.T) {
	before := time.Now().UnixMilli()
	g := newIDGenerator()
	id := g.newID()
	require.True(t, Valid(id), id)
	ms := int64(ulid.MustParseStrict(id[4:]).Time())
	assert.GreaterOrEqual(t, ms, before-1)
	assert.LessOrEqual(t, ms, time.Now().UnixMilli()+1)
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { sink = New() }))
	var buf [Len]byte
	assert.Zero(t, testing.AllocsPerRun(100, func() { ids.fill(&buf) }))
}
