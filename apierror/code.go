package apierror

// Code is a stable error code of the Partner API contract. Codes are never
// renamed; new ones may be added. Clients branch on the code, never on the
// message.
//
// A Code is not an error: return a constructor's *Error (NotFound(),
// RateLimited(d), ...), which carries the details the code guarantees. Test
// an error's code with [HasCode] or [CodeOf].
type Code string

// The 23 codes of the contract, grouped as the published errors page groups
// them.
const (
	// Caller bugs.
	CodeUnauthenticated     Code = "UNAUTHENTICATED"
	CodeForbiddenScope      Code = "FORBIDDEN_SCOPE"
	CodeForbiddenFence      Code = "FORBIDDEN_FENCE"
	CodeNotFound            Code = "NOT_FOUND"
	CodeConflict            Code = "CONFLICT"
	CodeIdempotencyConflict Code = "IDEMPOTENCY_CONFLICT"
	CodeValidation          Code = "VALIDATION"
	CodeUploadIncomplete    Code = "UPLOAD_INCOMPLETE"
	CodePayloadTooLarge     Code = "PAYLOAD_TOO_LARGE"

	// Policy gates.
	CodeApprovalRequired    Code = "APPROVAL_REQUIRED"
	CodeContentRejected     Code = "CONTENT_REJECTED"
	CodeReturnURLNotAllowed Code = "RETURN_URL_NOT_ALLOWED"
	CodeKillSwitch          Code = "KILL_SWITCH"
	CodeBillingExhausted    Code = "BILLING_EXHAUSTED"
	CodeModerationBlocked   Code = "MODERATION_BLOCKED"
	CodeCredentialInvalid   Code = "CREDENTIAL_INVALID"
	CodeCircuitOpen         Code = "CIRCUIT_OPEN"
	CodeUploadQuotaExceeded Code = "UPLOAD_QUOTA_EXCEEDED"

	// Transient.
	CodeRateLimited Code = "RATE_LIMITED"
	CodeInternal    Code = "INTERNAL"

	// Upstream.
	CodePlatformError Code = "PLATFORM_ERROR"
	CodeScrapeFailed  Code = "SCRAPE_FAILED"

	// Job path.
	CodeWorkflowStartFailed Code = "WORKFLOW_START_FAILED"
)

// InternalMessage is the fixed message of every INTERNAL error. It is never
// replaced: server-side detail is logged against the requestId instead.
const InternalMessage = "An unexpected error occurred. Please contact support with the requestId."

// Category groups codes by the kind of fix they need, as the contract does.
type Category string

// The four categories of the contract.
const (
	// CategoryCallerBug: the request is wrong. Fix it; don't retry.
	CategoryCallerBug Category = "caller_bug"
	// CategoryPolicyGate: refused on purpose. Change state, then retry.
	CategoryPolicyGate Category = "policy_gate"
	// CategoryTransient: something slipped. Retry with backoff.
	CategoryTransient Category = "transient"
	// CategoryUpstream: a platform rejected the call. Act on the platform's terms.
	CategoryUpstream Category = "upstream"
)

// RetryKind is the machine-readable form of the contract's "Retry?" column.
type RetryKind string

// The retry advice a code can carry.
const (
	// RetryNever: do not retry; fix the request.
	RetryNever RetryKind = "never"
	// RetryAfterStateChange: retry only after the change of state named by
	// RetryAdvice.After (approval, reconnect, top-up, ...).
	RetryAfterStateChange RetryKind = "after_state_change"
	// RetryBackoff: retry with exponential backoff and jitter, a few attempts.
	RetryBackoff RetryKind = "backoff_with_jitter"
	// RetryHonorRetryAfter: wait exactly Retry-After (details.retryAfterMs),
	// without jitter, then retry.
	RetryHonorRetryAfter RetryKind = "honor_retry_after"
	// RetryHonorRetryAfterMsOnce: when details.retryAfterMs is set, wait
	// exactly that and retry once; when it is null, do not retry.
	RetryHonorRetryAfterMsOnce RetryKind = "honor_retry_after_ms_once"
	// RetryWaitAndProbe: wait details.retryAfterSeconds, make one request to
	// see whether the condition cleared, and wait again if not.
	RetryWaitAndProbe RetryKind = "wait_and_probe"
	// RetryNewCall: the same call will fail again; make a new call with
	// different input. Don't loop.
	RetryNewCall RetryKind = "new_call_with_different_input"
	// RetryDepends: depends on context carried in details (see Check).
	RetryDepends RetryKind = "depends"
)

// RetryAdvice is what a client should do about a code.
type RetryAdvice struct {
	// Kind is the machine-readable advice.
	Kind RetryKind `json:"kind"`
	// After names the change of state a RetryAfterStateChange waits for
	// ("approval", "reconnect", ...); empty for other kinds.
	After string `json:"after,omitempty"`
	// Text is the contract's own wording of the "Retry?" column.
	Text string `json:"text"`
}

// Retryable reports whether the advice allows an automatic retry of the same
// request without any change of state (backoff, Retry-After, retryAfterMs once,
// wait and probe).
func (a RetryAdvice) Retryable() bool {
	switch a.Kind {
	case RetryBackoff, RetryHonorRetryAfter, RetryHonorRetryAfterMsOnce, RetryWaitAndProbe:
		return true
	}
	return false
}

// Spec is one row of the catalogue: everything the contract says about a code.
type Spec struct {
	// Code is the stable code string.
	Code Code `json:"code"`
	// Status is the HTTP status the code is always sent with.
	Status int `json:"status"`
	// Category is the contract's grouping by behaviour.
	Category Category `json:"category"`
	// Retry is the retry advice.
	Retry RetryAdvice `json:"retry"`
	// Details are the guaranteed details fields, in wire order; empty when
	// the code carries none.
	Details []string `json:"details"`
	// Message is the default human message.
	Message string `json:"message"`
	// Meaning is the contract's "What happened".
	Meaning string `json:"meaning"`
	// Check is the contract's "What to check".
	Check string `json:"check"`
}

// clone returns a copy of s that shares no memory with the catalogue.
func (s Spec) clone() Spec {
	s.Details = append([]string(nil), s.Details...)
	return s
}
