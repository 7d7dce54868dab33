package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/layershq/errkit/apierror"
)

// Job is the status part of the GET /v1/jobs/:jobId response:
//
//	{"status":"failed","finishedAt":"2026-04-18T14:22:10Z","error":{"code":…,"message":…,"data":{"stage":…,…}}}
//
// The contract between the fields, checked by Validate, MarshalJSON and
// UnmarshalJSON:
//   - Status is one of the four states;
//   - FinishedAt is set exactly when Status is terminal (succeeded, failed);
//   - Error is set exactly when Status is failed;
//   - Result, optional, is set only when Status is succeeded.
//
// Build a Job with Queued, Running, Succeeded or Failed; decode one with
// DecodeJob.
type Job struct {
	// Status is the job's state.
	Status Status
	// FinishedAt is when the job reached its terminal state. It is written in
	// RFC 3339, UTC, whole seconds ("2026-04-18T14:22:10Z").
	FinishedAt *time.Time
	// Error is the failure of a failed job.
	Error *Failure
	// Result is the optional output of a succeeded job, any JSON value.
	Result json.RawMessage
}

// Queued returns a job waiting to start.
func Queued() Job { return Job{Status: StatusQueued} }

// Running returns a job in progress.
func Running() Job { return Job{Status: StatusRunning} }

// Succeeded returns a job that finished at at (kept in UTC, whole seconds)
// with result, which may be nil for a job without output.
func Succeeded(at time.Time, result json.RawMessage) Job {
	t := finished(at)
	return Job{Status: StatusSucceeded, FinishedAt: &t, Result: bytes.Clone(result)}
}

// Failed returns a job that failed at at (kept in UTC, whole seconds) with
// Fail(err, stage) as its error. A nil err, a programming mistake, becomes
// INTERNAL so that the job still reports the failure.
func Failed(at time.Time, err error, stage string) Job {
	if err == nil {
		err = errors.New("jobs: Failed called with a nil error")
	}
	t := finished(at)
	return Job{Status: StatusFailed, FinishedAt: &t, Error: Fail(err, stage)}
}

// finished is at as written on the wire: UTC, truncated to the second.
func finished(at time.Time) time.Time { return at.UTC().Truncate(time.Second) }

// Err returns the error of a failed job as an *apierror.Error (see
// Failure.APIError): the same type, code vocabulary and details access as an
// HTTP error decoded with apierror.Decode, with data.stage among the details
// (StageOf reads it). It returns nil for a job that did not fail, and INTERNAL
// for a failed Job that carries no Error.
func (j Job) Err() error {
	if j.Status != StatusFailed {
		return nil
	}
	if j.Error == nil {
		return apierror.Internal(errors.New("jobs: failed job carries no error"))
	}
	return j.Error.APIError()
}

// Validate reports the first way j breaks the contract described on Job, or
// nil.
func (j Job) Validate() error {
	if !j.Status.Valid() {
		return fmt.Errorf("jobs: invalid status %.70q (want queued, running, succeeded or failed)", string(j.Status))
	}
	terminal := j.Status.Terminal()
	switch {
	case terminal && j.FinishedAt == nil:
		return fmt.Errorf("jobs: %s job has no finishedAt", j.Status)
	case !terminal && j.FinishedAt != nil:
		return fmt.Errorf("jobs: %s job has a finishedAt; only succeeded and failed jobs do", j.Status)
	case j.Status == StatusFailed && j.Error == nil:
		return errors.New("jobs: failed job has no error")
	case j.Status != StatusFailed && j.Error != nil:
		return fmt.Errorf("jobs: %s job has an error; only failed jobs do", j.Status)
	case j.Status != StatusSucceeded && hasResult(j.Result):
		return fmt.Errorf("jobs: %s job has a result; only succeeded jobs do", j.Status)
	}
	if j.FinishedAt != nil {
		if y := j.FinishedAt.UTC().Year(); y < 0 || y > 9999 {
			return fmt.Errorf("jobs: finishedAt year %d is outside RFC 3339", y)
		}
	}
	if j.Error != nil && !apierror.ValidCode(string(j.Error.code)) {
		return fmt.Errorf("jobs: job error has malformed code %.70q", string(j.Error.code))
	}
	if hasResult(j.Result) && !json.Valid(j.Result) {
		return errors.New("jobs: result is not valid JSON")
	}
	return nil
}

