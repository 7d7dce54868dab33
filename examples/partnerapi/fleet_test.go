package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/internal/redistest"
)

// TestFleet runs two instances on one real Redis: they share the rate
// limit, a kill switch flipped on A is enforced by B within a second,
// and an idempotent request sent to A replays on B. It runs a fleet of each
// framework, and a mixed fleet of echo4 and nethttp (a service migrating
// one instance at a time): the frameworks report the same route templates,
// so they share buckets and idempotency records too.
func TestFleet(t *testing.T) {
	inst := redistest.Server(t)
	type fleet struct{ a, b string }
	fleets := []fleet{{"echo4", "nethttp"}}
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
			testFleet(t, inst, f.a, f.b)
		})
	}
}

// testFleet runs instance A on framework fa and B on fb.
func testFleet(t *testing.T, inst *redistest.Instance, fa, fb string) {
	cfg := Config{
		RedisURL:    inst.URL(),
		RedisPrefix: inst.Prefix(t),
		ReadRate:    rateOf(0.01, 4),
		WriteRate:   rateOf(1e6, 1e6),
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
		send := func(s *testServer, body string) response {
			return s.do(t, request{method: "POST", path: "/v1/projects/prj_auto/content", key: keyFull, body: body,
				header: map[string]string{idempotency.HeaderKey: "fleet-1"}})
		}
		first := send(a, `{"hook":"fleet"}`)
		require.Equal(t, 202, first.status)
		replayed := send(b, `{"hook":"fleet"}`)
		require.Equal(t, 202, replayed.status)
		require.Equal(t, "true", replayed.header.Get(idempotency.HeaderReplayed))
		require.Equal(t, string(first.body), string(replayed.body))
		requireError(t, send(b, `{"hook":"other"}`), 409, "IDEMPOTENCY_CONFLICT")
	})
}
