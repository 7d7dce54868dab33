package apierror

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// invalid turns a constructor called with a value outside its enum into
// INTERNAL: the wire contract (for example "scope is exactly one of key,
// organization, global") is never broken, and the programming mistake is kept
// as the logged cause.
func invalid(code Code, what string, v any) *Error {
	return Internal(fmt.Errorf("apierror: %s called with invalid %s %q", code, what, fmt.Sprint(v)))
}

// Unauthenticated returns UNAUTHENTICATED (401): missing, malformed, or wrong
// API key.
func Unauthenticated() *Error { return newError(CodeUnauthenticated, nil) }

// ForbiddenScope returns FORBIDDEN_SCOPE (403) with details.requiredScope.
func ForbiddenScope(requiredScope string) *Error {
	e := newError(CodeForbiddenScope, ForbiddenScopeDetails{RequiredScope: requiredScope})
	e.message = "The API key is missing the scope " + requiredScope + " this route needs."
	return e
}

// ForbiddenFence returns FORBIDDEN_FENCE (403). The message names the fenced
// fields, when given.
func ForbiddenFence(fields ...string) *Error {
	e := newError(CodeForbiddenFence, nil)
	if len(fields) > 0 {
		e.message = "Fields gated behind a future release: " + strings.Join(fields, ", ") + "."
	}
	return e
}

// NotFound returns NOT_FOUND (404). Its body is the same whether the resource
// does not exist or belongs to another organization.
func NotFound() *Error { return newError(CodeNotFound, nil) }

// Conflict returns CONFLICT (409) with details.reason, for example
// "already_approved".
func Conflict(reason string) *Error {
	return newError(CodeConflict, ConflictDetails{Reason: reason})
}

// ConflictBlockedBy returns CONFLICT (409) with details.reason and
// details.blockingProjectId naming the project whose in-flight execution
// blocks the change.
func ConflictBlockedBy(reason, blockingProjectID string) *Error {
	return newError(CodeConflict, ConflictDetails{Reason: reason, BlockingProjectID: blockingProjectID})
}

// IdempotencyConflict returns IDEMPOTENCY_CONFLICT (409) with
// details.originalRequestHash and details.currentRequestHash.
func IdempotencyConflict(originalHash, currentHash string) *Error {
	return newError(CodeIdempotencyConflict, IdempotencyConflictDetails{
		OriginalRequestHash: originalHash, CurrentRequestHash: currentHash,
	})
}

// Validation returns VALIDATION (422) with details.issues listing every
// field that failed (an empty list when none is given).
func Validation(issues ...Issue) *Error {
	return newError(CodeValidation, ValidationDetails{Issues: cloneIssues(issues)})
}

// ValidationWithCode returns VALIDATION (422) with details.code narrowing it
// (RefillRequiresThresholdAndAmount) and details.issues.
func ValidationWithCode(code ValidationCode, issues ...Issue) *Error {
	return newError(CodeValidation, ValidationDetails{Issues: cloneIssues(issues), Code: code})
}

func cloneIssues(issues []Issue) []Issue {
	out := make([]Issue, len(issues))
	copy(out, issues)
	return out
}

// UploadIncomplete returns UPLOAD_INCOMPLETE (409); the message names the
// storage key whose presigned PUT has not landed.
func UploadIncomplete(missingStorageKey string) *Error {
	e := newError(CodeUploadIncomplete, nil)
	e.message = fmt.Sprintf("Upload is incomplete: storage key %q has not been uploaded.", missingStorageKey)
	return e
}

// PayloadTooLarge returns PAYLOAD_TOO_LARGE (413) with details.maxBytes.
func PayloadTooLarge(maxBytes int64) *Error {
	return newError(CodePayloadTooLarge, PayloadTooLargeDetails{MaxBytes: maxBytes})
}

// ApprovalRequired returns APPROVAL_REQUIRED (403) with details.containerId and
// details.approvalStatus (pending or rejected: an approved container needs no
// approval, so that call becomes INTERNAL).
func ApprovalRequired(containerID string, status ApprovalStatus) *Error {
	if !status.Valid() || status == ApprovalApproved {
		return invalid(CodeApprovalRequired, "approval status", status)
	}
	e := newError(CodeApprovalRequired, ApprovalRequiredDetails{ContainerID: containerID, ApprovalStatus: status})
	e.message = "Content container " + containerID + " is not approved."
	return e
}

// ContentRejected returns CONTENT_REJECTED (409); the message names the
// container.
func ContentRejected(containerID string) *Error {
	e := newError(CodeContentRejected, nil)
	e.message = "Content container " + containerID + " was rejected and cannot be promoted."
	return e
}

// ReturnURLNotAllowed returns RETURN_URL_NOT_ALLOWED (403) echoing
// details.returnUrl, and details.host only when the URL parses with a host.
func ReturnURLNotAllowed(returnURL string) *Error {
	d := ReturnURLNotAllowedDetails{ReturnURL: returnURL}
	if u, err := url.Parse(returnURL); err == nil && u.Host != "" {
		d.Host = u.Hostname()
	}
	return newError(CodeReturnURLNotAllowed, d)
}

// KillSwitch returns KILL_SWITCH (503) with details.scope, which is exactly
// one of key, organization, global.
func KillSwitch(scope KillSwitchScope) *Error {
	if !scope.Valid() {
		return invalid(CodeKillSwitch, "scope", scope)
	}
	e := newError(CodeKillSwitch, KillSwitchDetails{Scope: scope})
	switch scope {
	case ScopeKey:
		e.message = "This API key has been switched off. Contact Layers support."
	case ScopeOrganization:
		e.message = "Your organization's access has been switched off. Contact Layers support."
	case ScopeGlobal:
		e.message = "The Partner API is temporarily switched off. Retry later."
	}
	return e
}

