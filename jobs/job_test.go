package jobs

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
)

func TestPageExample(t *testing.T) {
	job := Failed(finishedAt, apierror.ModerationBlocked("violence"), "finalizing")
	b, err := json.Marshal(job)
	require.NoError(t, err)
	assert.Equal(t, pageExample, string(b))

	// The page's own, indented text decodes to the same job.
	const page = `{
  "status": "failed",
  "finishedAt": "2026-04-18T14:22:10Z",
  "error": {
    "code": "MODERATION_BLOCKED",
    "message": "Generated asset failed safety review.",
    "data": { "stage": "finalizing", "safetyCategory": "violence" }
  }
}`
	got, err := DecodeJob([]byte(page))
	require.NoError(t, err)
	assert.Equal(t, StatusFailed, got.Status)
	require.NotNil(t, got.FinishedAt)
	assert.True(t, finishedAt.Equal(*got.FinishedAt))
	assert.Equal(t, "finalizing", got.Error.Stage())
	again, err := json.Marshal(got)
	require.NoError(t, err)
	assert.Equal(t, pageExample, string(again))

	err = got.Err()
	assert.ErrorIs(t, err, apierror.New(apierror.CodeModerationBlocked))
	d, ok := apierror.DetailsAs[apierror.ModerationBlockedDetails](err)
	require.True(t, ok)
	assert.Equal(t, "violence", d.SafetyCategory)
}

