// Package servicetest is the one test of the migration guide's service,
// run against its echo v4 program (examples/migration/echo4) and its echo v5
// program (examples/migration/echo5): the same requests, the same answers,
// byte for byte, in memory and on a real Redis.
package servicetest

import (
	"encoding/json"
	"expvar"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/internal/redistest"
)

// AdminToken is the operator token the programs are started with.
const AdminToken = "op_test"

// Options are what a test starts a program with.
type Options struct {
	RedisURL, RedisPrefix string // RedisURL "": in memory
}

// Instance is a program serving on a real loopback listener.
type Instance struct {
	URL            string
	ErrorResponses *expvar.Map
}

// Start starts a program with opts and stops it when the test ends.
type Start func(t *testing.T, opts Options) Instance

// Run runs the suite on a program started in memory, then on a real
// redis-server (CI=true: a missing Redis fails the test).
func Run(t *testing.T, start Start) {
	t.Run("memory", func(t *testing.T) { suite(t, start(t, Options{})) })
	t.Run("redis", func(t *testing.T) {
		inst := redistest.Server(t)
		suite(t, start(t, Options{RedisURL: inst.URL(), RedisPrefix: inst.Prefix(t)}))
	})
}

// requestIDs are the values that differ between runs.
var requestIDs = regexp.MustCompile(`req_[0-7][0-9A-HJKMNP-TV-Z]{25}`)

