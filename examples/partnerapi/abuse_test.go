package main

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// loopbackProxy trusts the test client itself (every test request comes
// from 127.0.0.1) as a proxy, so that X-Forwarded-For stands for distinct
// clients.
var loopbackProxy = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

// from returns the headers of a request a trusted proxy forwarded for ip.
func from(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }

// withKey returns h (copied) with key as the bearer token.
func withKey(h map[string]string, key string) map[string]string {
	out := map[string]string{"Authorization": "Bearer " + key}
	for k, v := range h {
		out[k] = v
	}
	return out
}

// requireThrottled checks a failed-authentication throttle's answer: 429
// RATE_LIMITED with a Retry-After of whole seconds and the matching
// details.retryAfterMs, and none of the RateLimit headers of the key's
// quota.
func requireThrottled(t *testing.T, resp response) {
	t.Helper()
	env := requireError(t, resp, 429, "RATE_LIMITED")
	secs, err := strconv.Atoi(resp.header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", resp.header.Get("Retry-After"))
	require.Positive(t, secs)
	m := regexp.MustCompile(`^\{"retryAfterMs":(\d+)\}$`).FindStringSubmatch(string(env.Error.Details))
	require.NotNil(t, m, "details: %s", env.Error.Details)
	ms, _ := strconv.Atoi(m[1])
	require.True(t, ms > (secs-1)*1000 && ms <= secs*1000, "retryAfterMs %d for Retry-After %d", ms, secs)
	require.Empty(t, resp.header.Get("RateLimit"))
	require.Empty(t, resp.header.Get("RateLimit-Policy"))
}

// TestAuthFailureThrottle: failed authentication is counted per client IP.
// After the burst of failures, the client's next request is RATE_LIMITED
// with Retry-After, a right key and the operator token included; another
// client is not affected; authenticated traffic is never counted.
func TestAuthFailureThrottle(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		const burst = 4
		s := startServer(t, fw, Config{
			ReadRate: unlimited.ReadRate, WriteRate: unlimited.WriteRate,
			AuthFailureRate: rateOf(0.001, burst), TrustedProxies: loopbackProxy,
		})
		guesser, other := from("203.0.113.7"), from("198.51.100.20")
		whoami := func(h map[string]string) response {
			return s.do(t, request{method: "GET", path: "/v1/whoami", header: h})
		}

		// Authenticated traffic is never charged: far more than the burst
		// of successes leaves the whole failure budget.
		for i := range 3 * burst {
			require.Equal(t, 200, whoami(withKey(guesser, keyFull)).status, "request %d", i)
		}
		// Every kind of failure counts: no key, a malformed one, two, a
		// wrong one.
		failures := []map[string]string{
			guesser,
			withKey(guesser, "lp_guess_1"),
			withKey(guesser, "lp guess"),
			withKey(guesser, "lp_guess_2"),
		}
		require.Len(t, failures, burst)
		for i, h := range failures {
			requireError(t, whoami(h), 401, "UNAUTHENTICATED")
			t.Logf("failure %d answered 401", i+1)
		}
		// The failure past the budget, and everything after it: 429, the
		// right key too, on every route, and the operator API.
		requireThrottled(t, whoami(withKey(guesser, "lp_guess_3")))
		requireThrottled(t, whoami(withKey(guesser, keyFull)))
		requireThrottled(t, s.do(t, request{method: "POST", path: "/v1/projects/prj_auto/content", body: `{"hook":"x"}`, header: withKey(guesser, keyFull)}))
		requireThrottled(t, s.do(t, request{method: "GET", path: "/admin/killswitch", header: withKey(guesser, adminToken)}))

		// Another client: untouched, its own failures its own.
		require.Equal(t, 200, whoami(withKey(other, keyFull)).status)
		requireError(t, whoami(withKey(other, "lp_guess_1")), 401, "UNAUTHENTICATED")
		require.Equal(t, 200, s.do(t, request{method: "GET", path: "/admin/killswitch", header: withKey(other, adminToken)}).status)
		// The proxy's own address (no X-Forwarded-For) is a client of its
		// own too.
		require.Equal(t, 200, whoami(map[string]string{"Authorization": "Bearer " + keyFull}).status)

		// Nothing about the guesses leaks into the log but the outcome.
		for _, line := range s.logs.lines(t) {
			require.NotContains(t, fmt.Sprint(line), "lp_guess")
		}
	})
}

// TestOperatorTokenThrottle: guessing the operator token is throttled per
// client IP like API keys, in the same budget.
func TestOperatorTokenThrottle(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		const burst = 3
		s := startServer(t, fw, Config{AuthFailureRate: rateOf(0.001, burst), TrustedProxies: loopbackProxy})
		guesser, other := from("203.0.113.8"), from("198.51.100.21")
		list := func(h map[string]string) response {
			return s.do(t, request{method: "GET", path: "/admin/killswitch", header: h})
		}
		for i := range burst {
			requireError(t, list(withKey(guesser, "admin_guess_"+strconv.Itoa(i))), 401, "UNAUTHENTICATED")
		}
		requireThrottled(t, list(withKey(guesser, "admin_guess_x")))
		requireThrottled(t, list(withKey(guesser, adminToken)))
		// One budget: the API keys of the same client are refused too.
		requireThrottled(t, s.do(t, request{method: "GET", path: "/v1/whoami", header: withKey(guesser, keyFull)}))
		require.Equal(t, 200, list(withKey(other, adminToken)).status)
	})
}

