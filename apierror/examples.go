package apierror

import (
	"errors"
	"time"
)

// examples builds, for every code, an error with representative details:
// what a real request would get.
var examples = map[Code]func() *Error{
	CodeUnauthenticated: Unauthenticated,
	CodeForbiddenScope:  func() *Error { return ForbiddenScope("content:write") },
	CodeForbiddenFence:  func() *Error { return ForbiddenFence("engagement") },
	CodeNotFound:        NotFound,
	CodeConflict:        func() *Error { return Conflict("already_approved") },
	CodeIdempotencyConflict: func() *Error {
		return IdempotencyConflict(
			"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
			"a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90")
	},
	CodeValidation: func() *Error {
		return Validation(
			Issue{Path: "hook", Message: "must be at most 280 characters."},
			Issue{Path: "publishAt", Message: "must be in the future."})
	},
	CodeUploadIncomplete: func() *Error { return UploadIncomplete("uploads/prj_demo/cnt_7d18b9a1/video.mp4") },
	CodePayloadTooLarge:  func() *Error { return PayloadTooLarge(1 << 20) },
	CodeApprovalRequired: func() *Error { return ApprovalRequired("cnt_7d18b9a1", ApprovalPending) },
	CodeContentRejected:  func() *Error { return ContentRejected("cnt_7d18b9a1") },
	CodeReturnURLNotAllowed: func() *Error {
		return ReturnURLNotAllowed("https://attacker.example/oauth/callback")
	},
	CodeKillSwitch:        func() *Error { return KillSwitch(ScopeGlobal) },
	CodeBillingExhausted:  func() *Error { return BillingExhausted(BillingInsufficient) },
	CodeModerationBlocked: func() *Error { return ModerationBlocked("violence") },
	CodeCredentialInvalid: func() *Error {
		return CredentialInvalid(PlatformTikTok, "sa_01HXZ9G7KMV2QX8Y1S5RJW3B7T")
	},
	CodeCircuitOpen: func() *Error { return CircuitOpen("appstore", 30*time.Second) },
	CodeUploadQuotaExceeded: func() *Error {
		return UploadQuotaExceeded(UploadUsage{CurrentUploads: 500, MaxUploads: 500, CurrentBytes: 9_663_676_416, MaxBytes: 10_737_418_240})
	},
	CodeRateLimited: func() *Error { return RateLimited(1500 * time.Millisecond) },
	CodeInternal:    func() *Error { return Internal(errors.New("example: connection refused")) },
	CodePlatformError: func() *Error {
		return PlatformError(PlatformTikTok, "rate_limit_exceeded", "Too many uploads for this account, try again later.", 30*time.Second)
	},
	CodeScrapeFailed:        func() *Error { return ScrapeFailed("https://cdn.example.com/media/app-preview.mp4") },
	CodeWorkflowStartFailed: func() *Error { return WorkflowStartFailed(errors.New("example: queue paused")) },
}

// Example returns an error of code with representative details, for
// documentation, generated schemas and conformance tests, and false for a
// code the catalogue does not have. Every catalogue code has one.
func Example(code Code) (*Error, bool) {
	f, ok := examples[code]
	if !ok {
		return nil, false
	}
	return f(), true
}
