package main

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/idempotency"
)

// catalogueResponse is the body of GET /v1/errors.
type catalogueResponse struct {
	Errors []apierror.Spec `json:"errors"`
}

// listErrors answers GET /v1/errors with the catalogue, straight from
// apierror's table: code, status, category, retry advice, guaranteed details,
// message, meaning and what to check.
func listErrors(c echo.Context) error {
	specs := apierror.Catalogue()
	for i := range specs {
		if specs[i].Details == nil {
			specs[i].Details = []string{} // [] rather than null: "no guaranteed details"
		}
	}
	return c.JSON(http.StatusOK, catalogueResponse{specs})
}

// exampleSecret is the fake credential in the cause of the INTERNAL example:
// it shows up in the server's log, never in the response.
const exampleSecret = "sk_live_DEMO_5ecr3t_n0t_f0r_y0u"

// exampleContainerID is the container named by the examples.
const exampleContainerID = "cnt_7d18b9a1-8b2c-4f3e-a4d5-6e7f8a9b0c1d"

// exampleGlobalRetryAfter is the Retry-After of the KILL_SWITCH example:
// a global switch flipped with an expected duration.
const exampleGlobalRetryAfter = "120"

// examples builds, for every code, the error a real request would get, with
// representative details. The handler returns it and errkit's error handler
// renders it, so status, headers (Retry-After) and envelope are exactly what
// the API sends.
var examples = map[apierror.Code]func(c echo.Context) error{
	apierror.CodeUnauthenticated: func(echo.Context) error { return apierror.Unauthenticated() },
	apierror.CodeForbiddenScope:  func(echo.Context) error { return apierror.ForbiddenScope(scopeContentWrite) },
	apierror.CodeForbiddenFence:  func(echo.Context) error { return apierror.ForbiddenFence("engagement") },
	apierror.CodeNotFound:        func(echo.Context) error { return apierror.NotFound() },
	apierror.CodeConflict:        func(echo.Context) error { return apierror.Conflict("already_approved") },
	apierror.CodeIdempotencyConflict: func(echo.Context) error {
		const route = "/v1/projects/:projectId/content"
		params := []idempotency.Param{{Name: "projectId", Value: "prj_demo"}}
		return apierror.IdempotencyConflict(
			idempotency.Fingerprint(http.MethodPost, route, params, "", []byte(`{"hook":"first"}`)),
			idempotency.Fingerprint(http.MethodPost, route, params, "", []byte(`{"hook":"second"}`)))
	},
	apierror.CodeValidation: func(echo.Context) error {
		return apierror.Validation(
			apierror.Issue{Path: "hook", Message: "must be at most 280 characters."},
			apierror.Issue{Path: "publishAt", Message: "must be in the future."})
	},
	apierror.CodeUploadIncomplete: func(echo.Context) error {
		return apierror.UploadIncomplete("uploads/prj_demo/" + exampleContainerID + "/video.mp4")
	},
	apierror.CodePayloadTooLarge: func(echo.Context) error { return apierror.PayloadTooLarge(maxBodyBytes) },
	apierror.CodeApprovalRequired: func(echo.Context) error {
		return apierror.ApprovalRequired(exampleContainerID, apierror.ApprovalPending)
	},
	apierror.CodeContentRejected: func(echo.Context) error { return apierror.ContentRejected(exampleContainerID) },
	apierror.CodeReturnURLNotAllowed: func(echo.Context) error {
		return apierror.ReturnURLNotAllowed("https://attacker.example/oauth/callback")
	},
	apierror.CodeKillSwitch: func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderRetryAfter, exampleGlobalRetryAfter)
		return apierror.KillSwitch(apierror.ScopeGlobal)
	},
	apierror.CodeBillingExhausted:  func(echo.Context) error { return apierror.BillingExhausted(apierror.BillingInsufficient) },
	apierror.CodeModerationBlocked: func(echo.Context) error { return apierror.ModerationBlocked("violence") },
	apierror.CodeCredentialInvalid: func(echo.Context) error {
		return apierror.CredentialInvalid(apierror.PlatformTikTok, "sa_01HXZ9G7KMV2QX8Y1S5RJW3B7T")
	},
	apierror.CodeCircuitOpen: func(echo.Context) error { return apierror.CircuitOpen("appstore", 30*time.Second) },
	apierror.CodeUploadQuotaExceeded: func(echo.Context) error {
		return apierror.UploadQuotaExceeded(apierror.UploadUsage{
			CurrentUploads: 500, MaxUploads: 500, CurrentBytes: 9_663_676_416, MaxBytes: 10_737_418_240,
		})
	},
	apierror.CodeRateLimited: func(echo.Context) error { return apierror.RateLimited(1500 * time.Millisecond) },
	apierror.CodeInternal: func(echo.Context) error {
		// A real failure: a plain error whose text holds a secret. The error
		// handler answers INTERNAL with the generic message and logs the
		// cause (field "error") against the requestId.
		return fmt.Errorf("example: charge wallet: dial postgres://billing:%s@db.internal:5432/billing: connection refused", exampleSecret)
	},
	apierror.CodePlatformError: func(echo.Context) error {
		return apierror.PlatformError(apierror.PlatformTikTok, "rate_limit_exceeded",
			"Too many uploads for this account, try again later.", 30*time.Second)
	},
	apierror.CodeScrapeFailed: func(echo.Context) error {
		return apierror.ScrapeFailed("https://cdn.example.com/media/app-preview.mp4?expires=1700000000&sig=abc123")
	},
	apierror.CodeWorkflowStartFailed: func(echo.Context) error {
		return apierror.WorkflowStartFailed(errors.New("example: workflow engine refused the start: queue generation is paused"))
	},
}

// errorExample answers GET /v1/errors/:code/example with that code's example
// error, and NOT_FOUND for a code the catalogue does not have.
func errorExample(c echo.Context) error {
	example, ok := examples[apierror.Code(c.Param("code"))]
	if !ok {
		return apierror.NotFound()
	}
	return example(c)
}
