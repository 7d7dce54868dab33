package main

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/ratelimit"
)

// admin sends an operator request.
func admin(t *testing.T, base, method, path, token string) response {
	t.Helper()
	r := request{method: method, path: "/admin/killswitch" + path}
	if token != "" {
		r.header = map[string]string{"Authorization": "Bearer " + token}
	}
	return doURL(t, base, r)
}

// requireSwitched checks a KILL_SWITCH answer with details.scope.
func requireSwitched(t *testing.T, resp response, scope string) {
	t.Helper()
	env := requireError(t, resp, 503, "KILL_SWITCH")
	requireDetails(t, env, `{"scope":"`+scope+`"}`)
}

// TestKillSwitches flips every switch through the operator API and checks
// who is refused: global answers every /v1 route, authenticated or not;
// organization and key switches answer their own requests only; /healthz
// and the operator API are never switched off.
func TestKillSwitches(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		s := startServer(t, fw, unlimited)
		get := func(path, key string) response { return s.do(t, request{method: "GET", path: path, key: key}) }

		t.Run("operator API needs the admin token", func(t *testing.T) {
			for _, token := range []string{"", "wrong", keyFull} {
				for _, r := range []struct{ method, path string }{
					{"GET", ""}, {"PUT", "/global"}, {"DELETE", "/global"},
					{"PUT", "/organization/org_demo"}, {"DELETE", "/key/key_full"},
				} {
					requireError(t, admin(t, s.URL, r.method, r.path, token), 401, "UNAUTHENTICATED")
				}
			}
			require.Equal(t, 200, get("/v1/whoami", keyFull).status, "a refused flip changed nothing")
		})

		t.Run("global", func(t *testing.T) {
			require.Equal(t, 200, admin(t, s.URL, "PUT", "/global", adminToken).status)
			for _, r := range []request{
				{method: "GET", path: "/v1/whoami"},
				{method: "GET", path: "/v1/whoami", key: keyFull},
				{method: "GET", path: "/v1/whoami", key: "lp_unknown"},
				{method: "POST", path: "/v1/projects/prj_demo/content", key: keyFull, body: `{"hook":"x"}`},
				{method: "GET", path: "/v1/content/cnt_x", key: keyOther},
				{method: "POST", path: "/v1/content/cnt_x/approve"},
				{method: "POST", path: "/v1/content/cnt_x/reject", key: keyFull},
				{method: "POST", path: "/v1/content/cnt_x/schedule", key: keyFull},
				{method: "GET", path: "/v1/jobs/job_x", key: keyBroke},
				{method: "GET", path: "/v1/errors"},
				{method: "GET", path: "/v1/errors/NOT_FOUND/example"},
				{method: "GET", path: "/v1/nope"},
			} {
				requireSwitched(t, s.do(t, r), "global")
			}
			require.Equal(t, 200, get("/healthz", "").status)
			list := admin(t, s.URL, "GET", "", adminToken)
			require.Equal(t, 200, list.status)
			var l struct {
				Switches []struct {
					Scope, By string
				} `json:"switches"`
			}
			require.NoError(t, json.Unmarshal(list.body, &l))
			require.Len(t, l.Switches, 1)
			require.Equal(t, "global", l.Switches[0].Scope)
			require.Equal(t, "admin", l.Switches[0].By)

			require.Equal(t, 204, admin(t, s.URL, "DELETE", "/global", adminToken).status)
			require.Equal(t, 200, get("/v1/whoami", keyFull).status)
		})

		t.Run("global with an expected duration sends Retry-After", func(t *testing.T) {
			resp := doURL(t, s.URL, request{method: "PUT", path: "/admin/killswitch/global", body: `{"reason":"maintenance","expectedDurationSeconds":90}`,
				header: map[string]string{"Authorization": "Bearer " + adminToken}})
			require.Equal(t, 200, resp.status, "body: %s", resp.body)
			refused := get("/v1/whoami", "")
			requireSwitched(t, refused, "global")
			after, err := strconv.Atoi(refused.header.Get("Retry-After"))
			require.NoError(t, err)
			require.InDelta(t, 90, after, 2)
			require.NotContains(t, string(refused.body), "maintenance", "the operator's reason is never sent")
			require.Equal(t, 204, admin(t, s.URL, "DELETE", "/global", adminToken).status)
		})

		t.Run("organization", func(t *testing.T) {
			require.Equal(t, 200, admin(t, s.URL, "PUT", "/organization/org_demo", adminToken).status)
			requireSwitched(t, get("/v1/whoami", keyFull), "organization")
			requireSwitched(t, get("/v1/whoami", keyReadonly), "organization")
			require.Equal(t, 200, get("/v1/whoami", keyOther).status)
			requireError(t, get("/v1/whoami", ""), 401, "UNAUTHENTICATED")
			require.Equal(t, 200, get("/v1/errors", "").status)
			require.Equal(t, 204, admin(t, s.URL, "DELETE", "/organization/org_demo", adminToken).status)
			require.Equal(t, 200, get("/v1/whoami", keyFull).status)
		})

		t.Run("key", func(t *testing.T) {
			require.Equal(t, 200, admin(t, s.URL, "PUT", "/key/key_full", adminToken).status)
			requireSwitched(t, get("/v1/whoami", keyFull), "key")
			requireSwitched(t, s.do(t, request{method: "POST", path: "/v1/projects/prj_demo/content", key: keyFull, body: `{"hook":"x"}`}), "key")
			require.Equal(t, 200, get("/v1/whoami", keyReadonly).status)

			// The broadest switch wins.
			require.Equal(t, 200, admin(t, s.URL, "PUT", "/organization/org_demo", adminToken).status)
			requireSwitched(t, get("/v1/whoami", keyFull), "organization")
			require.Equal(t, 200, admin(t, s.URL, "PUT", "/global", adminToken).status)
			requireSwitched(t, get("/v1/whoami", keyFull), "global")

			for _, p := range []string{"/global", "/organization/org_demo", "/key/key_full"} {
				require.Equal(t, 204, admin(t, s.URL, "DELETE", p, adminToken).status)
			}
			require.Equal(t, 200, get("/v1/whoami", keyFull).status)
		})
	})
}