// TestForwardedForIgnoredWithoutTrustedProxies: without -trusted-proxies,
// X-Forwarded-For is whatever the client chose, and is not read: a guesser
// that sends a fresh one per attempt is still one client, its connection's
// peer.
func TestForwardedForIgnoredWithoutTrustedProxies(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		const burst = 3
		s := startServer(t, fw, Config{AuthFailureRate: rateOf(0.001, burst), PublicRate: rateOf(0.001, burst)})
		for i := range burst {
			requireError(t, s.do(t, request{method: "GET", path: "/v1/whoami", header: withKey(from(fmt.Sprintf("192.0.2.%d", i)), "lp_guess")}), 401, "UNAUTHENTICATED")
		}
		requireThrottled(t, s.do(t, request{method: "GET", path: "/v1/whoami", header: withKey(from("192.0.2.200"), keyFull)}))

		// The same for the public routes' bucket.
		for i := range burst {
			require.Equal(t, 200, s.do(t, request{method: "GET", path: "/v1/errors", header: from(fmt.Sprintf("192.0.2.%d", i))}).status)
		}
		requireError(t, s.do(t, request{method: "GET", path: "/v1/errors", header: from("192.0.2.201")}), 429, "RATE_LIMITED")
	})
}

// TestPublicRateLimit: the /v1 routes that need no key (the catalogue and
// the examples) share one bucket per client IP, with the RateLimit headers
// of the public class; /healthz and the keyed routes are outside it.
func TestPublicRateLimit(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		const burst = 3
		s := startServer(t, fw, Config{
			ReadRate: unlimited.ReadRate, WriteRate: unlimited.WriteRate,
			PublicRate: rateOf(0.001, burst), TrustedProxies: loopbackProxy,
		})
		client, other := from("203.0.113.9"), from("198.51.100.22")
		paths := []string{"/v1/errors", "/v1/errors/NOT_FOUND/example", "/v1/errors/INTERNAL/example"}
		statuses := []int{200, 404, 500}
		for i, p := range paths {
			resp := s.do(t, request{method: "GET", path: p, header: client})
			require.Equal(t, statuses[i], resp.status, "%s: %s", p, resp.body)
			require.Equal(t, `"public";q=3;w=3000`, resp.header.Get("RateLimit-Policy"))
			require.Regexp(t, `^"public";r=`+strconv.Itoa(burst-1-i)+`;t=\d+$`, resp.header.Get("RateLimit"))
		}
		for _, p := range paths {
			limited := s.do(t, request{method: "GET", path: p, header: client})
			env := requireError(t, limited, 429, "RATE_LIMITED")
			require.NotEmpty(t, limited.header.Get("Retry-After"))
			require.Contains(t, string(env.Error.Details), `"retryAfterMs":`)
			require.Regexp(t, `^"public";r=0;t=\d+$`, limited.header.Get("RateLimit"))
		}
		require.Equal(t, 200, s.do(t, request{method: "GET", path: "/v1/errors", header: other}).status, "another client has its own bucket")
		for range 2 * burst {
			require.Equal(t, 200, s.do(t, request{method: "GET", path: "/healthz", header: client}).status, "health checks are never limited")
		}
		whoami := s.do(t, request{method: "GET", path: "/v1/whoami", header: withKey(client, keyFull)})
		require.Equal(t, 200, whoami.status, "the keyed routes have the key's buckets")
		require.Regexp(t, `^"read";`, whoami.header.Get("RateLimit"))
	})
}

// TestAdminToken: without a token, New makes up a random one, which the
// operator API accepts; the old fixed default is refused.
func TestAdminToken(t *testing.T) {
	tokens := map[string]bool{}
	for range 3 {
		srv, err := New(Config{})
		require.NoError(t, err)
		tok := srv.AdminToken()
		require.NoError(t, srv.Close())
		require.Regexp(t, `^admin_[0-9a-f]{32}$`, tok)
		require.False(t, tokens[tok], "token %s made up twice", tok)
		tokens[tok] = true
	}
	forEachFramework(t, func(t *testing.T, fw string) {
		logs := &logBuffer{}
		srv, err := New(Config{Framework: fw, AccessLog: true,
			Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, srv.Close()) })
		hs := httptest.NewServer(srv.Handler)
		t.Cleanup(hs.Close)
		require.Equal(t, 200, admin(t, hs.URL, "GET", "", srv.AdminToken()).status)
		requireError(t, admin(t, hs.URL, "GET", "", "admin_demo"), 401, "UNAUTHENTICATED")
		for _, line := range logs.lines(t) {
			require.NotContains(t, fmt.Sprint(line), srv.AdminToken(), "the operator token is never logged")
		}
	})
}
