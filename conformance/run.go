package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/killswitch"
	"github.com/layershq/errkit/requestid"
)

// NewServer builds the adapter's server for one test: f.Routes() mounted
// with the middleware each route names, behind the adapter's errkit
// installation (request IDs, recovery, the error writer logging to
// f.Logger, router 404/405 as the envelope), and f.Admin at AdminPrefix.
// It sets f.Template and f.AdminRoute.
type NewServer func(t *testing.T, f *Fixtures) http.Handler

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is one running server of the suite.
type server struct {
	url  string
	fx   *Fixtures
	logs *syncBuffer
}

func start(t *testing.T, newServer NewServer) *server {
	t.Helper()
	logs := &syncBuffer{}
	fx := newFixtures(t, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	h := newServer(t, fx)
	require.NotNil(t, h, "NewServer returned no handler")
	require.NotNil(t, fx.Template, "NewServer set no Fixtures.Template")
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &server{url: ts.URL, fx: fx, logs: logs}
}

// response is what a request got.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request for t, which it fails when the request cannot be
// made; hdr holds name, value pairs. It must be called on t's goroutine
// (require stops the calling goroutine); elsewhere, use send.
func (s *server) do(t *testing.T, method, path string, body io.Reader, hdr ...string) response {
	t.Helper()
	r, err := s.send(method, path, body, hdr...)
	require.NoError(t, err, "%s %s", method, path)
	return r
}

// send sends one request and reports what went wrong instead of failing a
// test, so that any goroutine may call it.
func (s *server) send(method, path string, body io.Reader, hdr ...string) (response, error) {
	req, err := http.NewRequest(method, s.url+path, body)
	if err != nil {
		return response{}, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// requireID checks the response's one well-formed X-Request-Id and returns it.
func requireID(t *testing.T, r response) string {
	t.Helper()
	ids := r.header.Values(requestid.Header)
	require.Len(t, ids, 1, "exactly one X-Request-Id")
	require.True(t, requestid.Valid(ids[0]), "well-formed X-Request-Id %q", ids[0])
	return ids[0]
}

// requireEnvelope checks an error response: status, headers and the exact
// body want renders with the response's request ID (HEAD: no body). The
// response has the Retry-After of want's RetryAfter, and none when want
// has none.
func requireEnvelope(t *testing.T, method string, r response, want *apierror.Error) {
	t.Helper()
	retryAfter := ""
	if d, ok := want.RetryAfter(); ok {
		retryAfter = strconv.FormatInt(apierror.RetryAfterSeconds(d), 10)
	}
	requireEnvelopeRetryAfter(t, method, r, want, retryAfter)
}

// requireEnvelopeRetryAfter is requireEnvelope for an error answered by a
// guard that sets Retry-After itself (the global kill switch's expected
// duration, idempotency's key in use): the response has exactly one
// Retry-After, retryAfter, or none when retryAfter is empty.
func requireEnvelopeRetryAfter(t *testing.T, method string, r response, want *apierror.Error, retryAfter string) {
	t.Helper()
	id := requireID(t, r)
	assert.Equal(t, want.Status(), r.status, "status of %s", want.Code())
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
	if retryAfter == "" {
		assert.Empty(t, r.header.Values("Retry-After"), "%s gives no retry advice", want.Code())
	} else {
		assert.Equal(t, []string{retryAfter}, r.header.Values("Retry-After"), "Retry-After of %s", want.Code())
	}
	if method == http.MethodHead {
		assert.Empty(t, r.body, "HEAD has no body")
		return
	}
	assert.Equal(t, string(want.Render(id)), string(r.body), "body of %s, byte for byte", want.Code())
}

// requireNoSecret checks that Secret is in no header and no body.
func requireNoSecret(t *testing.T, r response) {
	t.Helper()
	assert.NotContains(t, string(r.body), Secret)
	for k, vs := range r.header {
		for _, v := range vs {
			assert.NotContains(t, v, Secret, "header %s", k)
		}
	}
}

// Run runs the suite against the servers newServer builds.
func Run(t *testing.T, newServer NewServer) {
	t.Run("every code", func(t *testing.T) { everyCode(t, newServer) })
	t.Run("success", func(t *testing.T) { success(t, newServer) })
	t.Run("router", func(t *testing.T) { router(t, newServer) })
	t.Run("internal and panic", func(t *testing.T) { internalAndPanic(t, newServer) })
	t.Run("body limit", func(t *testing.T) { bodyLimit(t, newServer) })
	t.Run("inbound request id", func(t *testing.T) { inboundID(t, newServer) })
	t.Run("rate limit", func(t *testing.T) { rateLimit(t, newServer) })
	t.Run("route class", func(t *testing.T) { routeClass(t, newServer) })
	t.Run("kill switch", func(t *testing.T) { killSwitch(t, newServer) })
	t.Run("kill switch scopes", func(t *testing.T) { killSwitchScopes(t, newServer) })
	t.Run("kill switch admin", func(t *testing.T) { killSwitchAdmin(t, newServer) })
	t.Run("idempotency", func(t *testing.T) { idempotent(t, newServer) })
	t.Run("idempotency release", func(t *testing.T) { idempotentRelease(t, newServer) })
	t.Run("idempotency invalid key", func(t *testing.T) { idempotentInvalidKey(t, newServer) })
	t.Run("events", func(t *testing.T) { eventsScenario(t, newServer) })
}

func everyCode(t *testing.T, newServer NewServer) {
	s := start(t, newServer)
	for _, spec := range apierror.Catalogue() {
		want, ok := apierror.Example(spec.Code)
		require.True(t, ok)
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			t.Run(string(spec.Code)+"/"+method, func(t *testing.T) {
				r := s.do(t, method, "/codes/"+string(spec.Code), nil)
				requireEnvelope(t, method, r, want)
				requireNoSecret(t, r)
			})
		}
	}
}

func success(t *testing.T, newServer NewServer) {
	s := start(t, newServer)
	seen := map[string]bool{}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		r := s.do(t, method, "/ok", nil)
		assert.Equal(t, http.StatusOK, r.status)
		id := requireID(t, r)
		assert.False(t, seen[id], "a fresh request ID per response")
		seen[id] = true
		if method == http.MethodGet {
			assert.Equal(t, "ok", string(r.body))
		} else {
			assert.Empty(t, r.body)
		}
	}
	r := s.do(t, http.MethodGet, "/grouped/g_1", nil)
	assert.Equal(t, http.StatusOK, r.status, "a route in a router group")
	requireID(t, r)
	assert.Equal(t, "grouped g_1", string(r.body))
}

func router(t *testing.T, newServer NewServer) {
	s := start(t, newServer)
	for _, tc := range []struct {
		name, method, path string
		allow              bool
	}{
		{"404", http.MethodGet, "/nowhere", false},
		{"404 HEAD", http.MethodHead, "/nowhere/at/all", false},
		{"405", http.MethodPut, "/ok", true},
		{"405 on a parameterised route", http.MethodDelete, "/codes/NOT_FOUND", true},
		// A router group with middleware may answer unknown paths under its
		// prefix with a 404 route of its own (echo does), which must not
		// cost a 405 its Allow header.
		{"404 in a group", http.MethodGet, "/grouped/", false},
		{"404 at a group's prefix", http.MethodGet, "/grouped", false},
		{"405 in a group", http.MethodPut, "/grouped/g_1", true},
		{"405 in a group, POST", http.MethodPost, "/grouped/g_1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, tc.method, tc.path, nil)
			requireEnvelope(t, tc.method, r, apierror.NotFound())
			if tc.allow {
				assert.Contains(t, r.header.Get("Allow"), http.MethodGet, "a 405's Allow header is kept")
			} else {
				assert.Empty(t, r.header.Values("Allow"), "a 404 has no Allow header")
			}
		})
	}
}

