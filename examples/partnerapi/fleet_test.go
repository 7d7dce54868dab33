package main

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/internal/redistest"
)

// TestFleet runs two instances on one real Redis: they share the rate
// limit, a kill switch flipped on one is enforced by the other within a
// second, and an idempotent request sent to one replays on the other. It
// runs a fleet of each framework, and mixed fleets: echo4 and echo5 (a
// service in the middle of its move from echo v4 to v5, one instance at a
// time), echo4 and nethttp, echo5 and nethttp. The frameworks report the
// same route templates and the adapters call the same core on the same
// stores, so they share buckets, kill switches and idempotency records.
func TestFleet(t *testing.T) {
	inst := redistest.Server(t)
	redis := func(t *testing.T) Config { return Config{RedisURL: inst.URL(), RedisPrefix: inst.Prefix(t)} }
	type fleet struct{ a, b string }
	fleets := []fleet{{"echo4", "echo5"}, {"echo4", "nethttp"}, {"echo5", "nethttp"}}
	for _, fw := range testFrameworks {
		fleets = append(fleets, fleet{fw, fw})
	}
	for _, f := range fleets {
		name := f.a
		if f.b != f.a {
			name = f.a + "+" + f.b
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testFleet(t, redis(t), f.a, f.b)
		})
	}
}

// TestFleetCluster runs the fleet test on a real three-master Redis
// Cluster (-redis-cluster): shared buckets, kill switches through pub/sub
// on a cluster, idempotent replays and the failed-authentication budget,
// on a mixed fleet and on a fleet of one framework.
func TestFleetCluster(t *testing.T) {
	cluster := redistest.Cluster(t)
	waitClusterPubSub(t, cluster.Addrs())
	for _, f := range []struct{ a, b string }{{"echo4", "nethttp"}, {"echo5", "echo5"}} {
		t.Run(f.a+"+"+f.b, func(t *testing.T) {
			t.Parallel()
			testFleet(t, Config{RedisClusterAddrs: cluster.Addrs(), RedisPrefix: cluster.Prefix(t)}, f.a, f.b)
		})
	}
}