// hasResult reports whether r holds a value other than null.
func hasResult(r json.RawMessage) bool {
	r = bytes.TrimSpace(r)
	return len(r) > 0 && !bytes.Equal(r, []byte("null"))
}

// wireJob is the wire shape a Job is written as, in the contract's key order.
type wireJob struct {
	Status     Status          `json:"status"`
	FinishedAt string          `json:"finishedAt,omitempty"`
	Error      *Failure        `json:"error,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
}

// MarshalJSON writes {"status","finishedAt","error","result"} in that order,
// each key only when the contract has it for the status; finishedAt in RFC
// 3339 UTC, whole seconds; the result compacted. A job breaking the contract
// (see Validate) is an error, never a malformed body.
func (j Job) MarshalJSON() ([]byte, error) {
	if err := j.Validate(); err != nil {
		return nil, err
	}
	w := wireJob{Status: j.Status, Error: j.Error}
	if j.FinishedAt != nil {
		w.FinishedAt = finished(*j.FinishedAt).Format(time.RFC3339)
	}
	if hasResult(j.Result) {
		w.Result = j.Result
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads a job response: status is required and one of the four
// states; finishedAt is an RFC 3339 time, required when terminal and refused
// otherwise; error (see Failure.UnmarshalJSON) is required when failed and
// refused otherwise; result is refused unless succeeded. A null value counts
// as absent, and unknown keys are ignored. It never panics, and on error
// leaves j unchanged.
func (j *Job) UnmarshalJSON(b []byte) error {
	var w struct {
		Status     *string         `json:"status"`
		FinishedAt *string         `json:"finishedAt"`
		Error      json.RawMessage `json:"error"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("jobs: job: %w", err)
	}
	if w.Status == nil {
		return errors.New(`jobs: job has no "status"`)
	}
	n := Job{Status: Status(*w.Status)}
	if !n.Status.Valid() {
		return fmt.Errorf("jobs: invalid status %.70q (want queued, running, succeeded or failed)", *w.Status)
	}
	if w.FinishedAt != nil {
		t, err := time.Parse(time.RFC3339, *w.FinishedAt)
		if err != nil {
			return fmt.Errorf("jobs: finishedAt is not an RFC 3339 time: %w", err)
		}
		t = t.UTC()
		n.FinishedAt = &t
	}
	if e := bytes.TrimSpace(w.Error); len(e) > 0 && !bytes.Equal(e, []byte("null")) {
		if e[0] != '{' {
			return errors.New(`jobs: job "error" is not an object`)
		}
		n.Error = new(Failure)
		if err := n.Error.UnmarshalJSON(e); err != nil {
			return err
		}
	}
	if hasResult(w.Result) {
		var buf bytes.Buffer
		if err := json.Compact(&buf, w.Result); err != nil {
			return fmt.Errorf("jobs: result: %w", err)
		}
		n.Result = buf.Bytes()
	}
	if err := n.Validate(); err != nil {
		return err
	}
	*j = n
	return nil
}

// DecodeJob decodes the body of a GET /v1/jobs/:jobId response (see
// Job.UnmarshalJSON). A failed job's error is then available as an
// *apierror.Error through Job.Err. It never panics, whatever the body.
func DecodeJob(body []byte) (Job, error) {
	var j Job
	if err := j.UnmarshalJSON(body); err != nil {
		return Job{}, err
	}
	return j, nil
}