func internalAndPanic(t *testing.T, newServer NewServer) {
	s := start(t, newServer)
	for _, path := range []string{"/internal", "/panic"} {
		t.Run(path, func(t *testing.T) {
			r := s.do(t, http.MethodGet, path, nil)
			requireEnvelope(t, http.MethodGet, r, apierror.Internal(nil))
			requireNoSecret(t, r)
			id := requireID(t, r)
			assert.Eventually(t, func() bool {
				for _, line := range strings.Split(s.logs.String(), "\n") {
					if strings.Contains(line, id) && strings.Contains(line, Secret) && strings.Contains(line, `"level":"ERROR"`) {
						return true
					}
				}
				return false
			}, 5*time.Second, 10*time.Millisecond, "the cause is logged at error level with the request ID")
		})
	}
	r := s.do(t, http.MethodGet, "/ok", nil)
	assert.Equal(t, http.StatusOK, r.status, "the server keeps serving after a panic")
}

func bodyLimit(t *testing.T, newServer NewServer) {
	s := start(t, newServer)
	r := s.do(t, http.MethodPost, "/upload", strings.NewReader(strings.Repeat("x", MaxBodyBytes)))
	assert.Equal(t, http.StatusNoContent, r.status, "a body at the limit passes")
	requireID(t, r)

	r = s.do(t, http.MethodPost, "/upload", strings.NewReader(strings.Repeat("x", MaxBodyBytes+1)))
	requireEnvelope(t, http.MethodPost, r, apierror.PayloadTooLarge(MaxBodyBytes))

	// No Content-Length: the limit bites while the handler reads.
	r = s.do(t, http.MethodPost, "/upload", io.MultiReader(strings.NewReader(strings.Repeat("y", MaxBodyBytes)), strings.NewReader("zz")))
	requireEnvelope(t, http.MethodPost, r, apierror.PayloadTooLarge(MaxBodyBytes))
}