// testFleet runs instance A on framework fa and B on fb, on the Redis (or
// Redis Cluster) and prefix of store.
func testFleet(t *testing.T, store Config, fa, fb string) {
	cfg := Config{
		RedisURL:          store.RedisURL,
		RedisClusterAddrs: store.RedisClusterAddrs,
		RedisPrefix:       store.RedisPrefix,
		ReadRate:          rateOf(0.01, 4),
		WriteRate:         rateOf(1e6, 1e6),
		AuthFailureRate:   rateOf(0.001, 4),
		TrustedProxies:    loopbackProxy,
		// Only pub/sub can meet the 1 s bound: the resync is far slower.
		KillSwitchResync: time.Minute,
	}
	a, b := startServer(t, fa, cfg), startServer(t, fb, cfg)

	t.Run("shared rate limit", func(t *testing.T) {
		for i, s := range []*testServer{a, b, a, b} {
			resp := s.do(t, request{method: "GET", path: "/v1/whoami", key: keyFull})
			require.Equal(t, 200, resp.status, "request %d", i)
		}
		requireError(t, a.do(t, request{method: "GET", path: "/v1/whoami", key: keyFull}), 429, "RATE_LIMITED")
		limited := b.do(t, request{method: "GET", path: "/v1/whoami", key: keyFull})
		requireError(t, limited, 429, "RATE_LIMITED")
		require.NotEmpty(t, limited.header.Get("Retry-After"))
		require.Equal(t, 200, b.do(t, request{method: "GET", path: "/v1/whoami", key: keyOther}).status)
	})

	t.Run("burst spent on A, denied on B", func(t *testing.T) {
		// key_broke's whole read burst, on A alone: B has no tokens left
		// for it either, and says so in the same RateLimit header.
		for i := range 4 {
			resp := a.do(t, request{method: "GET", path: "/v1/whoami", key: keyBroke})
			require.Equal(t, 200, resp.status, "request %d", i)
		}
		onA := a.do(t, request{method: "GET", path: "/v1/whoami", key: keyBroke})
		requireError(t, onA, 429, "RATE_LIMITED")
		onB := b.do(t, request{method: "GET", path: "/v1/whoami", key: keyBroke})
		requireError(t, onB, 429, "RATE_LIMITED")
		require.Regexp(t, `^"read";r=0;t=\d+$`, onB.header.Get("RateLimit"))
		require.Equal(t, onA.header.Get("RateLimit-Policy"), onB.header.Get("RateLimit-Policy"))
		require.NotEmpty(t, onB.header.Get("Retry-After"))
	})

	t.Run("kill switch flipped on A, enforced by B", func(t *testing.T) {
		whoami := request{method: "GET", path: "/v1/whoami", key: keyReadonly}
		require.Equal(t, 200, b.do(t, whoami).status)

		require.Equal(t, 200, admin(t, a.URL, "PUT", "/organization/org_demo", adminToken).status)
		took, ok := waitFor(t, time.Second, func() bool { return b.do(t, whoami).status == 503 })
		require.True(t, ok, "B did not enforce A's switch within 1s")
		t.Logf("B enforced the switch after %v", took)
		requireSwitched(t, b.do(t, whoami), "organization")
		require.Equal(t, 200, b.do(t, request{method: "GET", path: "/v1/whoami", key: keyOther}).status)

		// B's operator API sees A's switch and lifts it for the fleet.
		require.Contains(t, string(admin(t, b.URL, "GET", "", adminToken).body), `"id":"org_demo"`)
		require.Equal(t, 204, admin(t, b.URL, "DELETE", "/organization/org_demo", adminToken).status)
		_, ok = waitFor(t, time.Second, func() bool { return a.do(t, whoami).status == 200 })
		require.True(t, ok, "A did not lift B's switch within 1s")

		require.Equal(t, 200, admin(t, b.URL, "PUT", "/global", adminToken).status)
		_, ok = waitFor(t, time.Second, func() bool { return a.do(t, request{method: "GET", path: "/v1/errors"}).status == 503 })
		require.True(t, ok, "A did not enforce B's global switch within 1s")
		requireSwitched(t, a.do(t, request{method: "GET", path: "/v1/whoami"}), "global")
		require.Equal(t, 204, admin(t, a.URL, "DELETE", "/global", adminToken).status)
		_, ok = waitFor(t, time.Second, func() bool { return b.do(t, request{method: "GET", path: "/v1/errors"}).status == 200 })
		require.True(t, ok)
	})

	t.Run("idempotent replay across instances", func(t *testing.T) {
		for _, tt := range []struct {
			name          string
			key           string
			first, second *testServer
		}{
			{"A then B", "fleet-1", a, b},
			{"B then A", "fleet-2", b, a},
		} {
			t.Run(tt.name, func(t *testing.T) {
				send := func(s *testServer, body string) response {
					return s.do(t, request{method: "POST", path: "/v1/projects/prj_auto/content", key: keyFull, body: body,
						header: map[string]string{idempotency.HeaderKey: tt.key}})
				}
				first := send(tt.first, `{"hook":"fleet"}`)
				require.Equal(t, 202, first.status)
				require.Empty(t, first.header.Get(idempotency.HeaderReplayed))
				replayed := send(tt.second, `{"hook":"fleet"}`)
				require.Equal(t, 202, replayed.status)
				require.Equal(t, "true", replayed.header.Get(idempotency.HeaderReplayed))
				require.Equal(t, string(first.body), string(replayed.body))
				require.Equal(t, first.header.Get("Content-Type"), replayed.header.Get("Content-Type"))
				requireError(t, send(tt.second, `{"hook":"other"}`), 409, "IDEMPOTENCY_CONFLICT")
			})
		}
	})

	t.Run("failed authentication budget shared", func(t *testing.T) {
		// Two failures on each instance spend the client's budget of
		// four: its next failure is refused on either, and from then on
		// that instance refuses the client outright.
		guesser := from("203.0.113.50")
		for _, s := range []*testServer{a, b, a, b} {
			requireError(t, s.do(t, request{method: "GET", path: "/v1/whoami", header: withKey(guesser, "lp_guess")}), 401, "UNAUTHENTICATED")
		}
		for _, s := range []*testServer{a, b} {
			requireThrottled(t, s.do(t, request{method: "GET", path: "/v1/whoami", header: withKey(guesser, "lp_guess")}))
			requireThrottled(t, s.do(t, request{method: "GET", path: "/v1/whoami", header: withKey(guesser, keyFull)}))
		}
		require.Equal(t, 200, b.do(t, request{method: "GET", path: "/v1/whoami", header: withKey(from("198.51.100.50"), keyOther)}).status)
	})
}

// waitClusterPubSub waits until a message published on any node of the
// cluster reaches a subscriber on any other. Redis Cluster broadcasts
// PUBLISH over its bus, whose links to a node can still be coming up when a
// new cluster already reports cluster_state:ok; a notification lost there
// would only arrive with the next resync, and the kill-switch bound of a
// second would fail for the cluster's youth, not for the store.
func waitClusterPubSub(t *testing.T, addrs []string) {
	t.Helper()
	ctx := context.Background()
	for i, sub := range addrs {
		sc := redis.NewClient(&redis.Options{Addr: sub})
		ps := sc.Subscribe(ctx, "redistest:probe")
		_, err := ps.Receive(ctx) // the subscription's confirmation
		require.NoError(t, err)
		for j, pub := range addrs {
			pc := redis.NewClient(&redis.Options{Addr: pub})
			require.Eventually(t, func() bool {
				if pc.Publish(ctx, "redistest:probe", "ping").Err() != nil {
					return false
				}
				m, err := ps.ReceiveTimeout(ctx, 100*time.Millisecond)
				_, isMsg := m.(*redis.Message)
				return err == nil && isMsg
			}, 10*time.Second, time.Millisecond, "PUBLISH on node %d does not reach a subscriber on node %d", j, i)
			require.NoError(t, pc.Close())
		}
		require.NoError(t, ps.Close())
		require.NoError(t, sc.Close())
	}
}