func TestMarshal(t *testing.T) {
	plus2 := time.FixedZone("+02", 2*3600)
	at := time.Date(2026, 4, 18, 16, 22, 10, 999_999_999, plus2)
	tests := []struct {
		name string
		job  Job
		want string
	}{
		{"queued", Queued(), `{"status":"queued"}`},
		{"running", Running(), `{"status":"running"}`},
		{"succeeded without result, finishedAt in UTC whole seconds", Succeeded(at, nil),
			`{"status":"succeeded","finishedAt":"2026-04-18T14:22:10Z"}`},
		{"succeeded with result, compacted", Succeeded(finishedAt, json.RawMessage(`{ "assetId" : "ast_1" }`)),
			`{"status":"succeeded","finishedAt":"2026-04-18T14:22:10Z","result":{"assetId":"ast_1"}}`},
		{"succeeded with a null result", Succeeded(finishedAt, json.RawMessage(`null`)),
			`{"status":"succeeded","finishedAt":"2026-04-18T14:22:10Z"}`},
		{"hand-built FinishedAt is normalized", Job{Status: StatusSucceeded, FinishedAt: &at},
			`{"status":"succeeded","finishedAt":"2026-04-18T14:22:10Z"}`},
		{"failed with a plain error", Failed(finishedAt, errors.New("disk full"), "encoding"),
			`{"status":"failed","finishedAt":"2026-04-18T14:22:10Z","error":{"code":"INTERNAL","message":"` + apierror.InternalMessage + `","data":{"stage":"encoding"}}}`},
		{"failed with a nil error", Failed(finishedAt, nil, "encoding"),
			`{"status":"failed","finishedAt":"2026-04-18T14:22:10Z","error":{"code":"INTERNAL","message":"` + apierror.InternalMessage + `","data":{"stage":"encoding"}}}`},
		{"workflow start failed", Failed(finishedAt, apierror.WorkflowStartFailed(errors.New("temporal down")), "starting"),
			`{"status":"failed","finishedAt":"2026-04-18T14:22:10Z","error":{"code":"WORKFLOW_START_FAILED","message":"The request was accepted, but the job could not start. Retry with the same Idempotency-Key.","data":{"stage":"starting"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.job)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(b))
			pb, err := json.Marshal(&tt.job)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(pb), "a *Job marshals the same")
		})
	}
}

func TestMarshalRefusesBrokenJobs(t *testing.T) {
	f := Fail(errors.New("x"), "s")
	yearMinus1 := time.Date(-1, 12, 31, 23, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		job     Job
		wantErr string
	}{
		{"zero job", Job{}, "invalid status"},
		{"unknown status", Job{Status: "paused"}, `invalid status "paused"`},
		{"terminal without finishedAt", Job{Status: StatusSucceeded}, "succeeded job has no finishedAt"},
		{"queued with finishedAt", Job{Status: StatusQueued, FinishedAt: &finishedAt}, "queued job has a finishedAt"},
		{"failed without error", Job{Status: StatusFailed, FinishedAt: &finishedAt}, "failed job has no error"},
		{"succeeded with error", Job{Status: StatusSucceeded, FinishedAt: &finishedAt, Error: f}, "succeeded job has an error"},
		{"running with error", Job{Status: StatusRunning, Error: f}, "running job has an error"},
		{"failed with result", Job{Status: StatusFailed, FinishedAt: &finishedAt, Error: f, Result: json.RawMessage(`1`)},
			"failed job has a result"},
		{"invalid result", Succeeded(finishedAt, json.RawMessage(`{`)), "result is not valid JSON"},
		{"year outside RFC 3339", Job{Status: StatusSucceeded, FinishedAt: &yearMinus1}, "outside RFC 3339"},
		{"zero failure", Job{Status: StatusFailed, FinishedAt: &finishedAt, Error: &Failure{}}, "malformed code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorContains(t, tt.job.Validate(), tt.wantErr)
			_, err := json.Marshal(tt.job)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestDecodeJob(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		status  Status
		at      string // FinishedAt in RFC 3339 with nanoseconds, "" for none
		result  string
		code    apierror.Code
		stage   string
		remarsh string // json.Marshal of the decoded job
	}{
		{"queued", `{"status":"queued"}`, StatusQueued, "", "", "", "", `{"status":"queued"}`},
		{"running with nulls and unknown keys", `{"status":"running","finishedAt":null,"error":null,"result":null,"jobId":"job_1","progress":0.5}`,
			StatusRunning, "", "", "", "", `{"status":"running"}`},
		{"succeeded with result", `{"status":"succeeded","finishedAt":"2026-04-18T14:22:10Z","result":[1, 2]}`,
			StatusSucceeded, "2026-04-18T14:22:10Z", `[1,2]`, "", "", `{"status":"succeeded","finishedAt":"2026-04-18T14:22:10Z","result":[1,2]}`},
		{"finishedAt with offset and fraction", `{"status":"succeeded","finishedAt":"2026-04-18T16:22:10.5+02:00"}`,
			StatusSucceeded, "2026-04-18T14:22:10.5Z", "", "", "", `{"status":"succeeded","finishedAt":"2026-04-18T14:22:10Z"}`},
		{"failed with an unknown code", `{"status":"failed","finishedAt":"2026-04-18T14:22:10Z","error":{"code":"FUTURE_CODE","message":"m","data":{"stage":"s","x":1}}}`,
			StatusFailed, "2026-04-18T14:22:10Z", "", "FUTURE_CODE", "s",
			`{"status":"failed","finishedAt":"2026-04-18T14:22:10Z","error":{"code":"FUTURE_CODE","message":"m","data":{"stage":"s","x":1}}}`},
		{"failed without data", `{"status":"failed","finishedAt":"2026-04-18T14:22:10Z","error":{"code":"INTERNAL","message":"m"}}`,
			StatusFailed, "2026-04-18T14:22:10Z", "", "INTERNAL", "",
			`{"status":"failed","finishedAt":"2026-04-18T14:22:10Z","error":{"code":"INTERNAL","message":"m"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := DecodeJob([]byte(tt.in))
			require.NoError(t, err)
			assert.Equal(t, tt.status, j.Status)
			if tt.at == "" {
				assert.Nil(t, j.FinishedAt)
			} else {
				require.NotNil(t, j.FinishedAt)
				assert.Equal(t, tt.at, j.FinishedAt.Format(time.RFC3339Nano))
			}
			assert.Equal(t, tt.result, string(j.Result))
			assert.Equal(t, tt.code, j.Error.Code())
			assert.Equal(t, tt.stage, j.Error.Stage())
			b, err := json.Marshal(j)
			require.NoError(t, err)
			assert.Equal(t, tt.remarsh, string(b))
			if tt.status != StatusFailed {
				assert.NoError(t, j.Err())
			}
		})
	}
}

func TestDecodeJobUnknownCode(t *testing.T) {
	j, err := DecodeJob([]byte(`{"status":"failed","finishedAt":"2026-04-18T14:22:10Z","error":{"code":"FUTURE_CODE","message":"m","data":{"stage":"s"}}}`))
	require.NoError(t, err)
	e, ok := apierror.As(j.Err())
	require.True(t, ok)
	assert.Equal(t, apierror.Code("FUTURE_CODE"), e.Code())
	assert.Equal(t, 500, e.Status(), "an unknown code is read with status 500")
	assert.Equal(t, apierror.CategoryTransient, e.Spec().Category)
}

func TestDecodeJobRefuses(t *testing.T) {
	const at = `"finishedAt":"2026-04-18T14:22:10Z"`
	const failure = `"error":{"code":"INTERNAL","message":"m"}`
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"empty", ``, "jobs: job:"},
		{"not JSON", `{"status":`, "jobs: job:"},
		{"not an object", `["failed"]`, "jobs: job:"},
		{"no status", `{}`, `no "status"`},
		{"null status", `{"status":null}`, `no "status"`},
		{"numeric status", `{"status":1}`, "jobs: job:"},
		{"unknown status", `{"status":"paused"}`, `invalid status "paused"`},
		{"upper-case status", `{"status":"FAILED"}`, `invalid status "FAILED"`},
		{"terminal without finishedAt", `{"status":"failed",` + failure + `}`, "failed job has no finishedAt"},
		{"queued with finishedAt", `{"status":"queued",` + at + `}`, "queued job has a finishedAt"},
		{"finishedAt not RFC 3339", `{"status":"succeeded","finishedAt":"18/04/2026"}`, "not an RFC 3339 time"},
		{"finishedAt not a string", `{"status":"succeeded","finishedAt":1713450130}`, "jobs: job:"},
		{"finishedAt outside RFC 3339 in UTC", `{"status":"succeeded","finishedAt":"0000-01-01T00:00:00+01:00"}`, "outside RFC 3339"},
		{"failed without error", `{"status":"failed",` + at + `}`, "failed job has no error"},
		{"error on a succeeded job", `{"status":"succeeded",` + at + `,` + failure + `}`, "succeeded job has an error"},
		{"error on a running job", `{"status":"running",` + failure + `}`, "running job has an error"},
		{"error not an object", `{"status":"failed",` + at + `,"error":"boom"}`, `"error" is not an object`},
		{"error without code", `{"status":"failed",` + at + `,"error":{"message":"m"}}`, `no "code"`},
		{"error with malformed code", `{"status":"failed",` + at + `,"error":{"code":"boom"}}`, "malformed code"},
		{"error data not an object", `{"status":"failed",` + at + `,"error":{"code":"X","data":"s"}}`, `"data" is not an object`},
		{"result on a failed job", `{"status":"failed",` + at + `,` + failure + `,"result":{}}`, "failed job has a result"},
		{"result on a queued job", `{"status":"queued","result":1}`, "queued job has a result"},
		{"trailing data", `{"status":"queued"} x`, "jobs: job:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := DecodeJob([]byte(tt.in))
			require.ErrorContains(t, err, tt.wantErr)
			assert.Equal(t, Job{}, j)

			// UnmarshalJSON leaves the target unchanged on error.
			before := Running()
			require.Error(t, before.UnmarshalJSON([]byte(tt.in)))
			assert.Equal(t, Running(), before)
		})
	}
}