// answer is a response with its request ID checked and replaced by
// "<id>".
type answer struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, s Instance, method, path, key, body string, header ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	id := resp.Header.Get("X-Request-Id")
	require.Regexp(t, `^`+requestIDs.String()+`$`, id, "%s %s", method, path)
	if resp.StatusCode >= 400 {
		var env struct {
			Error struct {
				RequestID string `json:"requestId"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal(b, &env), "%s", b)
		require.Equal(t, id, env.Error.RequestID, "the envelope's requestId is the header's")
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: requestIDs.ReplaceAllString(string(b), "<id>")}
}

// Create sends POST /v1/projects with body as application/json and an API
// key, on a program started with start, in memory, and returns the status
// and the body (request ID replaced by "<id>").
func Create(t *testing.T, start Start, body string) (int, string) {
	t.Helper()
	got := send(t, start(t, Options{}), "POST", "/v1/projects", "lp_demo", body)
	return got.status, got.body
}

// suite is the test: a couple of envelopes of each concern.
func suite(t *testing.T, s Instance) {
	const key = "lp_demo"
	sent := map[int]int{} // the error responses sent, by status

	envelopes := []struct {
		name              string
		method, path, key string
		body              string
		status            int
		want              string
	}{
		{"no key", "GET", "/v1/projects/prj_1", "", "", 401,
			`{"error":{"code":"UNAUTHENTICATED","message":"Missing, malformed, or wrong API key.","requestId":"<id>"}}`},
		{"unknown key", "GET", "/v1/projects/prj_1", "lp_nope", "", 401,
			`{"error":{"code":"UNAUTHENTICATED","message":"The API key is not valid.","requestId":"<id>"}}`},
		{"unknown project", "GET", "/v1/projects/prj_nope", key, "", 404,
			`{"error":{"code":"NOT_FOUND","message":"The resource does not exist.","requestId":"<id>"}}`},
		{"unknown route", "GET", "/nope", "", "", 404,
			`{"error":{"code":"NOT_FOUND","message":"The resource does not exist.","requestId":"<id>"}}`},
		{"unknown /v1 route", "GET", "/v1/nope", "", "", 401,
			`{"error":{"code":"UNAUTHENTICATED","message":"Missing, malformed, or wrong API key.","requestId":"<id>"}}`},
		{"method not served", "DELETE", "/v1/projects/prj_1", key, "", 404,
			`{"error":{"code":"NOT_FOUND","message":"The resource does not exist.","requestId":"<id>"}}`},
		{"blank name", "POST", "/v1/projects", key, `{"name":" "}`, 422,
			`{"error":{"code":"VALIDATION","message":"The request failed validation.","requestId":"<id>","details":{"issues":[{"path":"name","message":"must not be empty."}]}}}`},
		{"malformed body", "POST", "/v1/projects", key, `{"name" "x"}`, 422,
			`{"error":{"code":"VALIDATION","message":"The request failed validation.","requestId":"<id>","details":{"issues":[{"path":"body","message":"The body is not valid JSON (syntax error at byte offset 9)."}]}}}`},
		{"wrong type", "POST", "/v1/projects", key, `{"name":1}`, 422,
			`{"error":{"code":"VALIDATION","message":"The request failed validation.","requestId":"<id>","details":{"issues":[{"path":"name","message":"must be a string, got number."}]}}}`},
	}
	for _, tt := range envelopes {
		got := send(t, s, tt.method, tt.path, tt.key, tt.body)
		require.Equal(t, tt.status, got.status, "%s: %s", tt.name, got.body)
		require.Equal(t, tt.want, got.body, tt.name)
		require.Equal(t, "application/json", got.header.Get("Content-Type"), tt.name)
		require.Equal(t, "SAMEORIGIN", got.header.Get("X-Frame-Options"), "%s: echo's Secure runs inside errkit", tt.name)
		allow := ""
		if tt.name == "method not served" {
			allow = "OPTIONS, GET" // kept from the router's 405, which answers NOT_FOUND
		}
		require.Equal(t, allow, got.header.Get("Allow"), tt.name)
		sent[tt.status]++
	}

	found := send(t, s, "GET", "/v1/projects/prj_1", key, "")
	require.Equal(t, 200, found.status)
	require.JSONEq(t, `{"id":"prj_1","name":"Launch"}`, found.body)
	require.Regexp(t, `^"read";r=\d+;t=\d+$`, found.header.Get("RateLimit"))
	require.Equal(t, `"read";q=40;w=2`, found.header.Get("RateLimit-Policy"))

	// Idempotency-Key: a retry replays, another body with the key conflicts.
	idem := func(body string) answer {
		return send(t, s, "POST", "/v1/projects", key, body, "Idempotency-Key", "create-1")
	}
	created := idem(`{"name":"Docs"}`)
	require.Equal(t, 201, created.status, created.body)
	require.Empty(t, created.header.Get("Idempotent-Replayed"))
	replayed := idem(`{"name":"Docs"}`)
	require.Equal(t, 201, replayed.status)
	require.Equal(t, "true", replayed.header.Get("Idempotent-Replayed"))
	require.Equal(t, created.body, replayed.body)
	conflict := idem(`{"name":"Other"}`)
	require.Equal(t, 409, conflict.status)
	require.Contains(t, conflict.body, `{"error":{"code":"IDEMPOTENCY_CONFLICT",`)
	sent[409]++

	// The kill switch, flipped through the operator API.
	op := []string{"Authorization", "Bearer " + AdminToken}
	require.Equal(t, 200, send(t, s, "PUT", "/admin/killswitch/key/key_demo", "", `{"reason":"abuse"}`, op...).status)
	off := send(t, s, "GET", "/v1/projects/prj_1", key, "")
	require.Equal(t, 503, off.status)
	require.Equal(t, `{"error":{"code":"KILL_SWITCH","message":"This API key has been switched off. Contact Layers support.","requestId":"<id>","details":{"scope":"key"}}}`, off.body)
	sent[503]++
	require.Equal(t, 204, send(t, s, "DELETE", "/admin/killswitch/key/key_demo", "", "", op...).status)
	require.Equal(t, 200, send(t, s, "GET", "/v1/projects/prj_1", key, "").status)
	unauthorized := send(t, s, "GET", "/admin/killswitch", "", "")
	require.Equal(t, 401, unauthorized.status)
	sent[401]++

	// The write bucket (burst 10) runs out: RATE_LIMITED with Retry-After.
	var limited answer
	for range 20 {
		if limited = send(t, s, "POST", "/v1/projects", key, `{"name":"Burst"}`); limited.status != 201 {
			break
		}
	}
	require.Equal(t, 429, limited.status, limited.body)
	require.Equal(t, "1", limited.header.Get("Retry-After"))
	// The wait is what is left of one token at 5/s: at most 200ms.
	wait := regexp.MustCompile(`"retryAfterMs":(\d+)`)
	m := wait.FindStringSubmatch(limited.body)
	require.NotNil(t, m, limited.body)
	ms, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	require.True(t, ms >= 1 && ms <= 200, "retryAfterMs %d", ms)
	require.Equal(t, `{"error":{"code":"RATE_LIMITED","message":"Rate limit exceeded. Retry after the time given in Retry-After.","requestId":"<id>","details":{"retryAfterMs":<ms>}}}`,
		wait.ReplaceAllString(limited.body, `"retryAfterMs":<ms>`))
	sent[429]++

	// Every error response was counted once, by its status.
	want := map[string]string{}
	for status, n := range sent {
		want[strconv.Itoa(status)] = strconv.Itoa(n)
	}
	got := map[string]string{}
	s.ErrorResponses.Do(func(kv expvar.KeyValue) { got[kv.Key] = kv.Value.String() })
	require.Equal(t, want, got)
}
