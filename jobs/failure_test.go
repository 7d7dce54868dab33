package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
)

// finishedAt is the page example's finishedAt.
var finishedAt = time.Date(2026, 4, 18, 14, 22, 10, 0, time.UTC)

// pageExample is the contract page's failed job, compacted.
const pageExample = `{"status":"failed","finishedAt":"2026-04-18T14:22:10Z","error":{"code":"MODERATION_BLOCKED","message":"Generated asset failed safety review.","data":{"stage":"finalizing","safetyCategory":"violence"}}}`

// byCode builds an error of every catalogue code with its typed constructor,
// with details wherever the code carries them.
var byCode = map[apierror.Code]func() *apierror.Error{
	apierror.CodeUnauthenticated:     apierror.Unauthenticated,
	apierror.CodeForbiddenScope:      func() *apierror.Error { return apierror.ForbiddenScope("content:write") },
	apierror.CodeForbiddenFence:      func() *apierror.Error { return apierror.ForbiddenFence("schedule.timezone") },
	apierror.CodeNotFound:            apierror.NotFound,
	apierror.CodeConflict:            func() *apierror.Error { return apierror.ConflictBlockedBy("migration_in_flight", "prj_42") },
	apierror.CodeIdempotencyConflict: func() *apierror.Error { return apierror.IdempotencyConflict("sha256:aa", "sha256:bb") },
	apierror.CodeValidation: func() *apierror.Error {
		return apierror.Validation(apierror.Issue{Path: "items[0].name", Message: "must not be empty <here> & there"})
	},
	apierror.CodeUploadIncomplete: func() *apierror.Error { return apierror.UploadIncomplete("uploads/org_1/a.mp4") },
	apierror.CodePayloadTooLarge:  func() *apierror.Error { return apierror.PayloadTooLarge(10 << 20) },
	apierror.CodeApprovalRequired: func() *apierror.Error {
		return apierror.ApprovalRequired("cnt_7d18b9a1-8b2c-4f3e-a4d5-6e7f8a9b0c1d", apierror.ApprovalPending)
	},
	apierror.CodeContentRejected:     func() *apierror.Error { return apierror.ContentRejected("cnt_1") },
	apierror.CodeReturnURLNotAllowed: func() *apierror.Error { return apierror.ReturnURLNotAllowed("https://evil.example/cb?x=1") },
	apierror.CodeKillSwitch:          func() *apierror.Error { return apierror.KillSwitch(apierror.ScopeOrganization) },
	apierror.CodeBillingExhausted:    func() *apierror.Error { return apierror.BillingExhausted(apierror.BillingCap) },
	apierror.CodeModerationBlocked:   func() *apierror.Error { return apierror.ModerationBlocked("violence") },
	apierror.CodeCredentialInvalid: func() *apierror.Error {
		return apierror.CredentialInvalid(apierror.PlatformTikTok, "sa_9")
	},
	apierror.CodeCircuitOpen: func() *apierror.Error { return apierror.CircuitOpen("tiktok.publish", 1500*time.Millisecond) },
	apierror.CodeUploadQuotaExceeded: func() *apierror.Error {
		return apierror.UploadQuotaExceeded(apierror.UploadUsage{CurrentUploads: 50, MaxUploads: 50, CurrentBytes: 0, MaxBytes: 1 << 30})
	},
	apierror.CodeRateLimited: func() *apierror.Error { return apierror.RateLimited(2500 * time.Millisecond) },
	apierror.CodeInternal:    func() *apierror.Error { return apierror.Internal(errors.New("pq: password=hunter2")) },
	apierror.CodePlatformError: func() *apierror.Error {
		return apierror.PlatformError(apierror.PlatformMeta, "190", "Error validating access token", 0)
	},
	apierror.CodeScrapeFailed:        func() *apierror.Error { return apierror.ScrapeFailed("https://example.com/page") },
	apierror.CodeWorkflowStartFailed: func() *apierror.Error { return apierror.WorkflowStartFailed(errors.New("temporal: unavailable")) },
}

func TestByCodeCoversCatalogue(t *testing.T) {
	cat := apierror.Catalogue()
	require.Len(t, byCode, len(cat), "every catalogue code needs a constructor in byCode, and nothing else")
	for _, s := range cat {
		mk, ok := byCode[s.Code]
		require.True(t, ok, "no constructor for %s", s.Code)
		require.Equal(t, s.Code, mk().Code(), "constructor for %s builds another code", s.Code)
	}
}

// errorKeys returns the keys of the "error" object of a marshalled job.
func errorKeys(t *testing.T, job []byte) map[string]json.RawMessage {
	t.Helper()
	var outer map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(job, &outer))
	var inner map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(outer["error"], &inner))
	return inner
}

