package main

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/idempotency"
)

// wireAnswer is a response as a client sees it on the wire, with what
// differs between any two runs (request IDs, random resource IDs, Date)
// normalised away.
type wireAnswer struct {
	Status           int
	Header           http.Header
	ContentLength    int64
	TransferEncoding []string
	Body             string
}

// randomIDs are the values that differ between two servers for the same
// request: request IDs and the UUIDs of created containers and jobs.
var randomIDs = regexp.MustCompile(`req_[0-7][0-9A-HJKMNP-TV-Z]{25}|(cnt|job)_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// normalise replaces the random IDs of s by their prefix, keeping lengths
// equal (so Content-Length still compares).
func normalise(s string) string {
	return randomIDs.ReplaceAllStringFunc(s, func(id string) string {
		return id[:4] + strings.Repeat("x", len(id)-4)
	})
}

// noRedirects is a client that shows a redirect rather than following it.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// sendRaw sends r and returns its normalised answer.
func sendRaw(t *testing.T, base string, r request) wireAnswer {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, base+r.path, body)
	require.NoError(t, err)
	if r.key != "" {
		req.Header.Set("Authorization", "Bearer "+r.key)
	}
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := noRedirects.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Regexp(t, `^req_[0-7][0-9A-HJKMNP-TV-Z]{25}$`, resp.Header.Get("X-Request-Id"))
	h := resp.Header.Clone()
	h.Del("Date")
	h.Set("X-Request-Id", normalise(h.Get("X-Request-Id")))
	return wireAnswer{
		Status: resp.StatusCode, Header: h, ContentLength: resp.ContentLength,
		TransferEncoding: resp.TransferEncoding, Body: normalise(string(b)),
	}
}

// TestSameWire sends one sequence of requests to a server of every
// framework and requires the same answers from all of them: status, every
// header (Allow, RateLimit-*, Retry-After, Idempotent-Replayed, Content-Length
// included) and body bytes, but for request IDs and random resource IDs.
// The clocks are frozen, so rate limits and kill-switch times agree to the
// second. The statuses are checked too, so that the frameworks agree on the
// right answer; and the access logs agree on every request's route template,
// status and code.
func TestSameWire(t *testing.T) {
	frozen := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	cfg := Config{
		ReadRate:  rateOf(1, 30), // frozen clock: 30 reads per key, no refill
		WriteRate: rateOf(1, 40), // frozen clock: 40 writes per key, enough for every step
		JobDelay:  time.Hour,     // jobs stay running: their bodies agree
		AccessLog: true,
		now:       func() time.Time { return frozen },
	}
	servers := make([]*testServer, len(testFrameworks))
	for i, fw := range testFrameworks {
		servers[i] = startServer(t, fw, cfg)
	}

	const create = "/v1/projects/prj_auto/content"
	idem := func(key string) map[string]string { return map[string]string{idempotency.HeaderKey: key} }
	operator := map[string]string{"Authorization": "Bearer " + adminToken}
	steps := []struct {
		name   string
		req    request
		status int
	}{
		{"healthz", request{method: "GET", path: "/healthz"}, 200},
		{"healthz HEAD", request{method: "HEAD", path: "/healthz"}, 200},
		{"healthz DELETE", request{method: "DELETE", path: "/healthz"}, 404},
		{"healthz OPTIONS", request{method: "OPTIONS", path: "/healthz"}, 404},
		{"healthz trailing slash", request{method: "GET", path: "/healthz/"}, 404},
		{"root", request{method: "GET", path: "/"}, 404},
		{"unknown path", request{method: "GET", path: "/nope"}, 404},
		{"unknown method", request{method: "BREW", path: "/healthz"}, 404},
		{"double slash", request{method: "GET", path: "//healthz"}, 404},
		{"dot dot", request{method: "GET", path: "/v1/../healthz"}, 401},
		{"dot dot with key", request{method: "GET", path: "/v1/../healthz", key: keyFull}, 404},
		{"dot", request{method: "GET", path: "/v1/./whoami", key: keyFull}, 404},
		{"double slash in v1", request{method: "GET", path: "/v1//whoami", key: keyFull}, 404},
		{"trailing dot", request{method: "GET", path: "/healthz/.", key: keyFull}, 404},

		{"v1 without key", request{method: "GET", path: "/v1"}, 401},
		{"v1", request{method: "GET", path: "/v1", key: keyFull}, 404},
		{"v1 slash", request{method: "GET", path: "/v1/", key: keyFull}, 404},
		{"unknown v1 path without key", request{method: "GET", path: "/v1/nope"}, 401},
		{"unknown v1 path", request{method: "POST", path: "/v1/nope/deeper", key: keyFull}, 404},
		{"unknown method on an unknown v1 path", request{method: "BREW", path: "/v1/nope", key: keyFull}, 404},
		{"unknown method without id", request{method: "BREW", path: "/v1/content//approve", key: keyFull}, 404},
		{"DELETE without id", request{method: "DELETE", path: "/v1/projects//content", key: keyFull}, 404},
		{"whoami", request{method: "GET", path: "/v1/whoami", key: keyFull}, 200},
		{"whoami HEAD", request{method: "HEAD", path: "/v1/whoami", key: keyFull}, 200},
		{"whoami HEAD without key", request{method: "HEAD", path: "/v1/whoami"}, 401},
		{"whoami DELETE without key", request{method: "DELETE", path: "/v1/whoami"}, 401},
		{"whoami DELETE", request{method: "DELETE", path: "/v1/whoami", key: keyFull}, 404},
		{"whoami OPTIONS", request{method: "OPTIONS", path: "/v1/whoami", key: keyFull}, 404},
		{"whoami trailing slash", request{method: "GET", path: "/v1/whoami/", key: keyFull}, 404},
		{"catalogue POST without key", request{method: "POST", path: "/v1/errors"}, 401},
		{"catalogue POST", request{method: "POST", path: "/v1/errors", key: keyFull}, 404},
		{"whoami unknown method", request{method: "BREW", path: "/v1/whoami", key: keyFull}, 404},
		{"catalogue HEAD", request{method: "HEAD", path: "/v1/errors"}, 200},
		{"example", request{method: "GET", path: "/v1/errors/RATE_LIMITED/example"}, 429},
		{"example KILL_SWITCH", request{method: "GET", path: "/v1/errors/KILL_SWITCH/example"}, 503},
		{"example INTERNAL", request{method: "GET", path: "/v1/errors/INTERNAL/example"}, 500},
		{"example unknown", request{method: "GET", path: "/v1/errors/NOPE/example"}, 404},
		{"example PUT", request{method: "PUT", path: "/v1/errors/NOT_FOUND/example", key: keyFull}, 404},
		{"example escaped", request{method: "GET", path: "/v1/errors/RATE%5FLIMITED/example"}, 429},

		{"create GET", request{method: "GET", path: create, key: keyFull}, 404},
		{"create PUT", request{method: "PUT", path: create, key: keyFull, body: `{"hook":"x"}`}, 404},
		{"create without scope", request{method: "POST", path: create, key: keyReadonly, body: `{"hook":"x"}`}, 403},
		{"create text/plain", request{method: "POST", path: create, key: keyFull, body: "hook=x", header: map[string]string{"Content-Type": "text/plain"}}, 422},
		{"create form", request{method: "POST", path: create, key: keyFull, body: "hook=x", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 422},
		{"create JSON with charset", request{method: "POST", path: create, key: keyFull, body: `{"hook":"x"}`, header: map[string]string{"Content-Type": "application/json; charset=utf-8"}}, 202},
		{"create with trailing bytes", request{method: "POST", path: create, key: keyFull, body: `{"hook":"x"} trailing`}, 422},
		{"create with a second value", request{method: "POST", path: create, key: keyFull, body: `{"hook":"x"}{"hook":"y"}`}, 422},
		{"create with a duplicated key", request{method: "POST", path: create, key: keyFull, body: `{"hook":"x","hook":"y"}`}, 422},
		{"create with invalid UTF-8", request{method: "POST", path: create, key: keyFull, body: "{\"hook\":\"\xff\"}"}, 422},
		{"create XML", request{method: "POST", path: create, key: keyFull, body: "<hook>x</hook>", header: map[string]string{"Content-Type": "application/xml"}}, 422},
		{"create unknown field", request{method: "POST", path: create, key: keyFull, body: `{"hook":"x","extra":1}`}, 202},
		{"create wrong type", request{method: "POST", path: create, key: keyFull, body: `{"hook":["x"]}`}, 422},
		{"create too large", request{method: "POST", path: create, key: keyFull, body: `{"hook":"` + strings.Repeat("a", maxBodyBytes) + `"}`}, 413},
		{"create idempotent", request{method: "POST", path: create, key: keyFull, body: `{"hook":"once"}`, header: idem("wire-1")}, 202},
		{"create replayed", request{method: "POST", path: create, key: keyFull, body: `{"hook":"once"}`, header: idem("wire-1")}, 202},
		{"create idempotency conflict", request{method: "POST", path: create, key: keyFull, body: `{"hook":"twice"}`, header: idem("wire-1")}, 409},
		{"create idempotent again", request{method: "POST", path: create, key: keyFull, body: `{"hook":"escaped"}`, header: idem("wire-3")}, 202},
		{"create replayed on the escaped path", request{method: "POST", path: "/v1/projects/prj%5Fauto/content", key: keyFull, body: `{"hook":"escaped"}`, header: idem("wire-3")}, 202},
		{"create idempotent with a query", request{method: "POST", path: create + "?draft=1", key: keyFull, body: `{"hook":"once"}`, header: idem("wire-1")}, 409},
		{"create HEAD", request{method: "HEAD", path: create, key: keyFull}, 404},
		{"create lowercase method", request{method: "post", path: create, key: keyFull, body: `{"hook":"x"}`}, 404},
		{"create empty body of another type", request{method: "POST", path: create, key: keyFull, header: map[string]string{"Content-Type": "text/plain"}}, 422},
		{"create bad Idempotency-Key", request{method: "POST", path: create, key: keyFull, body: `{"hook":"x"}`, header: idem(strings.Repeat("k", 256))}, 422},
		{"create too large with Idempotency-Key", request{method: "POST", path: create, key: keyFull, body: `{"hook":"` + strings.Repeat("a", maxBodyBytes) + `"}`, header: idem("wire-2")}, 413},
		{"approve missing", request{method: "POST", path: "/v1/content/cnt_nope/approve", key: keyFull}, 404},
		{"approve GET", request{method: "GET", path: "/v1/content/cnt_nope/approve", key: keyFull}, 404},
		{"content escaped slash", request{method: "GET", path: "/v1/content/a%2Fb", key: keyFull}, 404},
		{"content escaped slash DELETE", request{method: "DELETE", path: "/v1/content/a%2Fb", key: keyFull}, 404},
		{"schedule no body", request{method: "POST", path: "/v1/content/cnt_nope/schedule", key: keyFull}, 422},
		{"job missing", request{method: "GET", path: "/v1/jobs/job_nope", key: keyFull}, 404},
		{"job without id", request{method: "GET", path: "/v1/jobs/", key: keyFull}, 404},
		{"job without id DELETE", request{method: "DELETE", path: "/v1/jobs/", key: keyFull}, 404},
		{"approve without id", request{method: "POST", path: "/v1/content//approve", key: keyFull}, 404},
		{"approve without id DELETE", request{method: "DELETE", path: "/v1/content//approve", key: keyFull}, 404},
		{"example without code", request{method: "GET", path: "/v1/errors//example"}, 401},

		{"operator without token", request{method: "GET", path: "/admin/killswitch"}, 401},
		{"operator list", request{method: "GET", path: "/admin/killswitch", header: operator}, 200},
		{"operator list slash", request{method: "GET", path: "/admin/killswitch/", header: operator}, 200},
		{"operator POST", request{method: "POST", path: "/admin/killswitch", header: operator}, 404},
		{"operator unknown scope", request{method: "PUT", path: "/admin/killswitch/bogus/x", header: operator}, 404},
		{"operator bad body", request{method: "PUT", path: "/admin/killswitch/global", body: `{"nope":1}`, header: operator}, 422},
		{"global on", request{method: "PUT", path: "/admin/killswitch/global", body: `{"reason":"maintenance","expectedDurationSeconds":30}`, header: operator}, 200},
		{"operator list with switch", request{method: "GET", path: "/admin/killswitch", header: operator}, 200},
		{"global refuses without key", request{method: "GET", path: "/v1/whoami"}, 503},
		{"global refuses catalogue", request{method: "GET", path: "/v1/errors"}, 503},
		{"global refuses unknown v1 path", request{method: "DELETE", path: "/v1/nope"}, 503},
		{"global spares health", request{method: "GET", path: "/healthz"}, 200},
		{"global off", request{method: "DELETE", path: "/admin/killswitch/global", header: operator}, 204},
		{"key on", request{method: "PUT", path: "/admin/killswitch/key/key_readonly", header: operator}, 200},
		{"key refused", request{method: "GET", path: "/v1/whoami", key: keyReadonly}, 503},
		{"key refused before its scope check", request{method: "POST", path: create, key: keyReadonly, body: `{"hook":"x"}`}, 503},
		{"organization on", request{method: "PUT", path: "/admin/killswitch/organization/org_demo", header: operator}, 200},
		{"organization refused", request{method: "GET", path: "/v1/whoami", key: keyFull}, 503},
		{"organization off", request{method: "DELETE", path: "/admin/killswitch/organization/org_demo", header: operator}, 204},
		{"key off", request{method: "DELETE", path: "/admin/killswitch/key/key_readonly", header: operator}, 204},
	}
	// key_other's read bucket: 30 reads pass, the 31st is RATE_LIMITED.
	for i := range 30 {
		steps = append(steps, struct {
			name   string
			req    request
			status int
		}{"read " + string(rune('a'+i%26)), request{method: "GET", path: "/v1/whoami", key: keyOther}, 200})
	}
	steps = append(steps, []struct {
		name   string
		req    request
		status int
	}{
		{"rate limited", request{method: "GET", path: "/v1/whoami", key: keyOther}, 429},
		{"rate limited HEAD", request{method: "HEAD", path: "/v1/content/cnt_x", key: keyOther}, 429},
		{"rate limited unknown path", request{method: "GET", path: "/v1/nope", key: keyOther}, 429},
		{"write class still open", request{method: "POST", path: "/v1/content/cnt_x/reject", key: keyOther}, 404},
	}...)

	for _, step := range steps {
		var first wireAnswer
		for i, s := range servers {
			got := sendRaw(t, s.URL, step.req)
			require.Equal(t, step.status, got.Status, "%s on %s: %s", step.name, testFrameworks[i], got.Body)
			if i == 0 {
				first = got
				continue
			}
			require.Equal(t, first, got, "%s: %s and %s answer differently", step.name, testFrameworks[0], testFrameworks[i])
		}
	}

	// Every response was written before its access line: each server has
	// one line per step once they are all in.
	access := func(s *testServer) []string {
		var out []string
		for _, line := range s.logs.lines(t) {
			if line["msg"] == "request" {
				out = append(out, fmt.Sprintf("%v %v %v %v", line["method"], line["route"], line["status"], line["code"]))
			}
		}
		return out
	}
	for _, s := range servers {
		require.Eventually(t, func() bool { return len(access(s)) == len(steps) }, 5*time.Second, 10*time.Millisecond)
	}
	want := access(servers[0])
	require.Contains(t, want, "GET /v1/whoami 200 <nil>")
	require.Contains(t, want, "GET /v1/errors/:code/example 429 RATE_LIMITED")
	require.Contains(t, want, "DELETE /v1/* 404 NOT_FOUND", "a 405 under /v1 is logged on the not-found route")
	require.NotContains(t, want, "POST /v1/projects/:projectId/content 200 <nil>", "a replay is logged with its status")
	for i, s := range servers[1:] {
		require.Equal(t, want, access(s), "%s and %s log differently", testFrameworks[0], testFrameworks[i+1])
	}
}
