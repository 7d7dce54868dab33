package idempotency

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a settable time source for MemoryStore.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newMemoryWithClock(max int) (*MemoryStore, *fakeClock) {
	clk := &fakeClock{t: time.Date(2026, 4, 18, 14, 0, 0, 0, time.UTC)}
	s, err := NewMemoryStore(MemoryConfig{MaxEntries: max})
	if err != nil {
		panic(err) // max >= 0
	}
	s.now = clk.now
	return s, clk
}

func TestMemoryStoreBounded(t *testing.T) {
	ctx := context.Background()
	s, clk := newMemoryWithClock(3)
	rec := Record{Fingerprint: "sha256:f", Status: 200}
	acquire := func(key string) (State, error) {
		lk, err := s.Acquire(ctx, key, "o", "", time.Minute)
		return lk.State, err
	}
	for i := range 3 {
		st, err := acquire(fmt.Sprint("k", i))
		require.NoError(t, err)
		require.Equal(t, Acquired, st)
	}
	_, err := acquire("k3")
	assert.ErrorIs(t, err, ErrStoreFull, "live leases are never evicted")
	assert.Equal(t, 3, s.Len())

	// Stored responses are evicted oldest first to make room.
	require.NoError(t, s.Complete(ctx, "k0", "o", rec, time.Hour))
	require.NoError(t, s.Complete(ctx, "k1", "o", rec, time.Hour))
	st, err := acquire("k3")
	require.NoError(t, err)
	assert.Equal(t, Acquired, st)
	assert.Equal(t, 3, s.Len())
	lk, err := s.Acquire(ctx, "k1", "p", "", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, Completed, lk.State, "the newer record k1 is kept")

	// k0 was evicted: it gets room by evicting the last record, k1.
	st, err = acquire("k0")
	require.NoError(t, err)
	assert.Equal(t, Acquired, st)
	// Now all three entries (k2, k3, k0) are live leases.
	_, err = acquire("k4")
	assert.ErrorIs(t, err, ErrStoreFull)
	assert.Equal(t, 3, s.Len())

	// Expired leases (crashed owners) make room.
	clk.advance(time.Minute)
	st, err = acquire("k4")
	require.NoError(t, err)
	assert.Equal(t, Acquired, st)
	assert.Equal(t, 3, s.Len())
	st, err = acquire("k3")
	require.NoError(t, err)
	assert.Equal(t, Acquired, st, "k3's expired lease is dropped when met")
	assert.Equal(t, 3, s.Len())
}

func TestMemoryStoreExpiryClock(t *testing.T) {
	ctx := context.Background()
	s, clk := newMemoryWithClock(0)
	_, err := s.Acquire(ctx, "k", "o", "", 10*time.Second)
	require.NoError(t, err)
	clk.advance(10*time.Second - time.Nanosecond)
	lk, err := s.Acquire(ctx, "k", "p", "", 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, InProgress, lk.State)
	clk.advance(time.Nanosecond)
	lk, err = s.Acquire(ctx, "k", "p", "", 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, Acquired, lk.State, "the lease expires exactly after its TTL")
	assert.ErrorIs(t, s.Complete(ctx, "k", "o", Record{Status: 200}, time.Hour), ErrLeaseLost)

	require.NoError(t, s.Complete(ctx, "k", "p", Record{Status: 200}, 24*time.Hour))
	clk.advance(24*time.Hour - time.Second)
	lk, err = s.Acquire(ctx, "k", "q", "", time.Second)
	require.NoError(t, err)
	assert.Equal(t, Completed, lk.State)
	clk.advance(time.Second)
	lk, err = s.Acquire(ctx, "k", "q", "", time.Second)
	require.NoError(t, err)
	assert.Equal(t, Acquired, lk.State)
	assert.Equal(t, 1, s.Len())
}

func TestMemoryStoreCopiesRecords(t *testing.T) {
	ctx := context.Background()
	s, err := NewMemoryStore(MemoryConfig{})
	require.NoError(t, err)
	rec := Record{Fingerprint: "sha256:f", Status: 201, Header: map[string][]string{"Location": {"/a"}}, Body: []byte("body")}
	_, err = s.Acquire(ctx, "k", "o", "", time.Minute)
	require.NoError(t, err)
	require.NoError(t, s.Complete(ctx, "k", "o", rec, time.Hour))
	rec.Body[0] = 'X'
	rec.Header["Location"][0] = "/changed"
	lk, err := s.Acquire(ctx, "k", "p", "", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, "body", string(lk.Record.Body))
	assert.Equal(t, "/a", lk.Record.Header.Get("Location"))
	lk.Record.Body[0] = 'Y'
	lk2, err := s.Acquire(ctx, "k", "p", "", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, "body", string(lk2.Record.Body))
}