func inboundID(t *testing.T, newServer NewServer) {
	s := start(t, newServer)
	for name, vals := range map[string][]string{
		"well formed (not trusted by default)": {requestid.New()},
		"CRLF injection":                       {"req_01ARZ3NDEKTSV4RRFFQ69G5FAV\r\nSet-Cookie: a=b"},
		"too long":                             {strings.Repeat("A", 4096)},
		"lowercase":                            {"req_01arz3ndektsv4rrffq69g5fav"},
		"two values":                           {requestid.New(), requestid.New()},
		"script":                               {"<script>alert(1)</script>"},
	} {
		t.Run(name, func(t *testing.T) {
			hdr := []string{}
			for _, v := range vals {
				if strings.ContainsAny(v, "\r\n") {
					continue // net/http refuses to send it; the others still test echoing
				}
				hdr = append(hdr, requestid.Header, v)
			}
			for _, path := range []string{"/ok", "/codes/NOT_FOUND"} {
				r := s.do(t, http.MethodGet, path, nil, hdr...)
				id := requireID(t, r)
				for _, v := range vals {
					assert.NotEqual(t, v, id, "an inbound ID is never echoed by default")
					assert.NotContains(t, string(r.body), v)
				}
			}
		})
	}
}

func rateLimit(t *testing.T, newServer NewServer) {
	s := start(t, newServer)
	auth := []string{"Authorization", "Bearer key_rl:org_rl"}

	r := s.do(t, http.MethodGet, "/limited", nil)
	requireEnvelope(t, http.MethodGet, r, apierror.Unauthenticated())

	for i, remaining := range []int{1, 0} {
		r := s.do(t, http.MethodGet, "/limited", nil, auth...)
		require.Equal(t, http.StatusOK, r.status, "request %d is admitted", i+1)
		requireID(t, r)
		assert.Equal(t, `"read";q=2;w=2000`, r.header.Get("RateLimit-Policy"))
		assert.Equal(t, `"read";r=`+strconv.Itoa(remaining)+`;t=`+strconv.Itoa(1000*(2-remaining)), r.header.Get("RateLimit"))
	}
	r = s.do(t, http.MethodGet, "/limited", nil, auth...)
	id := requireID(t, r)
	assert.Equal(t, http.StatusTooManyRequests, r.status)
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Details struct {
				RetryAfterMs int64 `json:"retryAfterMs"`
			} `json:"details"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(r.body, &env))
	require.Equal(t, "RATE_LIMITED", env.Error.Code)
	wait := time.Duration(env.Error.Details.RetryAfterMs) * time.Millisecond
	assert.GreaterOrEqual(t, wait, 999*time.Second, "not before the next token exists")
	requireEnvelope(t, http.MethodGet, r, apierror.RateLimited(wait))
	assert.Equal(t, `"read";q=2;w=2000`, r.header.Get("RateLimit-Policy"))
	assert.Equal(t, `"read";r=0;t=2000`, r.header.Get("RateLimit"))
	assert.Equal(t, id, r.header.Get(requestid.Header))

	other := s.do(t, http.MethodGet, "/limited", nil, "Authorization", "Bearer key_other:org_rl")
	assert.Equal(t, http.StatusOK, other.status, "buckets are per key")
}

// routeClass: the limiter finds a route's class by the template the
// adapter's router reports, and a request without a principal is not
// limited.
func routeClass(t *testing.T, newServer NewServer) {
	s := start(t, newServer)
	auth := []string{"Authorization", "Bearer key_a:org_a"}
	r := s.do(t, http.MethodGet, "/things/1", nil, auth...)
	assert.Equal(t, http.StatusOK, r.status, "admitted")
	requireID(t, r)
	assert.Equal(t, "ok", string(r.body))
	assert.Equal(t, "text/plain; charset=utf-8", r.header.Get("Content-Type"))
	assert.Equal(t, `"things";q=1;w=2`, r.header.Get("RateLimit-Policy"))
	assert.Equal(t, `"things";r=0;t=2`, r.header.Get("RateLimit"))
	assert.Empty(t, r.header.Values("Retry-After"))

	r = s.do(t, http.MethodGet, "/things/1", nil, auth...)
	requireEnvelope(t, http.MethodGet, r, apierror.RateLimited(2*time.Second))
	assert.Equal(t, `{"error":{"code":"RATE_LIMITED","message":"Rate limit exceeded. Retry after the time given in Retry-After.","requestId":"`+
		requireID(t, r)+`","details":{"retryAfterMs":2000}}}`, string(r.body))
	assert.Equal(t, "2", r.header.Get("Retry-After"))
	assert.Equal(t, `"things";q=1;w=2`, r.header.Get("RateLimit-Policy"))
	assert.Equal(t, `"things";r=0;t=2`, r.header.Get("RateLimit"))

	r = s.do(t, http.MethodGet, "/things/1", nil)
	assert.Equal(t, http.StatusOK, r.status, "unauthenticated: not limited")
	requireID(t, r)
	assert.Equal(t, "ok", string(r.body))
	assert.Empty(t, r.header.Values("RateLimit-Policy"))
	assert.Empty(t, r.header.Values("RateLimit"))
}

// noRateLimit checks that a refused request never reached the rate limiter.
func noRateLimit(t *testing.T, r response) {
	t.Helper()
	assert.Empty(t, r.header.Values("RateLimit-Policy"), "a switched-off request must not reach the rate limiter")
	assert.Empty(t, r.header.Values("RateLimit"), "a switched-off request must not reach the rate limiter")
}

// killSwitchScopes: one switch at a time on /switched, which has the global
// guard in front of authentication and the per-caller guard after it.
func killSwitchScopes(t *testing.T, newServer NewServer) {
	tests := []struct {
		name          string
		on            killswitch.Switch
		authenticated bool
		want          *apierror.Error // nil: served, or refused by authentication
		retryAfter    string
	}{
		{"nothing on", killswitch.Switch{}, true, nil, ""},
		{"key", killswitch.Switch{Scope: killswitch.ScopeKey, ID: "k1"}, true, apierror.KillSwitch(apierror.ScopeKey), ""},
		{"other key", killswitch.Switch{Scope: killswitch.ScopeKey, ID: "k2"}, true, nil, ""},
		{"organization", killswitch.Switch{Scope: killswitch.ScopeOrganization, ID: "o1"}, true, apierror.KillSwitch(apierror.ScopeOrganization), ""},
		{"global without estimate", killswitch.Switch{Scope: killswitch.ScopeGlobal}, true, apierror.KillSwitch(apierror.ScopeGlobal), ""},
		{"global with estimate", killswitch.Switch{Scope: killswitch.ScopeGlobal, ExpectedDuration: 10 * time.Minute, At: flippedAt}, true, apierror.KillSwitch(apierror.ScopeGlobal), "500"},
		{"global, unauthenticated", killswitch.Switch{Scope: killswitch.ScopeGlobal, ExpectedDuration: 10 * time.Minute, At: flippedAt}, false, apierror.KillSwitch(apierror.ScopeGlobal), "500"},
		{"key, unauthenticated: authentication answers", killswitch.Switch{Scope: killswitch.ScopeKey, ID: "k1"}, false, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, newServer)
			if tt.on.Scope != "" {
				s.fx.flip(t, tt.on)
			}
			var hdr []string
			if tt.authenticated {
				hdr = []string{"Authorization", "Bearer k1:o1"}
			}
			r := s.do(t, http.MethodGet, "/switched", nil, hdr...)
			switch {
			case tt.want != nil:
				requireEnvelopeRetryAfter(t, http.MethodGet, r, tt.want, tt.retryAfter)
				requireNoSecret(t, r)
				noRateLimit(t, r)
				assert.Zero(t, s.fx.switched.Load(), "a switched-off request does not reach the handler")
			case tt.authenticated:
				assert.Equal(t, http.StatusOK, r.status)
				requireID(t, r)
				assert.Equal(t, "ok", string(r.body))
				assert.Empty(t, r.header.Values("Retry-After"))
				assert.Equal(t, int64(1), s.fx.switched.Load())
			default:
				requireEnvelope(t, http.MethodGet, r, apierror.Unauthenticated())
				noRateLimit(t, r)
				assert.Zero(t, s.fx.switched.Load())
			}
		})
	}
}

