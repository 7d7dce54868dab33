package jobs_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/jobs"
)

// A worker whose asset failed safety review ends the job with the error and
// the stage it was in; GET /v1/jobs/:jobId answers with the marshalled Job.
func ExampleFailed() {
	at := time.Date(2026, 4, 18, 14, 22, 10, 0, time.UTC)
	err := apierror.ModerationBlocked("violence")

	body, _ := json.Marshal(jobs.Failed(at, err, "finalizing"))
	fmt.Println(string(body))
	// Output:
	// {"status":"failed","finishedAt":"2026-04-18T14:22:10Z","error":{"code":"MODERATION_BLOCKED","message":"Generated asset failed safety review.","data":{"stage":"finalizing","safetyCategory":"violence"}}}
}

// Any error that is not an *apierror.Error becomes INTERNAL with the fixed
// message; it stays the failure's cause for the log and is never serialized.
func ExampleFail() {
	dbErr := errors.New("pq: password=hunter2")
	f := jobs.Fail(fmt.Errorf("saving asset: %w", dbErr), "uploading")

	body, _ := json.Marshal(f)
	fmt.Println(string(body))
	fmt.Println(errors.Is(f, dbErr))
	fmt.Println(f) // for the worker's log
	// Output:
	// {"code":"INTERNAL","message":"An unexpected error occurred. Please contact support with the requestId.","data":{"stage":"uploading"}}
	// true
	// INTERNAL: An unexpected error occurred. Please contact support with the requestId. (stage uploading): saving asset: pq: password=hunter2
}

// A client decodes the job response and branches on the same codes, and reads
// the same details, as for an HTTP error.
func ExampleDecodeJob() {
	body := []byte(`{"status":"failed","finishedAt":"2026-04-18T14:22:10Z","error":{"code":"MODERATION_BLOCKED","message":"Generated asset failed safety review.","data":{"stage":"finalizing","safetyCategory":"violence"}}}`)

	job, err := jobs.DecodeJob(body)
	if err != nil {
		fmt.Println("bad response:", err)
		return
	}
	fmt.Println(job.Status, job.FinishedAt.Format(time.RFC3339))
	if err := job.Err(); err != nil {
		switch apierror.CodeOf(err) {
		case apierror.CodeModerationBlocked:
			d, _ := apierror.DetailsAs[apierror.ModerationBlockedDetails](err)
			stage, _ := jobs.StageOf(err)
			fmt.Println("blocked:", d.SafetyCategory, "at stage", stage)
		case apierror.CodeWorkflowStartFailed:
			fmt.Println("retry with the same Idempotency-Key")
		}
	}
	// Output:
	// failed 2026-04-18T14:22:10Z
	// blocked: violence at stage finalizing
}

// WORKFLOW_START_FAILED in a job: the request was answered, then the workflow
// could not start.
func ExampleFailed_workflowStartFailed() {
	at := time.Date(2026, 4, 18, 14, 22, 10, 0, time.UTC)
	job := jobs.Failed(at, apierror.WorkflowStartFailed(errors.New("temporal: deadline exceeded")), "starting")

	body, _ := json.Marshal(job)
	fmt.Println(string(body))
	fmt.Println(job.Err().(*apierror.Error).Spec().Retry.Retryable())
	// Output:
	// {"status":"failed","finishedAt":"2026-04-18T14:22:10Z","error":{"code":"WORKFLOW_START_FAILED","message":"The request was accepted, but the job could not start. Retry with the same Idempotency-Key.","data":{"stage":"starting"}}}
	// true
}

func ExampleSucceeded() {
	at := time.Date(2026, 4, 18, 16, 22, 10, 500_000_000, time.FixedZone("CEST", 2*3600))
	body, _ := json.Marshal(jobs.Succeeded(at, json.RawMessage(`{"assetId":"ast_1"}`)))
	fmt.Println(string(body))
	body, _ = json.Marshal(jobs.Running())
	fmt.Println(string(body))
	// Output:
	// {"status":"succeeded","finishedAt":"2026-04-18T14:22:10Z","result":{"assetId":"ast_1"}}
	// {"status":"running"}
}