// TestRoundTripEveryCode checks, for every code, that the job path and the
// HTTP path give a client the same error: an error rendered as an HTTP
// envelope and decoded, and the same error failing a job, marshalled and
// decoded with DecodeJob, agree on code, message, status and details, the job
// one adding data.stage first. It also goes the other way: a client-decoded
// HTTP error failing a job gives the same bytes as the server-side error.
func TestRoundTripEveryCode(t *testing.T) {
	const stage = "rendering"
	for _, spec := range apierror.Catalogue() {
		t.Run(string(spec.Code), func(t *testing.T) {
			src := byCode[spec.Code]()

			// HTTP path.
			env := src.Render("req_01HXZ9G7KMV2QX8Y1S5RJW3B7T")
			httpErr, ok := apierror.Decode(spec.Status, env).(*apierror.Error)
			require.True(t, ok, "envelope does not decode: %s", env)

			// Job path.
			body, err := json.Marshal(Failed(finishedAt, src, stage))
			require.NoError(t, err)
			job, err := DecodeJob(body)
			require.NoError(t, err)
			require.Equal(t, StatusFailed, job.Status)
			jobErr, ok := apierror.As(job.Err())
			require.True(t, ok, "Job.Err is not an *apierror.Error: %T", job.Err())

			assert.Equal(t, httpErr.Code(), jobErr.Code())
			assert.Equal(t, spec.Code, jobErr.Code())
			assert.Equal(t, httpErr.Message(), jobErr.Message())
			assert.Equal(t, spec.Status, jobErr.Status())
			assert.Empty(t, jobErr.RequestID())
			assert.ErrorIs(t, job.Err(), apierror.New(spec.Code))
			assert.Equal(t, spec.Code, apierror.CodeOf(job.Err()))
			assert.Equal(t, stage, job.Error.Stage())
			gotStage, ok := StageOf(job.Err())
			assert.True(t, ok)
			assert.Equal(t, stage, gotStage)

			// Details: the envelope's, plus stage as the first field.
			raw := jobErr.RawDetails()
			assert.True(t, bytes.HasPrefix(raw, []byte(`{"stage":"rendering"`)), "data does not start with stage: %s", raw)
			var jobDetails map[string]any
			require.NoError(t, json.Unmarshal(raw, &jobDetails))
			assert.Equal(t, stage, jobDetails["stage"])
			delete(jobDetails, "stage")
			httpDetails := map[string]any{}
			if httpErr.HasDetails() {
				require.NoError(t, json.Unmarshal(httpErr.RawDetails(), &httpDetails))
			}
			assert.Equal(t, httpDetails, jobDetails)
			// The typed details a client reads are the same on both paths.
			if httpErr.HasDetails() {
				want, err := httpErr.Details()
				require.NoError(t, err)
				got, err := jobErr.Details()
				require.NoError(t, err)
				assert.Equal(t, want, got)
			}

			// No requestId, no details key, ever.
			keys := errorKeys(t, body)
			for k := range keys {
				assert.Contains(t, []string{"code", "message", "data"}, k)
			}
			assert.NotContains(t, string(body), `"requestId"`)
			assert.NotContains(t, string(body), `"details"`)
			assert.NotContains(t, string(body), "req_01HXZ9G7KMV2QX8Y1S5RJW3B7T")

			// Envelope -> job failure: a client-decoded error fails a job
			// with the same bytes as the server-side one.
			fromHTTP, err := json.Marshal(Failed(finishedAt, httpErr, stage))
			require.NoError(t, err)
			assert.Equal(t, string(body), string(fromHTTP))
		})
	}
}