// TestRateLimits exhausts small buckets: 429 RATE_LIMITED with Retry-After
// consistent with details.retryAfterMs, per key and per endpoint class, and
// nothing else limited.
func TestRateLimits(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		s := startServer(t, fw, Config{ReadRate: rateOf(0.01, 3), WriteRate: rateOf(0.01, 2)})

		for i := 0; i < 3; i++ {
			resp := s.do(t, request{method: "GET", path: "/v1/whoami", key: keyFull})
			require.Equal(t, 200, resp.status)
			require.Equal(t, `"read";q=3;w=300`, resp.header.Get(ratelimit.HeaderRateLimitPolicy))
		}
		limited := s.do(t, request{method: "GET", path: "/v1/whoami", key: keyFull})
		env := requireError(t, limited, 429, "RATE_LIMITED")
		var d struct {
			RetryAfterMs int64 `json:"retryAfterMs"`
		}
		require.NoError(t, json.Unmarshal(env.Error.Details, &d))
		require.InDelta(t, 100_000, d.RetryAfterMs, 1_000, "one token at 0.01/s")
		require.Equal(t, strconv.FormatInt(int64(math.Ceil(float64(d.RetryAfterMs)/1000)), 10), limited.header.Get("Retry-After"))
		require.NotEmpty(t, limited.header.Get(ratelimit.HeaderRateLimit))

		// The bucket is per (key ID, class): other routes of the same class
		// share it; the write class and other keys have their own.
		requireError(t, s.do(t, request{method: "GET", path: "/v1/content/cnt_x", key: keyFull}), 429, "RATE_LIMITED")
		require.Equal(t, 200, s.do(t, request{method: "GET", path: "/v1/whoami", key: keyReadonly}).status)
		for i := 0; i < 2; i++ {
			requireError(t, s.do(t, request{method: "POST", path: "/v1/content/cnt_x/approve", key: keyFull}), 404, "NOT_FOUND")
		}
		requireError(t, s.do(t, request{method: "POST", path: "/v1/content/cnt_x/approve", key: keyFull}), 429, "RATE_LIMITED")

		// Unauthenticated requests are answered 401 (authentication comes
		// first); health, the catalogue and the operator API are never limited.
		requireError(t, s.do(t, request{method: "GET", path: "/v1/whoami"}), 401, "UNAUTHENTICATED")
		for i := 0; i < 10; i++ {
			require.Equal(t, 200, s.do(t, request{method: "GET", path: "/healthz"}).status)
			require.Equal(t, 200, s.do(t, request{method: "GET", path: "/v1/errors"}).status)
			require.Equal(t, 200, admin(t, s.URL, "GET", "", adminToken).status)
		}
		// A switched-off key is refused before it spends tokens.
		require.Equal(t, 200, admin(t, s.URL, "PUT", "/key/key_other", adminToken).status)
		for i := 0; i < 5; i++ {
			requireSwitched(t, s.do(t, request{method: "GET", path: "/v1/whoami", key: keyOther}), "key")
		}
		require.Equal(t, 204, admin(t, s.URL, "DELETE", "/key/key_other", adminToken).status)
		require.Equal(t, 200, s.do(t, request{method: "GET", path: "/v1/whoami", key: keyOther}).status)
	})
}
