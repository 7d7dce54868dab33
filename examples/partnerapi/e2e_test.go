package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/jobs"
	"github.com/layershq/errkit/ratelimit"
)

func rateOf(perSecond float64, burst int) ratelimit.Rate {
	return ratelimit.Rate{PerSecond: perSecond, Burst: burst}
}

// TestRoutes walks every stateless answer of every route over HTTP: status,
// code, exact details, X-Request-Id == requestId.
func TestRoutes(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		s := startServer(t, fw, unlimited)
		const create = "/v1/projects/prj_demo/content"
		tests := []struct {
			name    string
			req     request
			status  int
			code    string // "" for a success
			details string // exact details ("" none); for a success, the exact body
			message string // expected message, when the test is about it
			allow   string // expected Allow header ("" none)
		}{
			{name: "healthz", req: request{method: "GET", path: "/healthz"}, status: 200, details: `{"status":"ok"}`},
			{name: "whoami", req: request{method: "GET", path: "/v1/whoami", key: keyFull}, status: 200,
				details: `{"keyId":"key_full","organizationId":"org_demo","scopes":["content:read","content:write","jobs:read"]}`},
			{name: "whoami readonly", req: request{method: "GET", path: "/v1/whoami", key: keyReadonly}, status: 200,
				details: `{"keyId":"key_readonly","organizationId":"org_demo","scopes":["content:read","jobs:read"]}`},
			{name: "whoami lowercase scheme", req: request{method: "GET", path: "/v1/whoami", header: map[string]string{"Authorization": "bearer " + keyBroke}}, status: 200,
				details: `{"keyId":"key_broke","organizationId":"org_broke","scopes":["content:read","content:write","jobs:read"]}`},

			// 401 variants, on every /v1 route.
			{name: "no Authorization", req: request{method: "GET", path: "/v1/whoami"}, status: 401, code: "UNAUTHENTICATED",
				message: "The Authorization header is missing."},
			{name: "Basic scheme", req: request{method: "GET", path: "/v1/whoami", header: map[string]string{"Authorization": "Basic bHBfZGVtb19mdWxsOg=="}}, status: 401, code: "UNAUTHENTICATED",
				message: `The Authorization header must be "Bearer <API key>".`},
			{name: "Bearer without key", req: request{method: "GET", path: "/v1/whoami", header: map[string]string{"Authorization": "Bearer "}}, status: 401, code: "UNAUTHENTICATED"},
			{name: "two words", req: request{method: "GET", path: "/v1/whoami", header: map[string]string{"Authorization": "Bearer lp_demo_full extra"}}, status: 401, code: "UNAUTHENTICATED"},
			// Two credentials are refused, whichever would "win": the same
			// key twice, a right and a wrong one, one value joined with a
			// comma as proxies join repeated headers.
			{name: "Authorization twice", req: request{method: "GET", path: "/v1/whoami", headers: http.Header{"Authorization": {"Bearer " + keyFull, "Bearer " + keyFull}}}, status: 401, code: "UNAUTHENTICATED",
				message: "Send exactly one Authorization header with one credential."},
			{name: "Authorization twice, second wrong", req: request{method: "GET", path: "/v1/whoami", headers: http.Header{"Authorization": {"Bearer " + keyFull, "Bearer lp_nope"}}}, status: 401, code: "UNAUTHENTICATED",
				message: "Send exactly one Authorization header with one credential."},
			{name: "Authorization joined", req: request{method: "GET", path: "/v1/whoami", header: map[string]string{"Authorization": "Bearer " + keyFull + ", Bearer " + keyOther}}, status: 401, code: "UNAUTHENTICATED",
				message: "Send exactly one Authorization header with one credential."},
			{name: "Authorization twice on create", req: request{method: "POST", path: create, body: `{"hook":"x"}`, headers: http.Header{"Authorization": {"Bearer " + keyFull, "Bearer " + keyOther}}}, status: 401, code: "UNAUTHENTICATED"},
			{name: "token outside RFC 6750", req: request{method: "GET", path: "/v1/whoami", header: map[string]string{"Authorization": "Bearer lp_demo_full;"}}, status: 401, code: "UNAUTHENTICATED",
				message: `The Authorization header must be "Bearer <API key>".`},
			{name: "unknown key", req: request{method: "GET", path: "/v1/whoami", key: "lp_revoked"}, status: 401, code: "UNAUTHENTICATED",
				message: "The API key is not valid."},
			{name: "unknown key on create", req: request{method: "POST", path: create, key: "lp_nope", body: `{"hook":"x"}`}, status: 401, code: "UNAUTHENTICATED"},
			{name: "no key on content", req: request{method: "GET", path: "/v1/content/cnt_x"}, status: 401, code: "UNAUTHENTICATED"},
			{name: "no key on approve", req: request{method: "POST", path: "/v1/content/cnt_x/approve"}, status: 401, code: "UNAUTHENTICATED"},
			{name: "no key on reject", req: request{method: "POST", path: "/v1/content/cnt_x/reject"}, status: 401, code: "UNAUTHENTICATED"},
			{name: "no key on schedule", req: request{method: "POST", path: "/v1/content/cnt_x/schedule"}, status: 401, code: "UNAUTHENTICATED"},
			{name: "no key on job", req: request{method: "GET", path: "/v1/jobs/job_x"}, status: 401, code: "UNAUTHENTICATED"},
			{name: "no key on unknown /v1 route", req: request{method: "GET", path: "/v1/nope"}, status: 401, code: "UNAUTHENTICATED"},
			{name: "unknown /v1 route", req: request{method: "GET", path: "/v1/nope", key: keyFull}, status: 404, code: "NOT_FOUND"},
			{name: "unknown route", req: request{method: "GET", path: "/nope"}, status: 404, code: "NOT_FOUND"},

			// Scopes.
			{name: "create without content:write", req: request{method: "POST", path: create, key: keyReadonly, body: `{"hook":"x"}`}, status: 403, code: "FORBIDDEN_SCOPE",
				details: `{"requiredScope":"content:write"}`},
			{name: "approve without content:write", req: request{method: "POST", path: "/v1/content/cnt_x/approve", key: keyReadonly}, status: 403, code: "FORBIDDEN_SCOPE",
				details: `{"requiredScope":"content:write"}`},
			{name: "reject without content:write", req: request{method: "POST", path: "/v1/content/cnt_x/reject", key: keyReadonly}, status: 403, code: "FORBIDDEN_SCOPE",
				details: `{"requiredScope":"content:write"}`},
			{name: "schedule without content:write", req: request{method: "POST", path: "/v1/content/cnt_x/schedule", key: keyReadonly}, status: 403, code: "FORBIDDEN_SCOPE",
				details: `{"requiredScope":"content:write"}`},

			// VALIDATION of the create body.
			{name: "malformed JSON", req: request{method: "POST", path: create, key: keyFull, body: `{"hook":`}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"body","message":"The body is not valid JSON (it ends too early)."}]}`},
			{name: "JSON syntax error", req: request{method: "POST", path: create, key: keyFull, body: `{"hook" "x"}`}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"body","message":"The body is not valid JSON (syntax error at byte offset 8)."}]}`},
			{name: "hook of the wrong type", req: request{method: "POST", path: create, key: keyFull, body: `{"hook":42}`}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"hook","message":"must be a string, got number."}]}`},
			{name: "hook missing", req: request{method: "POST", path: create, key: keyFull, body: `{}`}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"hook","message":"is required."}]}`},
			{name: "no body", req: request{method: "POST", path: create, key: keyFull}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"hook","message":"is required."}]}`},
			{name: "hook empty", req: request{method: "POST", path: create, key: keyFull, body: `{"hook":""}`}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"hook","message":"must not be empty."}]}`},
			{name: "hook blank", req: request{method: "POST", path: create, key: keyFull, body: `{"hook":"  \t "}`}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"hook","message":"must not be empty."}]}`},
			{name: "hook of 281 characters", req: request{method: "POST", path: create, key: keyFull, body: `{"hook":"` + strings.Repeat("é", 281) + `"}`}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"hook","message":"must be at most 280 characters."}]}`},
			{name: "not JSON", req: request{method: "POST", path: create, key: keyFull, body: "hook=x", header: map[string]string{"Content-Type": "text/plain"}}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"header:Content-Type","message":"Unsupported Content-Type; send application/json."}]}`},
			// Strict bodies: only one reading of a body is ever bound.
			{name: "XML body", req: request{method: "POST", path: create, key: keyFull, body: `<content><hook>x</hook></content>`, header: map[string]string{"Content-Type": "application/xml"}}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"header:Content-Type","message":"Unsupported Content-Type; send application/json."}]}`},
			{name: "form body", req: request{method: "POST", path: create, key: keyFull, body: "hook=x", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"header:Content-Type","message":"Unsupported Content-Type; send application/json."}]}`},
			{name: "JSON body without Content-Type", req: request{method: "POST", path: create, key: keyFull, body: `{"hook":"x"}`, header: map[string]string{"Content-Type": ""}}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"header:Content-Type","message":"Content-Type is required; send application/json."}]}`},
			{name: "charset other than utf-8", req: request{method: "POST", path: create, key: keyFull, body: `{"hook":"x"}`, header: map[string]string{"Content-Type": "application/json; charset=latin1"}}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"header:Content-Type","message":"The only charset accepted is utf-8."}]}`},
			{name: "trailing garbage", req: request{method: "POST", path: create, key: keyFull, body: `{"hook":"x"} garbage`}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"body","message":"The body has data after the JSON value (at byte offset 13)."}]}`},
			{name: "two JSON values", req: request{method: "POST", path: create, key: keyFull, body: `{"hook":"x"}{"hook":"y"}`}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"body","message":"The body has data after the JSON value (at byte offset 12)."}]}`},
			{name: "invalid UTF-8", req: request{method: "POST", path: create, key: keyFull, body: "{\"hook\":\"caf\xe9\"}"}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"body","message":"The body is not valid UTF-8 (invalid byte at offset 12)."}]}`},
			{name: "duplicated key", req: request{method: "POST", path: create, key: keyFull, body: `{"hook":"x","hook":"y"}`}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"hook","message":"appears more than once in its object."}]}`},
			{name: "lone surrogate", req: request{method: "POST", path: create, key: keyFull, body: `{"hook":"\ud800"}`}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"body","message":"The body escapes half a UTF-16 surrogate pair (at byte offset 9)."}]}`},
			{name: "schedule with trailing garbage", req: request{method: "POST", path: "/v1/content/cnt_x/schedule", key: keyFull, body: `{"publishAt":"2099-01-01T00:00:00Z"}]`}, status: 422, code: "VALIDATION",
				details: `{"issues":[{"path":"body","message":"The body has data after the JSON value (at byte offset 36)."}]}`},

			// FORBIDDEN_FENCE, even when the rest of the body is fine.
			{name: "engagement field", req: request{method: "POST", path: create, key: keyFull, body: `{"hook":"x","engagement":{"boost":true}}`}, status: 403, code: "FORBIDDEN_FENCE",
				message: "Fields gated behind a future release: engagement."},
			{name: "engagement null", req: request{method: "POST", path: create, key: keyFull, body: `{"hook":"x","engagement":null}`}, status: 403, code: "FORBIDDEN_FENCE"},

			// NOT_FOUND and BILLING_EXHAUSTED.
			{name: "missing project", req: request{method: "POST", path: "/v1/projects/prj_nope/content", key: keyFull, body: `{"hook":"x"}`}, status: 404, code: "NOT_FOUND"},
			{name: "other org's project", req: request{method: "POST", path: "/v1/projects/prj_other/content", key: keyFull, body: `{"hook":"x"}`}, status: 404, code: "NOT_FOUND"},
			{name: "empty wallet", req: request{method: "POST", path: "/v1/projects/prj_broke/content", key: keyBroke, body: `{"hook":"x"}`}, status: 402, code: "BILLING_EXHAUSTED",
				details: `{"reason":"insufficient"}`},
			{name: "missing container", req: request{method: "GET", path: "/v1/content/cnt_nope", key: keyFull}, status: 404, code: "NOT_FOUND"},
			{name: "approve missing container", req: request{method: "POST", path: "/v1/content/cnt_nope/approve", key: keyFull}, status: 404, code: "NOT_FOUND"},
			{name: "schedule missing container", req: request{method: "POST", path: "/v1/content/cnt_nope/schedule", key: keyFull, body: `{"publishAt":"2099-01-01T00:00:00Z"}`}, status: 404, code: "NOT_FOUND"},
			{name: "missing job", req: request{method: "GET", path: "/v1/jobs/job_nope", key: keyFull}, status: 404, code: "NOT_FOUND"},
			{name: "405 answers NOT_FOUND", req: request{method: "DELETE", path: "/v1/whoami", key: keyFull}, status: 404, code: "NOT_FOUND", allow: "GET, HEAD"},
			{name: "405 needs a key under /v1", req: request{method: "DELETE", path: "/v1/whoami"}, status: 401, code: "UNAUTHENTICATED"},
			{name: "OPTIONS answers NOT_FOUND", req: request{method: "OPTIONS", path: "/v1/content/cnt_x", key: keyFull}, status: 404, code: "NOT_FOUND", allow: "GET, HEAD"},
			{name: "GET on a POST route", req: request{method: "GET", path: create, key: keyFull}, status: 404, code: "NOT_FOUND", allow: "POST"},
			{name: "405 on a public route", req: request{method: "POST", path: "/healthz"}, status: 404, code: "NOT_FOUND", allow: "GET, HEAD"},
			{name: "HEAD on a GET route", req: request{method: "HEAD", path: "/v1/whoami", key: keyFull}, status: 200},

			// PAYLOAD_TOO_LARGE: one byte over 1 MiB.
			{name: "body over 1 MiB", req: request{method: "POST", path: create, key: keyFull, body: `{"hook":"` + strings.Repeat("a", maxBodyBytes) + `"}`}, status: 413, code: "PAYLOAD_TOO_LARGE",
				details: `{"maxBytes":1048576}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp := s.do(t, tt.req)
				require.Equal(t, tt.allow, resp.header.Get("Allow"))
				if tt.code == "" {
					require.Equal(t, tt.status, resp.status, "body: %s", resp.body)
					require.Equal(t, "application/json", resp.header.Get("Content-Type"))
					if tt.req.method == "HEAD" {
						require.Empty(t, resp.body)
						return
					}
					require.JSONEq(t, tt.details, string(resp.body))
					return
				}
				env := requireError(t, resp, tt.status, tt.code)
				if tt.details != "" || tt.code != "VALIDATION" {
					requireDetails(t, env, tt.details)
				} else {
					require.Contains(t, string(env.Error.Details), `"issues":[{`)
				}
				if tt.message != "" {
					require.Equal(t, tt.message, env.Error.Message)
				}
				require.NotContains(t, string(resp.body), "lp_", "an API key leaked into the body")
			})
		}

		// Every log line is about a request and carries its requestId; keys
		// never appear in the log.
		for _, line := range s.logs.lines(t) {
			require.Regexp(t, `^req_`, line["requestId"], "line without requestId: %v", line)
			b, _ := json.Marshal(line)
			require.NotContains(t, string(b), "lp_demo_full")
		}
	})
}

// TestPayloadTooLargeChunked sends a body over 1 MiB without Content-Length:
// the limit is enforced while reading.
func TestPayloadTooLargeChunked(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		s := startServer(t, fw, unlimited)
		body := io.MultiReader(strings.NewReader(`{"hook":"`), strings.NewReader(strings.Repeat("a", 2*maxBodyBytes)), strings.NewReader(`"}`))
		req, err := http.NewRequest("POST", s.URL+"/v1/projects/prj_demo/content", io.NopCloser(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+keyFull)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(idempotency.HeaderKey, "chunked-1")
		req.ContentLength = -1 // unknown: sent chunked
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		env := requireError(t, response{resp.StatusCode, resp.Header, b}, 413, "PAYLOAD_TOO_LARGE")
		requireDetails(t, env, `{"maxBytes":1048576}`)
	})
}

// TestNotFoundDoesNotLeakExistence: a project that does not exist and
// another org's project answer the same bytes but for the requestId.
func TestNotFoundDoesNotLeakExistence(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		s := startServer(t, fw, unlimited)
		created := s.do(t, request{method: "POST", path: "/v1/projects/prj_other/content", key: keyOther, body: `{"hook":"theirs"}`})
		require.Equal(t, 202, created.status)
		var cnt createContentResponse
		decodeJSON(t, created, &cnt)

		pairs := []struct{ name, missing, other string }{
			{"project", "/v1/projects/prj_missing/content", "/v1/projects/prj_other/content"},
			{"container", "/v1/content/cnt_missing", "/v1/content/" + cnt.ContainerID},
			{"approve", "/v1/content/cnt_missing/approve", "/v1/content/" + cnt.ContainerID + "/approve"},
			{"job", "/v1/jobs/job_missing", "/v1/jobs/" + cnt.JobID},
		}
		for _, p := range pairs {
			t.Run(p.name, func(t *testing.T) {
				method, body := "GET", ""
				if strings.HasSuffix(p.missing, "/content") || strings.HasSuffix(p.missing, "/approve") {
					method, body = "POST", `{"hook":"mine"}`
				}
				a := s.do(t, request{method: method, path: p.missing, key: keyFull, body: body})
				b := s.do(t, request{method: method, path: p.other, key: keyFull, body: body})
				envA := requireError(t, a, 404, "NOT_FOUND")
				envB := requireError(t, b, 404, "NOT_FOUND")
				require.NotEqual(t, envA.Error.RequestID, envB.Error.RequestID)
				require.Equal(t, string(a.body), strings.Replace(string(b.body), envB.Error.RequestID, envA.Error.RequestID, 1))
				require.Equal(t, a.header.Get("Content-Length"), b.header.Get("Content-Length"))
			})
		}
		// The owner still sees it.
		require.Equal(t, 200, s.do(t, request{method: "GET", path: "/v1/content/" + cnt.ContainerID, key: keyOther}).status)
	})
}

// createContent creates a container and returns the 202 body.
func createContent(t *testing.T, s *testServer, project, hook string) createContentResponse {
	t.Helper()
	body, err := json.Marshal(map[string]string{"hook": hook})
	require.NoError(t, err)
	resp := s.do(t, request{method: "POST", path: "/v1/projects/" + project + "/content", key: keyFull, body: string(body)})
	require.Equal(t, 202, resp.status, "body: %s", resp.body)
	var out createContentResponse
	decodeJSON(t, resp, &out)
	require.Regexp(t, `^cnt_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, out.ContainerID)
	require.Regexp(t, `^job_[0-9a-f-]{36}$`, out.JobID)
	return out
}

// TestApprovalAndSchedule walks the content life cycle: approval,
// rejection, their CONFLICTs, CONTENT_REJECTED and APPROVAL_REQUIRED.
func TestApprovalAndSchedule(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		s := startServer(t, fw, unlimited)
		future := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
		schedule := func(id, publishAt string) response {
			return s.do(t, request{method: "POST", path: "/v1/content/" + id + "/schedule", key: keyFull, body: `{"publishAt":"` + publishAt + `"}`})
		}
		post := func(id, action string) response {
			return s.do(t, request{method: "POST", path: "/v1/content/" + id + "/" + action, key: keyFull})
		}

		t.Run("approval flow", func(t *testing.T) {
			cnt := createContent(t, s, "prj_demo", "3 ways to sleep better")
			require.Equal(t, apierror.ApprovalPending, cnt.ApprovalStatus)
			id := cnt.ContainerID

			got := s.do(t, request{method: "GET", path: "/v1/content/" + id, key: keyReadonly})
			require.Equal(t, 200, got.status)
			require.JSONEq(t, `{"containerId":"`+id+`","projectId":"prj_demo","hook":"3 ways to sleep better","approvalStatus":"pending"}`, string(got.body))

			env := requireError(t, schedule(id, future), 403, "APPROVAL_REQUIRED")
			requireDetails(t, env, `{"containerId":"`+id+`","approvalStatus":"pending"}`)

			approved := post(id, "approve")
			require.Equal(t, 200, approved.status)
			require.JSONEq(t, `{"containerId":"`+id+`","projectId":"prj_demo","hook":"3 ways to sleep better","approvalStatus":"approved"}`, string(approved.body))
			env = requireError(t, post(id, "approve"), 409, "CONFLICT")
			requireDetails(t, env, `{"reason":"already_approved"}`)

			for _, bad := range []struct{ publishAt, message string }{
				{"2020-01-01T00:00:00Z", "must be in the future."},
				{time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), "must be in the future."},
				{"tomorrow", "must be an RFC 3339 date-time, for example 2030-01-02T15:04:05Z."},
				{"2099-13-01T00:00:00Z", "must be an RFC 3339 date-time, for example 2030-01-02T15:04:05Z."},
			} {
				env = requireError(t, schedule(id, bad.publishAt), 422, "VALIDATION")
				requireDetails(t, env, `{"issues":[{"path":"publishAt","message":"`+bad.message+`"}]}`)
			}
			env = requireError(t, s.do(t, request{method: "POST", path: "/v1/content/" + id + "/schedule", key: keyFull, body: `{}`}), 422, "VALIDATION")
			requireDetails(t, env, `{"issues":[{"path":"publishAt","message":"is required."}]}`)

			ok := schedule(id, future)
			require.Equal(t, 200, ok.status, "body: %s", ok.body)
			require.JSONEq(t, `{"containerId":"`+id+`","scheduledFor":"`+future+`"}`, string(ok.body))
			got = s.do(t, request{method: "GET", path: "/v1/content/" + id, key: keyFull})
			require.JSONEq(t, `{"containerId":"`+id+`","projectId":"prj_demo","hook":"3 ways to sleep better","approvalStatus":"approved","scheduledFor":"`+future+`"}`, string(got.body))
		})

		t.Run("rejection is one-way", func(t *testing.T) {
			id := createContent(t, s, "prj_demo", "a hook nobody likes").ContainerID
			rejected := post(id, "reject")
			require.Equal(t, 200, rejected.status)
			require.Contains(t, string(rejected.body), `"approvalStatus":"rejected"`)

			env := requireError(t, post(id, "reject"), 409, "CONFLICT")
			requireDetails(t, env, `{"reason":"already_rejected"}`)
			for _, resp := range []response{post(id, "approve"), schedule(id, future)} {
				env = requireError(t, resp, 409, "CONTENT_REJECTED")
				requireDetails(t, env, "")
				require.Contains(t, env.Error.Message, id)
			}
		})

		t.Run("project without approval", func(t *testing.T) {
			cnt := createContent(t, s, "prj_auto", "no approval needed")
			require.Equal(t, apierror.ApprovalApproved, cnt.ApprovalStatus)
			require.Equal(t, 200, schedule(cnt.ContainerID, future).status)
			env := requireError(t, post(cnt.ContainerID, "approve"), 409, "CONFLICT")
			requireDetails(t, env, `{"reason":"already_approved"}`)
		})
	})
}