// killSwitchAdmin flips switches through the operator API at AdminPrefix
// over the wire, checks that /switched follows, that the operator API
// stays reachable while the global switch is on, and that its errors are
// envelopes rendered and logged by the service.
func killSwitchAdmin(t *testing.T, newServer NewServer) {
	s := start(t, newServer)
	op := []string{"Authorization", OperatorAuthorization}
	admin := func(method, path, body string, hdr ...string) response {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		return s.do(t, method, AdminPrefix+path, rd, hdr...)
	}
	ping := func(authenticated bool) response {
		t.Helper()
		if !authenticated {
			return s.do(t, http.MethodGet, "/switched", nil)
		}
		return s.do(t, http.MethodGet, "/switched", nil, "Authorization", "Bearer k1:o1")
	}
	r := ping(true)
	require.Equal(t, http.StatusOK, r.status, "no switch is on")

	r = admin(http.MethodPut, "/key/k1", `{"reason":"leaked"}`, op...)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	assert.Equal(t, `{"scope":"key","id":"k1","reason":"leaked","by":"alice","at":"2026-12-01T11:58:20Z"}`+"\n", string(r.body))
	requireID(t, r) // the operator API's answers carry a request ID too
	requireEnvelope(t, http.MethodGet, ping(true), apierror.KillSwitch(apierror.ScopeKey))

	r = admin(http.MethodPut, "/global", `{"expectedDurationSeconds":600}`, op...)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	for _, authenticated := range []bool{true, false} {
		p := ping(authenticated)
		requireEnvelopeRetryAfter(t, http.MethodGet, p, apierror.KillSwitch(apierror.ScopeGlobal), "500")
		noRateLimit(t, p)
	}

	// An id with an escaped slash reaches the Admin unescaped.
	r = admin(http.MethodPut, "/organization/team%2Fa", "", op...)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	assert.Contains(t, string(r.body), `"id":"team/a"`)
	require.Equal(t, http.StatusNoContent, admin(http.MethodDelete, "/organization/team%2Fa", "", op...).status)

	for _, path := range []string{"", "/"} {
		r = admin(http.MethodGet, path, "", op...)
		require.Equal(t, http.StatusOK, r.status, "the operator API stays reachable while the API is off")
		requireID(t, r)
		assert.Equal(t, `{"switches":[`+
			`{"scope":"global","reason":"","by":"alice","at":"2026-12-01T11:58:20Z","expectedDurationSeconds":600},`+
			`{"scope":"key","id":"k1","reason":"leaked","by":"alice","at":"2026-12-01T11:58:20Z"}]}`+"\n", string(r.body), AdminPrefix+path)
	}

	require.Equal(t, http.StatusNoContent, admin(http.MethodDelete, "/global", "", op...).status)
	requireEnvelope(t, http.MethodGet, ping(true), apierror.KillSwitch(apierror.ScopeKey))
	require.Equal(t, http.StatusNoContent, admin(http.MethodDelete, "/key/k1", "", op...).status)
	r = ping(true)
	assert.Equal(t, http.StatusOK, r.status, "flipped off")
	assert.Empty(t, r.header.Values("Retry-After"))

	// Errors: the envelope, rendered and logged by the service.
	for _, tt := range []struct {
		name, method, path string
		auth               bool
		want               *apierror.Error
	}{
		{"no credentials", http.MethodGet, "/", false, apierror.Unauthenticated()},
		{"wrong credentials", http.MethodPut, "/global", false, apierror.Unauthenticated()},
		{"unknown route", http.MethodPut, "/project/p1", true, apierror.NotFound()},
		{"unknown method", http.MethodPost, "/global", true, apierror.NotFound()},
		{"bad id", http.MethodPut, "/key/a%20b", true, apierror.Validation(apierror.Issue{Path: "id", Message: "must be a non-empty printable id of at most 256 bytes."})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			switch {
			case tt.auth:
				hdr = op
			case tt.name == "wrong credentials":
				hdr = []string{"Authorization", "Bearer k1:o1"} // a caller's are no operator's
			}
			r := admin(tt.method, tt.path, "", hdr...)
			requireEnvelope(t, tt.method, r, tt.want)
			line := logLine(t, s.logs, requireID(t, r), "code")
			assert.Equal(t, string(tt.want.Code()), line["code"])
			assert.Equal(t, s.fx.AdminRoute, line["route"])
		})
	}
	list, err := s.fx.switches.List(context.Background())
	require.NoError(t, err)
	assert.Empty(t, list, "every switch is off again")
}

