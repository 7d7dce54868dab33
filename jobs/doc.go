// Package jobs is the error contract of the async job path: the status of a
// job as GET /v1/jobs/:jobId reports it, the failure of a failed job, and
// decoding both on the client side into the same *apierror.Error the HTTP
// envelope decoder returns, so that a caller branches on one code vocabulary
// for both paths.
//
// A terminal failed job is answered as
//
//	{"status":"failed","finishedAt":"2026-04-18T14:22:10Z","error":{"code":"MODERATION_BLOCKED","message":"Generated asset failed safety review.","data":{"stage":"finalizing","safetyCategory":"violence"}}}
//
// The nested error uses the HTTP envelope's codes and messages, with one
// wire-level difference: the structured context is named "data", not
// "details", and it has no "requestId" (the outer HTTP response still carries
// X-Request-Id). data.stage, always its first field, is the job stage active
// when the failure happened; the code's details follow it.
//
// # Server side
//
// A worker turns whatever error ended the job into a failure with Fail, or
// into the whole job with Failed:
//
//	job := jobs.Failed(time.Now(), err, "finalizing")
//
// An *apierror.Error anywhere in err's chain keeps its code, message and
// details; any other error becomes INTERNAL with the fixed generic message.
// err stays the failure's cause (Failure.Cause, errors.Is, errors.As) for the
// worker's log and is never serialized.
//
// # Client side
//
//	job, err := jobs.DecodeJob(body)
//	...
//	if err := job.Err(); err != nil {
//		switch apierror.CodeOf(err) { // the same codes as an HTTP error
//		case apierror.CodeModerationBlocked:
//			d, _ := apierror.DetailsAs[apierror.ModerationBlockedDetails](err)
//			stage, _ := jobs.StageOf(err)
//			...
//		}
//	}
//
// # WORKFLOW_START_FAILED
//
// WORKFLOW_START_FAILED (500) is specific to the job path: the request was
// accepted but its job could not start; the client retries with the same
// Idempotency-Key, which replays the accepted request instead of running the
// work twice. A service builds it with apierror.WorkflowStartFailed(cause)
// (this package adds no second constructor) in two places:
//
//   - In the handler that accepted the request and tried to start the
//     workflow, when starting it fails before the handler has answered: the
//     handler returns apierror.WorkflowStartFailed(cause) as its HTTP error,
//     answered as a 500 envelope with a requestId, so that the client's retry
//     with the same Idempotency-Key starts it again.
//   - In the job itself, when the request was already answered (202 with a
//     job ID) and the start fails afterwards, for example when a queued
//     workflow is picked up and cannot be started: the job ends as
//     jobs.Failed(at, apierror.WorkflowStartFailed(cause), stage), and GET
//     /v1/jobs/:jobId reports it with data.stage naming where it stopped.
//     Caveat: the idempotency middleware stored that 202, so the client's
//     retry with the same Idempotency-Key replays it (the same, failed job)
//     until the record expires; it does not start the work again. A service
//     that uses this form must therefore make the start itself durable
//     (re-attempt it inside the job before giving up), and the first form,
//     which frees the key, is the one that gives clients the contract's
//     "retry with the same Idempotency-Key" for free.
//
// In both places cause is never sent: the HTTP error handler logs it with
// the requestId, and a job failure keeps it for the worker to log (Fail
// keeps the cause as the error's Unwrap; this package logs nothing).
package jobs
