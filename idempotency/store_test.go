package idempotency_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/internal/redistest"
)

// stores returns one fresh store of each kind; the Redis ones are on the
// shared test server and on a Redis Cluster, under a prefix of their own.
func stores(t *testing.T) map[string]idempotency.Store {
	t.Helper()
	inst := redistest.Server(t)
	cl := redistest.Cluster(t)
	return map[string]idempotency.Store{
		"memory":        newMemory(t, 0),
		"redis":         newRedis(t, inst.Client(t), inst.Prefix(t)),
		"redis cluster": newRedis(t, cl.Client(t), cl.Prefix(t)),
	}
}

// TestStoreContract runs the Store semantics the Guard relies on
// against both stores.
func TestStoreContract(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			const lease = 10 * time.Second
			rec := idempotency.Record{
				Fingerprint: "sha256:abc",
				Status:      201,
				Header:      http.Header{"Content-Type": {"application/json"}, "Location": {"/v1/x/1"}},
				Body:        []byte(`{"id":1}`),
			}

			lk, err := s.Acquire(ctx, "k1", "owner", "sha256:owner-fp", lease)
			require.NoError(t, err)
			assert.Equal(t, idempotency.Lookup{State: idempotency.Acquired}, lk)

			lk, err = s.Acquire(ctx, "k1", "other", "sha256:other-fp", lease)
			require.NoError(t, err)
			assert.Equal(t, idempotency.Lookup{State: idempotency.InProgress, Fingerprint: "sha256:owner-fp"}, lk,
				"a live lease is not taken over, and reports its owner's fingerprint")

			assert.ErrorIs(t, s.Renew(ctx, "k1", "other", lease), idempotency.ErrLeaseLost)
			// A token that is a prefix of the owner's does not own the lease.
			assert.ErrorIs(t, s.Renew(ctx, "k1", "own", lease), idempotency.ErrLeaseLost)
			assert.ErrorIs(t, s.Complete(ctx, "k1", "own", rec, time.Hour), idempotency.ErrLeaseLost)
			require.NoError(t, s.Release(ctx, "k1", "own"))
			assert.NoError(t, s.Renew(ctx, "k1", "owner", lease))
			assert.ErrorIs(t, s.Complete(ctx, "k1", "other", rec, time.Hour), idempotency.ErrLeaseLost)
			require.NoError(t, s.Release(ctx, "k1", "other"))
			lk, err = s.Acquire(ctx, "k1", "third", "sha256:third-fp", lease)
			require.NoError(t, err)
			assert.Equal(t, idempotency.Lookup{State: idempotency.InProgress, Fingerprint: "sha256:owner-fp"}, lk,
				"neither Complete nor Release by a non-owner touches the lease")

			require.NoError(t, s.Complete(ctx, "k1", "owner", rec, time.Hour))
			lk, err = s.Acquire(ctx, "k1", "fourth", "sha256:fourth-fp", lease)
			require.NoError(t, err)
			assert.Equal(t, idempotency.Lookup{State: idempotency.Completed, Record: &rec}, lk)

			require.NoError(t, s.Release(ctx, "k1", "owner"))
			lk, err = s.Acquire(ctx, "k1", "fifth", "", lease)
			require.NoError(t, err)
			assert.Equal(t, idempotency.Completed, lk.State, "Release never deletes a stored record")
			assert.ErrorIs(t, s.Renew(ctx, "k1", "owner", lease), idempotency.ErrLeaseLost)
			assert.ErrorIs(t, s.Complete(ctx, "k1", "owner", rec, time.Hour), idempotency.ErrLeaseLost)

			// An empty fingerprint reads back as unknown.
			_, err = s.Acquire(ctx, "k2", "owner", "", lease)
			require.NoError(t, err)
			lk, err = s.Acquire(ctx, "k2", "other", "sha256:other-fp", lease)
			require.NoError(t, err)
			assert.Equal(t, idempotency.Lookup{State: idempotency.InProgress}, lk)

			// Release by the owner frees the key.
			require.NoError(t, err)
			require.NoError(t, s.Release(ctx, "k2", "owner"))
			lk, err = s.Acquire(ctx, "k2", "next", "", lease)
			require.NoError(t, err)
			assert.Equal(t, idempotency.Acquired, lk.State)

			// Complete on a key nobody holds stores nothing.
			assert.ErrorIs(t, s.Complete(ctx, "k3", "owner", rec, time.Hour), idempotency.ErrLeaseLost)
			lk, err = s.Acquire(ctx, "k3", "owner", "", lease)
			require.NoError(t, err)
			assert.Equal(t, idempotency.Acquired, lk.State)
		})
	}
}