func TestErr(t *testing.T) {
	assert.NoError(t, Queued().Err())
	assert.NoError(t, Running().Err())
	assert.NoError(t, Succeeded(finishedAt, nil).Err())

	err := Job{Status: StatusFailed, FinishedAt: &finishedAt}.Err()
	assert.ErrorIs(t, err, apierror.New(apierror.CodeInternal), "a failed job without an error still reports a failure")

	// Server side, Err carries the cause for logs.
	secret := errors.New("pq: password=hunter2")
	err = Failed(finishedAt, secret, "encoding").Err()
	assert.ErrorIs(t, err, secret)
	assert.ErrorIs(t, err, apierror.New(apierror.CodeInternal))
	assert.Equal(t, "INTERNAL: "+apierror.InternalMessage+": pq: password=hunter2", err.Error())

	err = Failed(finishedAt, apierror.WorkflowStartFailed(secret), "starting").Err()
	assert.ErrorIs(t, err, secret)
	assert.Equal(t, "WORKFLOW_START_FAILED: The request was accepted, but the job could not start. Retry with the same Idempotency-Key.: pq: password=hunter2", err.Error())
	assert.NotContains(t, string(err.(*apierror.Error).Render("req_1")), "hunter2")
}

func TestStatus(t *testing.T) {
	tests := []struct {
		in       string
		valid    bool
		terminal bool
	}{
		{"queued", true, false},
		{"running", true, false},
		{"succeeded", true, true},
		{"failed", true, true},
		{"", false, false},
		{"Failed", false, false},
		{"cancelled", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s := Status(tt.in)
			assert.Equal(t, tt.valid, s.Valid())
			assert.Equal(t, tt.terminal, s.Terminal())
			p, err := ParseStatus(tt.in)
			if tt.valid {
				require.NoError(t, err)
				assert.Equal(t, s, p)
			} else {
				require.ErrorContains(t, err, "want queued, running, succeeded or failed")
			}
		})
	}
}