func TestFailKeepsCauseAndNeverSerializesIt(t *testing.T) {
	secret := errors.New("pq: password=hunter2")
	tests := []struct {
		name    string
		err     error
		code    apierror.Code
		message string
		logLine string
	}{
		{"plain error", secret, apierror.CodeInternal, apierror.InternalMessage,
			"INTERNAL: " + apierror.InternalMessage + " (stage encoding): pq: password=hunter2"},
		{"wrapped plain error", fmt.Errorf("encode: %w", secret), apierror.CodeInternal, apierror.InternalMessage,
			"INTERNAL: " + apierror.InternalMessage + " (stage encoding): encode: pq: password=hunter2"},
		{"Internal", apierror.Internal(secret), apierror.CodeInternal, apierror.InternalMessage,
			"INTERNAL: " + apierror.InternalMessage + " (stage encoding): pq: password=hunter2"},
		{"WorkflowStartFailed", apierror.WorkflowStartFailed(secret), apierror.CodeWorkflowStartFailed,
			"The request was accepted, but the job could not start. Retry with the same Idempotency-Key.",
			"WORKFLOW_START_FAILED: The request was accepted, but the job could not start. Retry with the same Idempotency-Key. (stage encoding): pq: password=hunter2"},
		{"coded error with a cause", apierror.ModerationBlocked("violence").WithCause(secret), apierror.CodeModerationBlocked,
			"Generated asset failed safety review.",
			"MODERATION_BLOCKED: Generated asset failed safety review. (stage encoding): pq: password=hunter2"},
		{"wrapped coded error", fmt.Errorf("moderate: %w", apierror.ModerationBlocked("violence").WithCause(secret)),
			apierror.CodeModerationBlocked, "Generated asset failed safety review.",
			"MODERATION_BLOCKED: Generated asset failed safety review. (stage encoding): moderate: MODERATION_BLOCKED: Generated asset failed safety review.: pq: password=hunter2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Fail(tt.err, "encoding")
			require.NotNil(t, f)
			assert.Equal(t, tt.code, f.Code())
			assert.Equal(t, tt.message, f.Message())
			assert.Equal(t, tt.err, f.Cause())
			assert.ErrorIs(t, f, secret, "the cause is reachable for logs")
			assert.ErrorIs(t, f, apierror.New(tt.code))
			assert.Equal(t, tt.logLine, f.Error())

			b, err := json.Marshal(Job{Status: StatusFailed, FinishedAt: &finishedAt, Error: f})
			require.NoError(t, err)
			assert.NotContains(t, string(b), "hunter2")
			assert.NotContains(t, string(b), "pq:")
			fb, err := json.Marshal(f)
			require.NoError(t, err)
			assert.NotContains(t, string(fb), "hunter2")

			// Server side, APIError carries the cause for logs; rendered,
			// it still does not leak.
			ae := f.APIError()
			assert.ErrorIs(t, ae, secret)
			assert.NotContains(t, string(ae.Render("req_1")), "hunter2")
		})
	}
}