// pollJob polls GET /v1/jobs/:jobId until the job is terminal.
func pollJob(t *testing.T, s *testServer, key, jobID string) (jobs.Job, response) {
	t.Helper()
	var (
		job  jobs.Job
		resp response
	)
	_, ok := waitFor(t, 5*time.Second, func() bool {
		resp = s.do(t, request{method: "GET", path: "/v1/jobs/" + jobID, key: key})
		require.Equal(t, 200, resp.status, "body: %s", resp.body)
		var err error
		job, err = jobs.DecodeJob(resp.body)
		require.NoError(t, err)
		return job.Status.Terminal()
	})
	require.True(t, ok, "job %s did not finish: %s", jobID, resp.body)
	return job, resp
}

// TestJobs polls a job to success and another to MODERATION_BLOCKED.
func TestJobs(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		s := startServer(t, fw, Config{ReadRate: unlimited.ReadRate, WriteRate: unlimited.WriteRate, JobDelay: 200 * time.Millisecond})

		t.Run("succeeds", func(t *testing.T) {
			cnt := createContent(t, s, "prj_auto", "5 breakfast ideas")
			first := s.do(t, request{method: "GET", path: "/v1/jobs/" + cnt.JobID, key: keyReadonly})
			require.Equal(t, 200, first.status)
			require.Equal(t, `{"status":"running"}`, strings.TrimSpace(string(first.body)))

			job, resp := pollJob(t, s, keyFull, cnt.JobID)
			require.Equal(t, jobs.StatusSucceeded, job.Status)
			require.NoError(t, job.Err())
			require.Regexp(t, `^\{"status":"succeeded","finishedAt":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ","result":\{"containerId":"`+cnt.ContainerID+`"\}\}$`, strings.TrimSpace(string(resp.body)))
		})

		t.Run("moderation blocked", func(t *testing.T) {
			cnt := createContent(t, s, "prj_auto", "Graphic VIOLENCE sells")
			job, resp := pollJob(t, s, keyFull, cnt.JobID)
			require.Equal(t, jobs.StatusFailed, job.Status)
			require.Regexp(t, `^\{"status":"failed","finishedAt":"[^"]+","error":\{"code":"MODERATION_BLOCKED","message":"[^"]+","data":\{"stage":"finalizing","safetyCategory":"violence"\}\}\}$`, strings.TrimSpace(string(resp.body)))
			spec, _ := apierror.Lookup(apierror.CodeModerationBlocked)
			require.Equal(t, spec.Message, job.Error.Message())

			err := job.Err()
			require.True(t, apierror.HasCode(err, apierror.CodeModerationBlocked), "%v", err)
			stage, ok := jobs.StageOf(err)
			require.True(t, ok)
			require.Equal(t, "finalizing", stage)
			d, ok := apierror.DetailsAs[apierror.ModerationBlockedDetails](err)
			require.True(t, ok)
			require.Equal(t, "violence", d.SafetyCategory)
		})

		t.Run("another org's job", func(t *testing.T) {
			cnt := createContent(t, s, "prj_auto", "mine")
			requireError(t, s.do(t, request{method: "GET", path: "/v1/jobs/" + cnt.JobID, key: keyOther}), 404, "NOT_FOUND")
			pollJob(t, s, keyFull, cnt.JobID)
		})

		// The job lines carry the requestId of the request that created them.
		var finished int
		for _, line := range s.logs.lines(t) {
			if line["msg"] == "job succeeded" || line["msg"] == "job failed" {
				finished++
				assert.Regexp(t, `^req_`, line["requestId"])
			}
		}
		require.Equal(t, 3, finished)
	})
}

