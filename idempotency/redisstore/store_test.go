package redisstore

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/internal/redistest"
)

// newStore is New on the test server under a prefix of its own.
func newStore(t *testing.T) (*Store, *redis.Client, string) {
	t.Helper()
	inst := redistest.Server(t)
	client := inst.Client(t)
	prefix := inst.Prefix(t)
	s, err := New(client, Config{Prefix: prefix, Logger: discard})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, client, prefix
}

// discard drops the store's log lines in tests about other things.
var discard = slog.New(slog.DiscardHandler)

// TestNew: a nil client, also a typed nil in the interface, is an error at
// construction, never a panic on the first request; an empty prefix is
// DefaultPrefix.
func TestNew(t *testing.T) {
	var nilClient *redis.Client
	var nilCluster *redis.ClusterClient
	var nilRing *redis.Ring
	for name, c := range map[string]redis.UniversalClient{
		"nil":               nil,
		"typed nil client":  nilClient,
		"typed nil cluster": nilCluster,
		"typed nil ring":    nilRing,
	} {
		t.Run(name, func(t *testing.T) {
			var s *Store
			var err error
			require.NotPanics(t, func() { s, err = New(c, Config{}) })
			assert.Nil(t, s)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "nil Redis client")
		})
	}

	noDeadlines := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = noDeadlines.Close() })
	_, err := New(noDeadlines, Config{})
	require.ErrorIs(t, err, ErrContextTimeoutDisabled, "StoreTimeout could not hold on such a client")

	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	s, err := New(client, Config{Logger: discard})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.Equal(t, DefaultPrefix, s.prefix)
	s, err = New(client, Config{Prefix: "svc:idem:", Logger: discard})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	assert.Equal(t, "svc:idem:", s.prefix)
	for _, cfg := range []Config{{Timeout: -1}, {CheckInterval: -1}, {ProbeInterval: -1}} {
		_, err := New(client, cfg)
		assert.Error(t, err, "%+v", cfg)
	}
}

// TestCorruptValue: a value the store did not write is an error, never a
// replay or a second run.
func TestCorruptValue(t *testing.T) {
	s, client, prefix := newStore(t)
	ctx := context.Background()
	for name, v := range map[string]string{
		"untagged":         "garbage",
		"bad json":         "R{not json",
		"wrong version":    `R{"v":2,"f":"sha256:x","s":200}`,
		"non-2xx":          `R{"v":1,"f":"sha256:x","s":500}`,
		"lease without fp": "Ltoken-without-separator",
	} {
		t.Run(name, func(t *testing.T) {
			key := strings.ReplaceAll(name, " ", "-")
			require.NoError(t, client.Set(ctx, prefix+key, v, time.Minute).Err())
			lk, err := s.Acquire(ctx, key, "t", "", time.Second)
			assert.Error(t, err)
			assert.Equal(t, idempotency.Lookup{}, lk)
			got, err := client.Get(ctx, prefix+key).Result()
			require.NoError(t, err)
			assert.Equal(t, v, got, "the value is left alone")
		})
	}
}

