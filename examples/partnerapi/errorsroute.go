package main

import (
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/idempotency"
)

// catalogueJSON is docs/catalogue.json, the catalogue for SDKs in other
// languages, generated from apierror's table by internal/docgen (which
// writes this copy too, and whose test fails when either drifts).
//
//go:embed catalogue.json
var catalogueJSON []byte

// listErrors answers GET /v1/errors with the catalogue: for every code its
// status, category, retry advice, guaranteed details and their schema, the
// headers of its response, message, meaning, what to check, and an example.
func listErrors(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(catalogueJSON)
	return err
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
// representative details. The handler returns it and errkit's error writer
// renders it, so status, headers (Retry-After) and envelope are exactly what
// the API sends. An example may set headers (h is the response's) that the
// real error path sets before rendering.
var examples = map[apierror.Code]func(h http.Header) error{
	apierror.CodeUnauthenticated: func(http.Header) error { return apierror.Unauthenticated() },
	apierror.CodeForbiddenScope:  func(http.Header) error { return apierror.ForbiddenScope(scopeContentWrite) },
	apierror.CodeForbiddenFence:  func(http.Header) error { return apierror.ForbiddenFence("engagement") },
	apierror.CodeNotFound:        func(http.Header) error { return apierror.NotFound() },
	apierror.CodeConflict:        func(http.Header) error { return apierror.Conflict("already_approved") },
	apierror.CodeIdempotencyConflict: func(http.Header) error {
		// The route template as both frameworks report it (see routeTemplate).
		const route = "/v1/projects/:projectId/content"
		params := []idempotency.Param{{Name: "projectId", Value: "prj_demo"}}
		return apierror.IdempotencyConflict(
			idempotency.Fingerprint(http.MethodPost, route, params, "", []byte(`{"hook":"first"}`)),
			idempotency.Fingerprint(http.MethodPost, route, params, "", []byte(`{"hook":"second"}`)))
	},
	apierror.CodeValidation: func(http.Header) error {
		return apierror.Validation(
			apierror.Issue{Path: "hook", Message: "must be at most 280 characters."},
			apierror.Issue{Path: "publishAt", Message: "must be in the future."})
	},
	apierror.CodeUploadIncomplete: func(http.Header) error {
		return apierror.UploadIncomplete("uploads/prj_demo/" + exampleContainerID + "/video.mp4")
	},
	apierror.CodePayloadTooLarge: func(http.Header) error { return apierror.PayloadTooLarge(maxBodyBytes) },
	apierror.CodeApprovalRequired: func(http.Header) error {
		return apierror.ApprovalRequired(exampleContainerID, apierror.ApprovalPending)
	},
	apierror.CodeContentRejected: func(http.Header) error { return apierror.ContentRejected(exampleContainerID) },
	apierror.CodeReturnURLNotAllowed: func(http.Header) error {
		return apierror.ReturnURLNotAllowed("https://attacker.example/oauth/callback")
	},
	apierror.CodeKillSwitch: func(h http.Header) error {
		h.Set("Retry-After", exampleGlobalRetryAfter)
		return apierror.KillSwitch(apierror.ScopeGlobal)
	},
	apierror.CodeBillingExhausted:  func(http.Header) error { return apierror.BillingExhausted(apierror.BillingInsufficient) },
	apierror.CodeModerationBlocked: func(http.Header) error { return apierror.ModerationBlocked("violence") },
	apierror.CodeCredentialInvalid: func(http.Header) error {
		return apierror.CredentialInvalid(apierror.PlatformTikTok, "sa_01HXZ9G7KMV2QX8Y1S5RJW3B7T")
	},
	apierror.CodeCircuitOpen: func(http.Header) error { return apierror.CircuitOpen("appstore", 30*time.Second) },
	apierror.CodeUploadQuotaExceeded: func(http.Header) error {
		return apierror.UploadQuotaExceeded(apierror.UploadUsage{
			CurrentUploads: 500, MaxUploads: 500, CurrentBytes: 9_663_676_416, MaxBytes: 10_737_418_240,
		})
	},
	apierror.CodeRateLimited: func(http.Header) error { return apierror.RateLimited(1500 * time.Millisecond) },
	apierror.CodeInternal: func(http.Header) error {
		// A real failure: a plain error whose text holds a secret. The error
		// handler answers INTERNAL with the generic message and logs the
		// cause (field "error") against the requestId.
		return fmt.Errorf("example: charge wallet: dial postgres://billing:%s@db.internal:5432/billing: connection refused", exampleSecret)
	},
	apierror.CodePlatformError: func(http.Header) error {
		return apierror.PlatformError(apierror.PlatformTikTok, "rate_limit_exceeded",
			"Too many uploads for this account, try again later.", 30*time.Second)
	},
	apierror.CodeScrapeFailed: func(http.Header) error {
		return apierror.ScrapeFailed("https://cdn.example.com/media/app-preview.mp4?expires=1700000000&sig=abc123")
	},
	apierror.CodeWorkflowStartFailed: func(http.Header) error {
		return apierror.WorkflowStartFailed(errors.New("example: workflow engine refused the start: queue generation is paused"))
	},
}

// errorExample answers GET /v1/errors/{code}/example with that code's
// example error, and NOT_FOUND for a code the catalogue does not have.
// GET /v1/errors/INTERNAL/example?panic=true panics with the INTERNAL
// example's error instead of returning it: the adapter's recovery answers
// the same INTERNAL envelope and logs the panic with its stack (in full once
// a minute per call site, see httperror's StackLogInterval).
func errorExample(w http.ResponseWriter, r *http.Request) error {
	code := apierror.Code(r.PathValue("code"))
	example, ok := examples[code]
	if !ok {
		return apierror.NotFound()
	}
	err := example(w.Header())
	if code == apierror.CodeInternal && r.URL.Query().Get("panic") == "true" {
		panic(err)
	}
	return err
}