// TestIdempotency replays a create with the same Idempotency-Key and
// answers IDEMPOTENCY_CONFLICT for a different body.
func TestIdempotency(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		s := startServer(t, fw, unlimited)
		const path = "/v1/projects/prj_demo/content"
		send := func(key, body string) response {
			return s.do(t, request{method: "POST", path: path, key: keyFull, body: body, header: map[string]string{idempotency.HeaderKey: key}})
		}
		first := send("order-42", `{"hook":"first"}`)
		require.Equal(t, 202, first.status)
		require.Empty(t, first.header.Get(idempotency.HeaderReplayed))

		again := send("order-42", `{"hook":"first"}`)
		require.Equal(t, 202, again.status)
		require.Equal(t, "true", again.header.Get(idempotency.HeaderReplayed))
		require.Equal(t, string(first.body), string(again.body))
		require.NotEqual(t, first.header.Get("X-Request-Id"), again.header.Get("X-Request-Id"))

		env := requireError(t, send("order-42", `{"hook":"second"}`), 409, "IDEMPOTENCY_CONFLICT")
		params := []idempotency.Param{{Name: "projectId", Value: "prj_demo"}}
		requireDetails(t, env, fmt.Sprintf(`{"originalRequestHash":%q,"currentRequestHash":%q}`,
			idempotency.Fingerprint("POST", "/v1/projects/:projectId/content", params, "", []byte(`{"hook":"first"}`)),
			idempotency.Fingerprint("POST", "/v1/projects/:projectId/content", params, "", []byte(`{"hook":"second"}`))))

		// The path parameters are part of the fingerprint: the same key and body
		// sent to another project is a different request.
		requireError(t, s.do(t, request{method: "POST", path: "/v1/projects/prj_auto/content", key: keyFull, body: `{"hook":"first"}`,
			header: map[string]string{idempotency.HeaderKey: "order-42"}}), 409, "IDEMPOTENCY_CONFLICT")

		// A failed request is not remembered: fixing the body with the same key
		// runs it.
		requireError(t, send("order-43", `{"hook":""}`), 422, "VALIDATION")
		require.Equal(t, 202, send("order-43", `{"hook":"fixed"}`).status)

		// Keys are per API key: another caller's same key is its own.
		other := s.do(t, request{method: "POST", path: "/v1/projects/prj_other/content", key: keyOther, body: `{"hook":"first"}`,
			header: map[string]string{idempotency.HeaderKey: "order-42"}})
		require.Equal(t, 202, other.status)
		require.Empty(t, other.header.Get(idempotency.HeaderReplayed))

		env = requireError(t, send(strings.Repeat("k", 256), `{"hook":"x"}`), 422, "VALIDATION")
		require.Contains(t, string(env.Error.Details), `"path":"header:Idempotency-Key"`)
	})
}