// TestStoreExpiry: a lease that is never released (a crashed server) frees
// the key after its TTL, and a record expires after its TTL.
func TestStoreExpiry(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			_, err := s.Acquire(ctx, "crashed", "dead-owner", "", 150*time.Millisecond)
			require.NoError(t, err)
			lk, err := s.Acquire(ctx, "crashed", "next", "", time.Second)
			require.NoError(t, err)
			require.Equal(t, idempotency.InProgress, lk.State)
			require.Eventually(t, func() bool {
				lk, err := s.Acquire(ctx, "crashed", "next", "", time.Second)
				return err == nil && lk.State == idempotency.Acquired
			}, 5*time.Second, 20*time.Millisecond)
			assert.ErrorIs(t, s.Renew(ctx, "crashed", "dead-owner", time.Second), idempotency.ErrLeaseLost,
				"the crashed owner can't renew a lease taken over")

			_, err = s.Acquire(ctx, "rec", "owner", "", time.Second)
			require.NoError(t, err)
			require.NoError(t, s.Complete(ctx, "rec", "owner", idempotency.Record{Fingerprint: "sha256:x", Status: 200}, 150*time.Millisecond))
			require.Eventually(t, func() bool {
				lk, err := s.Acquire(ctx, "rec", "again", "", time.Second)
				return err == nil && lk.State == idempotency.Acquired
			}, 5*time.Second, 20*time.Millisecond)
		})
	}
}

// TestStoreRenewKeepsLease: a renewed lease outlives its original TTL, and
// one left alone expires. Time is injected: the memory store's clock
// advances, and on Redis the key's remaining TTL is shortened by the same
// amount (what the passing of time does to it).
func TestStoreRenewKeepsLease(t *testing.T) {
	const lease = 200 * time.Millisecond
	ctx := context.Background()
	type kind struct {
		store  idempotency.Store
		elapse func(t *testing.T, d time.Duration, keys ...string)
	}
	clock := &fakeClock{t: time.Date(2026, 4, 18, 14, 0, 0, 0, time.UTC)}
	mem := newMemory(t, 0)
	idempotency.SetMemoryClock(mem, clock.now)
	inst := redistest.Server(t)
	client, prefix := inst.Client(t), inst.Prefix(t)
	kinds := map[string]kind{
		"memory": {mem, func(_ *testing.T, d time.Duration, _ ...string) { clock.advance(d) }},
		"redis": {newRedis(t, client, prefix), func(t *testing.T, d time.Duration, keys ...string) {
			for _, key := range keys {
				pttl, err := client.PTTL(ctx, prefix+key).Result()
				require.NoError(t, err)
				if pttl <= d {
					require.NoError(t, client.Del(ctx, prefix+key).Err())
					continue
				}
				require.NoError(t, client.PExpire(ctx, prefix+key, pttl-d).Err())
			}
		}},
	}
	for name, k := range kinds {
		t.Run(name, func(t *testing.T) {
			s := k.store
			_, err := s.Acquire(ctx, "slow", "owner", "", lease)
			require.NoError(t, err)
			_, err = s.Acquire(ctx, "idle", "owner", "", lease)
			require.NoError(t, err)
			for range 12 { // three lease lifetimes
				k.elapse(t, lease/4, "slow", "idle")
				require.NoError(t, s.Renew(ctx, "slow", "owner", lease))
				lk, err := s.Acquire(ctx, "slow", "intruder", "", lease)
				require.NoError(t, err)
				require.Equal(t, idempotency.InProgress, lk.State)
			}
			lk, err := s.Acquire(ctx, "idle", "next", "", lease)
			require.NoError(t, err)
			assert.Equal(t, idempotency.Acquired, lk.State, "the lease that was not renewed expired")
			assert.ErrorIs(t, s.Renew(ctx, "idle", "owner", lease), idempotency.ErrLeaseLost)
		})
	}
}