func TestFailData(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		stage string
		want  string // the marshalled failure
	}{
		{"plain error gets only the stage", errors.New("boom"), "uploading",
			`{"code":"INTERNAL","message":"` + apierror.InternalMessage + `","data":{"stage":"uploading"}}`},
		{"no details, no stage: no data", apierror.NotFound(), "",
			`{"code":"NOT_FOUND","message":"The resource does not exist.","data":null}`},
		{"details without a stage keep their bytes", apierror.RateLimited(2 * time.Second), "",
			`{"code":"RATE_LIMITED","message":"Rate limit exceeded. Retry after the time given in Retry-After.","data":{"retryAfterMs":2000}}`},
		{"the job's stage wins over a details stage", apierror.NewWithDetails(apierror.CodeConflict,
			map[string]string{"stage": "theirs", "reason": "busy", "z": "last"}), "ours",
			`{"code":"CONFLICT","message":"The request collides with the current state of the resource.","data":{"stage":"ours","reason":"busy","z":"last"}}`},
		{"an empty stage still drops the details stage", apierror.NewWithDetails(apierror.CodeConflict,
			map[string]string{"reason": "busy", "stage": "theirs"}), "",
			`{"code":"CONFLICT","message":"The request collides with the current state of the resource.","data":{"reason":"busy"}}`},
		{"details that are only a stage", apierror.NewWithDetails(apierror.CodeConflict,
			map[string]string{"stage": "theirs"}), "",
			`{"code":"CONFLICT","message":"The request collides with the current state of the resource.","data":null}`},
		{"stage is escaped as encoding/json does", apierror.NotFound(), `a"<b>`,
			`{"code":"NOT_FOUND","message":"The resource does not exist.","data":{"stage":"a\"\u003cb\u003e"}}`},
		{"non-object details of a decoded error are dropped",
			apierror.Decode(409, []byte(`{"error":{"code":"CONFLICT","message":"m","details":[1,2]}}`)), "s",
			`{"code":"CONFLICT","message":"m","data":{"stage":"s"}}`},
		{"unknown code of a decoded error is kept",
			apierror.Decode(418, []byte(`{"error":{"code":"TEAPOT","message":"short and stout","details":{"spout":true}}}`)), "s",
			`{"code":"TEAPOT","message":"short and stout","data":{"stage":"s","spout":true}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Fail(tt.err, tt.stage)
			require.NotNil(t, f)
			b, err := json.Marshal(struct {
				Code    apierror.Code   `json:"code"`
				Message string          `json:"message"`
				Data    json.RawMessage `json:"data"`
			}{f.Code(), f.Message(), f.Data()})
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(b))
			// MarshalJSON writes the same, with data omitted when empty.
			mb, err := json.Marshal(f)
			require.NoError(t, err)
			assert.Equal(t, string(bytes.Replace(b, []byte(`,"data":null`), nil, 1)), string(mb))
			s, ok := StageOf(f)
			assert.Equal(t, tt.stage, s)
			assert.Equal(t, tt.stage != "", ok)
			s, ok = StageOf(f.APIError())
			assert.Equal(t, tt.stage, s)
			assert.Equal(t, tt.stage != "", ok)
		})
	}
}

func TestFailNil(t *testing.T) {
	assert.Nil(t, Fail(nil, "x"))
	var f *Failure
	assert.Equal(t, apierror.Code(""), f.Code())
	assert.Empty(t, f.Message())
	assert.Empty(t, f.Stage())
	assert.Nil(t, f.Data())
	assert.NoError(t, f.Cause())
	assert.Nil(t, f.APIError())
	assert.False(t, f.Is(apierror.New(apierror.CodeInternal)))
	assert.Equal(t, "jobs: <nil failure>", f.Error())
	b, err := f.MarshalJSON()
	require.NoError(t, err)
	assert.Equal(t, "null", string(b))
}

func TestZeroFailure(t *testing.T) {
	var f Failure
	_, err := json.Marshal(&f)
	require.ErrorContains(t, err, "malformed code")
	ae := f.APIError()
	require.NotNil(t, ae)
	assert.Equal(t, apierror.CodeInternal, ae.Code())
}

func TestStageOf(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		stage string
		ok    bool
	}{
		{"nil", nil, "", false},
		{"plain error", errors.New("x"), "", false},
		{"apierror without details", apierror.NotFound(), "", false},
		{"failure", Fail(errors.New("x"), "encoding"), "encoding", true},
		{"wrapped failure", fmt.Errorf("job: %w", Fail(errors.New("x"), "encoding")), "encoding", true},
		{"decoded job error", Failed(finishedAt, apierror.NotFound(), "fetching").Err(), "fetching", true},
		{"stage that is not a string", apierror.NewWithDetails(apierror.CodeConflict, map[string]int{"stage": 3}), "", false},
		{"key matched exactly", apierror.NewWithDetails(apierror.CodeConflict, map[string]string{"Stage": "x"}), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := StageOf(tt.err)
			assert.Equal(t, tt.stage, s)
			assert.Equal(t, tt.ok, ok)
		})
	}
}

func TestFailureUnmarshal(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
		code    apierror.Code
		message string
		stage   string
		data    string
	}{
		{"full", `{"code":"CONFLICT","message":"m","data":{ "stage" : "s", "reason":"r" }}`, "", "CONFLICT", "m", "s", `{"stage":"s","reason":"r"}`},
		{"no data", `{"code":"NOT_FOUND","message":"m"}`, "", "NOT_FOUND", "m", "", ""},
		{"null data and stage", `{"code":"NOT_FOUND","message":"m","data":{"stage":null}}`, "", "NOT_FOUND", "m", "", `{"stage":null}`},
		{"no message", `{"code":"NOT_FOUND"}`, "", "NOT_FOUND", "", "", ""},
		{"extra keys ignored", `{"code":"NOT_FOUND","message":"m","details":{"a":1},"requestId":"r"}`, "", "NOT_FOUND", "m", "", ""},
		{"no code", `{"message":"m"}`, `no "code"`, "", "", "", ""},
		{"null code", `{"code":null}`, `no "code"`, "", "", "", ""},
		{"lower-case code", `{"code":"not_found"}`, "malformed code", "", "", "", ""},
		{"numeric code", `{"code":4}`, "jobs: job error:", "", "", "", ""},
		{"data not an object", `{"code":"X","data":[1]}`, `"data" is not an object`, "", "", "", ""},
		{"stage not a string", `{"code":"X","data":{"stage":1}}`, `"data.stage" is not a string`, "", "", "", ""},
		{"not an object", `[]`, "jobs: job error:", "", "", "", ""},
		{"not JSON", `{`, "jobs: job error:", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Fail(errors.New("before"), "before")
			err := f.UnmarshalJSON([]byte(tt.in))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Equal(t, "before", f.Stage(), "a failed decode leaves the value unchanged")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.code, f.Code())
			assert.Equal(t, tt.message, f.Message())
			assert.Equal(t, tt.stage, f.Stage())
			assert.Equal(t, tt.data, string(f.Data()))
			assert.NoError(t, f.Cause(), "a decoded failure has no cause")
		})
	}
}