// TestLayout pins what the store writes: one key per idempotency key,
// prefix + the Guard's key, holding the lease ("L" + token + "\n" +
// fingerprint) and then the record (versioned JSON) with their TTLs.
func TestLayout(t *testing.T) {
	s, client, prefix := newStore(t)
	ctx := context.Background()
	const skey = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
	lk, err := s.Acquire(ctx, skey, "tok", "sha256:f", 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, idempotency.Acquired, lk.State)
	v, err := client.Get(ctx, prefix+skey).Result()
	require.NoError(t, err)
	assert.Equal(t, "Ltok\nsha256:f", v)
	pttl, err := client.PTTL(ctx, prefix+skey).Result()
	require.NoError(t, err)
	assert.True(t, pttl > 9*time.Second && pttl <= 10*time.Second, "lease TTL %v", pttl)

	require.NoError(t, s.Complete(ctx, skey, "tok", idempotency.Record{Fingerprint: "sha256:f", Status: 201,
		Header: http.Header{"Location": {"/x"}}, Body: []byte("hi")}, time.Minute))
	v, err = client.Get(ctx, prefix+skey).Result()
	require.NoError(t, err)
	assert.Equal(t, `R{"v":1,"f":"sha256:f","s":201,"h":{"Location":["/x"]},"b":"aGk="}`, v)
	ttl, err := client.PTTL(ctx, prefix+skey).Result()
	require.NoError(t, err)
	assert.True(t, ttl > 59*time.Second && ttl <= time.Minute, "record TTL %v", ttl)
	keys, err := client.Keys(ctx, prefix+"*").Result()
	require.NoError(t, err)
	assert.Contains(t, keys, prefix+skey)
	for _, k := range keys {
		if k != prefix+skey {
			assert.True(t, strings.HasPrefix(k, prefix+"marker:{m"), "only the marker besides: %s", k)
		}
	}

	lk, err = s.Acquire(ctx, skey, "other", "sha256:g", time.Second)
	require.NoError(t, err)
	assert.Equal(t, idempotency.Lookup{State: idempotency.Completed, Record: &idempotency.Record{
		Fingerprint: "sha256:f", Status: 201, Header: http.Header{"Location": {"/x"}}, Body: []byte("hi"),
	}}, lk)
}

// TestSubMillisecondTTL: a TTL under a millisecond is sent as 1 ms (Redis
// refuses PX 0).
func TestSubMillisecondTTL(t *testing.T) {
	assert.Equal(t, "1", millis(time.Microsecond))
	assert.Equal(t, "1", millis(0))
	assert.Equal(t, "1500", millis(1500*time.Millisecond))
	s, _, _ := newStore(t)
	lk, err := s.Acquire(context.Background(), "k", "tok", "", time.Microsecond)
	require.NoError(t, err)
	assert.Equal(t, idempotency.Acquired, lk.State)
}

// TestTokenNewline: an owner token with a newline would make the token part
// of a lease value ambiguous; every method refuses it.
func TestTokenNewline(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	_, err := s.Acquire(ctx, "k", "a\nb", "sha256:f", time.Second)
	assert.ErrorIs(t, err, errTokenNewline)
	assert.ErrorIs(t, s.Renew(ctx, "k", "a\nb", time.Second), errTokenNewline)
	assert.ErrorIs(t, s.Complete(ctx, "k", "a\nb", idempotency.Record{Status: 200}, time.Second), errTokenNewline)
	assert.ErrorIs(t, s.Release(ctx, "k", "a\nb"), errTokenNewline)
	lk, err := s.Acquire(ctx, "k", "a", "sha256:f", time.Second)
	require.NoError(t, err)
	assert.Equal(t, idempotency.Acquired, lk.State, "nothing was written")
}

// TestRedisErrors: a failing Redis is reported as an error of the
// operation, wrapping the client's error, for every method.
func TestRedisErrors(t *testing.T) {
	inst := redistest.Private(t)
	client := redis.NewClient(&redis.Options{Addr: inst.Addr(), MaxRetries: -1, DialTimeout: time.Second, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	s, err := New(client, Config{Prefix: inst.Prefix(t), Logger: discard, FailAfter: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	inst.Stop(t)
	ctx := context.Background()
	_, err = s.Acquire(ctx, "k", "t", "", time.Second)
	assert.ErrorContains(t, err, "idempotency/redisstore: acquire")
	assert.ErrorContains(t, s.Renew(ctx, "k", "t", time.Second), "idempotency/redisstore: renew")
	assert.ErrorContains(t, s.Complete(ctx, "k", "t", idempotency.Record{Status: 200}, time.Second), "idempotency/redisstore: complete")
	assert.ErrorContains(t, s.Release(ctx, "k", "t"), "idempotency/redisstore: release")
	for _, err := range []error{s.Renew(ctx, "k", "t", time.Second), s.Release(ctx, "k", "t")} {
		assert.NotErrorIs(t, err, idempotency.ErrLeaseLost, "an outage is not a lost lease")
	}
}