// logLine returns the first log line for the request id that has the
// attribute key.
func logLine(t *testing.T, logs *syncBuffer, id, key string) map[string]any {
	t.Helper()
	var found map[string]any
	require.Eventually(t, func() bool {
		for _, raw := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var line map[string]any
			if json.Unmarshal([]byte(raw), &line) != nil {
				continue
			}
			if _, ok := line[key]; ok && line["requestId"] == id {
				found = line
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond, "a log line with %s for request %s in %s", key, id, logs.String())
	return found
}

func killSwitch(t *testing.T, newServer NewServer) {
	s := start(t, newServer)
	get := func(key, org string) response {
		return s.do(t, http.MethodGet, "/switched", nil, "Authorization", "Bearer "+key+":"+org)
	}
	r := get("key_a", "org_a")
	require.Equal(t, http.StatusOK, r.status, "no switch is on")

	s.fx.flip(t, killswitch.Switch{Scope: killswitch.ScopeKey, ID: "key_a"})
	r = get("key_a", "org_a")
	requireEnvelope(t, http.MethodGet, r, apierror.KillSwitch(apierror.ScopeKey)) // no Retry-After
	requireNoSecret(t, r)                                                         // the switch's reason holds Secret
	noRateLimit(t, r)
	assert.Equal(t, http.StatusOK, get("key_b", "org_a").status, "another key passes")

	s.fx.flip(t, killswitch.Switch{Scope: killswitch.ScopeOrganization, ID: "org_a"})
	requireEnvelope(t, http.MethodGet, get("key_b", "org_a"), apierror.KillSwitch(apierror.ScopeOrganization))
	requireEnvelope(t, http.MethodGet, get("key_a", "org_a"), apierror.KillSwitch(apierror.ScopeOrganization))
	assert.Equal(t, http.StatusOK, get("key_c", "org_c").status, "another organization passes")

	s.fx.flip(t, killswitch.Switch{Scope: killswitch.ScopeGlobal, ExpectedDuration: 90 * time.Second})
	// The global switch's expected duration is its Retry-After.
	requireEnvelopeRetryAfter(t, http.MethodGet, get("key_c", "org_c"), apierror.KillSwitch(apierror.ScopeGlobal), "90")
	requireEnvelopeRetryAfter(t, http.MethodGet, get("key_a", "org_a"), apierror.KillSwitch(apierror.ScopeGlobal), "90")
	assert.Equal(t, http.StatusOK, s.do(t, http.MethodGet, "/ok", nil).status, "only guarded routes are switched off")
}

func idempotent(t *testing.T, newServer NewServer) {
	s := start(t, newServer)
	send := func(key, body string) (response, error) {
		return s.send(http.MethodPost, "/idem/a1", strings.NewReader(body),
			"Authorization", "Bearer key_i:org_i", "Content-Type", "application/json", idempotency.HeaderKey, key)
	}
	post := func(key, body string) response {
		t.Helper()
		r, err := send(key, body)
		require.NoError(t, err)
		return r
	}
	// The held request must not outlive a test that fails before it
	// releases it: this cleanup runs before the server's.
	var release sync.Once
	releaseHeld := func() { release.Do(func() { close(s.fx.release) }) }
	t.Cleanup(releaseHeld)

	first := post("key-replay-0001", `{"x":1}`)
	require.Equal(t, http.StatusCreated, first.status)
	assert.Equal(t, `{"id":"a1","run":1}`, string(first.body))
	firstID := requireID(t, first)
	assert.Empty(t, first.header.Values(idempotency.HeaderReplayed), "the first response is not a replay")

	replay := post("key-replay-0001", `{"x":1}`)
	assert.Equal(t, http.StatusCreated, replay.status)
	assert.Equal(t, string(first.body), string(replay.body), "the stored body, byte for byte")
	assert.Equal(t, "true", replay.header.Get(idempotency.HeaderReplayed))
	assert.Equal(t, "application/json", replay.header.Get("Content-Type"))
	assert.Equal(t, "/idem/a1", replay.header.Get("Location"))
	assert.NotEqual(t, firstID, requireID(t, replay), "the replay has its own request ID")
	assert.Equal(t, int64(1), s.fx.work.Load(), "the work ran once")

	conflict := post("key-replay-0001", `{"x":2}`)
	requireID(t, conflict)
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Details struct {
				OriginalHash string `json:"originalRequestHash"`
				CurrentHash  string `json:"currentRequestHash"`
			} `json:"details"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(conflict.body, &env))
	assert.Equal(t, "IDEMPOTENCY_CONFLICT", env.Error.Code)
	// The fingerprints cover the route template, which each router spells
	// its own way, so they are checked for form rather than value.
	assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, env.Error.Details.OriginalHash)
	assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, env.Error.Details.CurrentHash)
	assert.NotEqual(t, env.Error.Details.OriginalHash, env.Error.Details.CurrentHash)
	requireEnvelope(t, http.MethodPost, conflict,
		apierror.IdempotencyConflict(env.Error.Details.OriginalHash, env.Error.Details.CurrentHash))
	// The fingerprint holds the method, the route template as the adapter's
	// router reports it, the path parameters and the body.
	idemRoute := s.fx.Template(Route{Method: http.MethodPost, Path: "/idem/{id}"})
	fingerprint := func(id, body string) string {
		return idempotency.Fingerprint(http.MethodPost, idemRoute, []idempotency.Param{{Name: "id", Value: id}}, "", []byte(body))
	}
	requireEnvelope(t, http.MethodPost, conflict, apierror.IdempotencyConflict(fingerprint("a1", `{"x":1}`), fingerprint("a1", `{"x":2}`)))
	other, err := s.send(http.MethodPost, "/idem/a2", strings.NewReader(`{"x":1}`),
		"Authorization", "Bearer key_i:org_i", "Content-Type", "application/json", idempotency.HeaderKey, "key-replay-0001")
	require.NoError(t, err)
	requireEnvelope(t, http.MethodPost, other, apierror.IdempotencyConflict(fingerprint("a1", `{"x":1}`), fingerprint("a2", `{"x":1}`)))
	assert.Equal(t, int64(1), s.fx.work.Load(), "a conflict does not run the work")

	// In use: a second request with the key of one still running.
	// The held request is sent from another goroutine, which only reports:
	// the assertions stay on the test's goroutine.
	type result struct {
		r   response
		err error
	}
	held := make(chan result, 1)
	go func() {
		r, err := send("key-inuse-00001", `{"hold":true}`)
		held <- result{r, err}
	}()
	select {
	case <-s.fx.entered:
	case res := <-held:
		t.Fatalf("the held request ended before reaching the handler: status %d, error %v", res.r.status, res.err)
	case <-time.After(10 * time.Second):
		t.Fatal("the held request never reached the handler")
	}
	inUse := post("key-inuse-00001", `{"hold":true}`)
	requireEnvelopeRetryAfter(t, http.MethodPost, inUse, apierror.Conflict(idempotency.ReasonKeyInUse),
		strconv.FormatInt(apierror.RetryAfterSeconds(idempotency.InUseRetryAfter), 10))
	releaseHeld()
	var res result
	select {
	case res = <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the held request never completed")
	}
	require.NoError(t, res.err, "the held request")
	assert.Equal(t, http.StatusCreated, res.r.status, "the held request completes")
	assert.Equal(t, int64(2), s.fx.work.Load())
	again := post("key-inuse-00001", `{"hold":true}`)
	assert.Equal(t, http.StatusCreated, again.status)
	assert.Equal(t, "true", again.header.Get(idempotency.HeaderReplayed), "once done, the held request replays")
	assert.Equal(t, string(res.r.body), string(again.body))
	assert.Equal(t, int64(2), s.fx.work.Load())
}

// idempotentRelease: work that fails, or panics, releases its key, so the
// retry runs the work again.
func idempotentRelease(t *testing.T, newServer NewServer) {
	s := start(t, newServer)
	for i, body := range []string{"fail", "panic"} {
		t.Run(body, func(t *testing.T) {
			post := func() response {
				return s.do(t, http.MethodPost, "/idem/r1", strings.NewReader(body),
					"Authorization", "Bearer key_i:org_i", idempotency.HeaderKey, "order-"+body)
			}
			requireEnvelope(t, http.MethodPost, post(), apierror.Internal(nil))
			retry := post()
			assert.Equal(t, http.StatusCreated, retry.status, "the key was released: the retry ran")
			assert.Empty(t, retry.header.Values(idempotency.HeaderReplayed))
			assert.Equal(t, int64(2*(i+1)), s.fx.work.Load())
		})
	}
}

// idempotentInvalidKey: a key longer than 255 characters is VALIDATION and
// runs nothing.
func idempotentInvalidKey(t *testing.T, newServer NewServer) {
	s := start(t, newServer)
	r := s.do(t, http.MethodPost, "/idem/v1", strings.NewReader(`{}`),
		"Authorization", "Bearer key_i:org_i", idempotency.HeaderKey, strings.Repeat("k", 256))
	requireEnvelope(t, http.MethodPost, r, apierror.Validation(apierror.Issue{
		Path: "header:Idempotency-Key", Message: "Idempotency-Key must be at most 255 characters long.",
	}))
	assert.Equal(t, `{"error":{"code":"VALIDATION","message":"The request failed validation.","requestId":"`+requireID(t, r)+
		`","details":{"issues":[{"path":"header:Idempotency-Key","message":"Idempotency-Key must be at most 255 characters long."}]}}}`, string(r.body))
	assert.Zero(t, s.fx.work.Load())
}