// BillingExhausted returns BILLING_EXHAUSTED (402) for a credit-spending call,
// with details.reason insufficient or cap.
func BillingExhausted(reason BillingReason) *Error {
	if !reason.Valid() {
		return invalid(CodeBillingExhausted, "billing reason", reason)
	}
	return newError(CodeBillingExhausted, BillingExhaustedDetails{Reason: reason})
}

// BillingExhaustedAllocate returns BILLING_EXHAUSTED (402) for allocate, when
// the parent wallet can't cover the transfer: no details, as the contract says.
func BillingExhaustedAllocate() *Error {
	e := newError(CodeBillingExhausted, nil)
	e.message = "The parent wallet can't cover this allocation."
	return e
}

// ModerationBlocked returns MODERATION_BLOCKED (422). safetyCategory, when
// not empty, is sent as details.safetyCategory.
func ModerationBlocked(safetyCategory string) *Error {
	if safetyCategory == "" {
		return newError(CodeModerationBlocked, nil)
	}
	return newError(CodeModerationBlocked, ModerationBlockedDetails{SafetyCategory: safetyCategory})
}

// CredentialInvalid returns CREDENTIAL_INVALID (422) with details.platform and
// details.socialAccountId.
func CredentialInvalid(platform Platform, socialAccountID string) *Error {
	if !platform.Valid() {
		return invalid(CodeCredentialInvalid, "platform", platform)
	}
	return newError(CodeCredentialInvalid, CredentialInvalidDetails{Platform: platform, SocialAccountID: socialAccountID})
}

// CircuitOpen returns CIRCUIT_OPEN (503) with details.resource and
// details.retryAfterSeconds: retryAfter in whole seconds, rounded up, at
// least 1.
func CircuitOpen(resource string, retryAfter time.Duration) *Error {
	return newError(CodeCircuitOpen, CircuitOpenDetails{Resource: resource, RetryAfterSeconds: ceilSeconds(retryAfter)})
}

// UploadQuotaExceeded returns UPLOAD_QUOTA_EXCEEDED (409); details always
// carry all four usage fields, zeros included.
func UploadQuotaExceeded(usage UploadUsage) *Error {
	return newError(CodeUploadQuotaExceeded, usage)
}

// RateLimited returns RATE_LIMITED (429) with details.retryAfterMs: retryAfter
// in milliseconds, rounded up, at least 1. The middleware sends the matching
// Retry-After header (whole seconds, rounded up).
func RateLimited(retryAfter time.Duration) *Error {
	return newError(CodeRateLimited, RateLimitedDetails{RetryAfterMs: ceilMillis(retryAfter)})
}

// Internal returns INTERNAL (500) with the fixed generic message and no
// details. cause is kept for logs and never rendered.
func Internal(cause error) *Error {
	e := newError(CodeInternal, nil)
	e.cause = cause
	return e
}

// PlatformError returns PLATFORM_ERROR (502) with details.platform,
// platformCode, platformMessage and retryAfterMs: retryAfter in milliseconds
// (rounded up) when positive, null when the platform gave no retry window
// (retryAfter <= 0).
func PlatformError(platform Platform, platformCode, platformMessage string, retryAfter time.Duration) *Error {
	if !platform.Valid() {
		return invalid(CodePlatformError, "platform", platform)
	}
	d := PlatformErrorDetails{Platform: platform, PlatformCode: platformCode, PlatformMessage: platformMessage}
	if retryAfter > 0 {
		ms := ceilMillis(retryAfter)
		d.RetryAfterMs = &ms
	}
	return newError(CodePlatformError, d)
}

// ScrapeFailed returns SCRAPE_FAILED (502); the message names the URL that
// could not be fetched, when given, without its userinfo, query string or
// fragment: a signed URL's signature or a token never reaches the message.
func ScrapeFailed(fetchURL string) *Error {
	e := newError(CodeScrapeFailed, nil)
	if u := withoutSecrets(fetchURL); u != "" {
		e.message = "Fetching " + u + " returned an error or timed out."
	}
	return e
}

// withoutSecrets is raw without userinfo, query and fragment. A string that
// does not parse as an absolute URL is cut at its first '?' or '#' and
// loses everything up to an '@'.
func withoutSecrets(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && u.Host != "" {
		return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
	}
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if i := strings.LastIndexByte(raw, '@'); i >= 0 {
		raw = raw[i+1:]
	}
	return raw
}

// WorkflowStartFailed returns WORKFLOW_START_FAILED (500): the request was
// accepted but the job could not start. cause is kept for logs only.
func WorkflowStartFailed(cause error) *Error {
	e := newError(CodeWorkflowStartFailed, nil)
	e.cause = cause
	return e
}

// ceilMillis is d in whole milliseconds, rounded up, at least 1.
func ceilMillis(d time.Duration) int64 { return ceilUnits(d, time.Millisecond) }

// ceilSeconds is d in whole seconds, rounded up, at least 1.
func ceilSeconds(d time.Duration) int64 { return ceilUnits(d, time.Second) }

// ceilUnits is d in whole units, rounded up, at least 1, without overflow.
func ceilUnits(d, unit time.Duration) int64 {
	if d <= 0 {
		return 1
	}
	n := int64(d / unit)
	if d%unit != 0 {
		n++
	}
	if n < 1 {
		return 1
	}
	return n
}

// RetryAfterSeconds converts a wait to the value of a Retry-After header:
// whole seconds, rounded up, at least 1. A RATE_LIMITED error's header and its
// details.retryAfterMs always agree through this function.
func RetryAfterSeconds(d time.Duration) int64 { return ceilSeconds(d) }
