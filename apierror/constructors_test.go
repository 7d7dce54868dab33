package apierror_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
)

// constructorCase is one constructor call and the exact envelope it renders
// under requestId "req_1".
type constructorCase struct {
	name   string
	err    *apierror.Error
	status int
	json   string
}

func constructorCases() []constructorCase {
	return []constructorCase{
		{"Unauthenticated", apierror.Unauthenticated(), 401,
			`{"error":{"code":"UNAUTHENTICATED","message":"Missing, malformed, or wrong API key.","requestId":"req_1"}}`},
		{"ForbiddenScope", apierror.ForbiddenScope("content:write"), 403,
			`{"error":{"code":"FORBIDDEN_SCOPE","message":"The API key is missing the scope content:write this route needs.","requestId":"req_1","details":{"requiredScope":"content:write"}}}`},
		{"ForbiddenFence/no fields", apierror.ForbiddenFence(), 403,
			`{"error":{"code":"FORBIDDEN_FENCE","message":"The request contains a field gated behind a future release.","requestId":"req_1"}}`},
		{"ForbiddenFence/fields", apierror.ForbiddenFence("engagement.v2", "hooks"), 403,
			`{"error":{"code":"FORBIDDEN_FENCE","message":"Fields gated behind a future release: engagement.v2, hooks.","requestId":"req_1"}}`},
		{"NotFound", apierror.NotFound(), 404,
			`{"error":{"code":"NOT_FOUND","message":"The resource does not exist.","requestId":"req_1"}}`},
		{"Conflict", apierror.Conflict("already_approved"), 409,
			`{"error":{"code":"CONFLICT","message":"The request collides with the current state of the resource.","requestId":"req_1","details":{"reason":"already_approved"}}}`},
		{"ConflictBlockedBy", apierror.ConflictBlockedBy("migration_in_flight", "prj_42"), 409,
			`{"error":{"code":"CONFLICT","message":"The request collides with the current state of the resource.","requestId":"req_1","details":{"reason":"migration_in_flight","blockingProjectId":"prj_42"}}}`},
		{"IdempotencyConflict", apierror.IdempotencyConflict("sha256:aaa", "sha256:bbb"), 409,
			`{"error":{"code":"IDEMPOTENCY_CONFLICT","message":"This Idempotency-Key was used earlier with a different request body.","requestId":"req_1","details":{"originalRequestHash":"sha256:aaa","currentRequestHash":"sha256:bbb"}}}`},
		{"Validation/no issues", apierror.Validation(), 422,
			`{"error":{"code":"VALIDATION","message":"The request failed validation.","requestId":"req_1","details":{"issues":[]}}}`},
		{"Validation/issues", apierror.Validation(
			apierror.Issue{Path: "items[0].name", Message: "is required"},
			apierror.Issue{Path: "header:Idempotency-Key", Message: "must be at most 255 characters"}), 422,
			`{"error":{"code":"VALIDATION","message":"The request failed validation.","requestId":"req_1","details":{"issues":[{"path":"items[0].name","message":"is required"},{"path":"header:Idempotency-Key","message":"must be at most 255 characters"}]}}}`},
		{"ValidationWithCode", apierror.ValidationWithCode(apierror.RefillRequiresThresholdAndAmount,
			apierror.Issue{Path: "refillAmount", Message: "set both refillThreshold and refillAmount, or clear both"}), 422,
			`{"error":{"code":"VALIDATION","message":"The request failed validation.","requestId":"req_1","details":{"issues":[{"path":"refillAmount","message":"set both refillThreshold and refillAmount, or clear both"}],"code":"REFILL_REQUIRES_THRESHOLD_AND_AMOUNT"}}}`},
		{"UploadIncomplete", apierror.UploadIncomplete("uploads/prj_1/clip.mp4"), 409,
			`{"error":{"code":"UPLOAD_INCOMPLETE","message":"Upload is incomplete: storage key \"uploads/prj_1/clip.mp4\" has not been uploaded.","requestId":"req_1"}}`},
		{"PayloadTooLarge", apierror.PayloadTooLarge(100 << 20), 413,
			`{"error":{"code":"PAYLOAD_TOO_LARGE","message":"The request body exceeds the size limit.","requestId":"req_1","details":{"maxBytes":104857600}}}`},
		{"ApprovalRequired/pending", apierror.ApprovalRequired("cnt_1", apierror.ApprovalPending), 403,
			`{"error":{"code":"APPROVAL_REQUIRED","message":"Content container cnt_1 is not approved.","requestId":"req_1","details":{"containerId":"cnt_1","approvalStatus":"pending"}}}`},
		{"ApprovalRequired/rejected", apierror.ApprovalRequired("cnt_2", apierror.ApprovalRejected), 403,
			`{"error":{"code":"APPROVAL_REQUIRED","message":"Content container cnt_2 is not approved.","requestId":"req_1","details":{"containerId":"cnt_2","approvalStatus":"rejected"}}}`},
		{"ContentRejected", apierror.ContentRejected("cnt_3"), 409,
			`{"error":{"code":"CONTENT_REJECTED","message":"Content container cnt_3 was rejected and cannot be promoted.","requestId":"req_1"}}`},
		{"ReturnURLNotAllowed/parsed", apierror.ReturnURLNotAllowed("https://app.example.com:8443/oauth/done?x=1&y=2"), 403,
			`{"error":{"code":"RETURN_URL_NOT_ALLOWED","message":"The returnUrl is not on this API key's allowlist.","requestId":"req_1","details":{"returnUrl":"https://app.example.com:8443/oauth/done?x=1\u0026y=2","host":"app.example.com"}}}`},
		{"ReturnURLNotAllowed/unparsable", apierror.ReturnURLNotAllowed("http://[::1"), 403,
			`{"error":{"code":"RETURN_URL_NOT_ALLOWED","message":"The returnUrl is not on this API key's allowlist.","requestId":"req_1","details":{"returnUrl":"http://[::1"}}}`},
		{"ReturnURLNotAllowed/no host", apierror.ReturnURLNotAllowed("/relative/path"), 403,
			`{"error":{"code":"RETURN_URL_NOT_ALLOWED","message":"The returnUrl is not on this API key's allowlist.","requestId":"req_1","details":{"returnUrl":"/relative/path"}}}`},
		{"KillSwitch/key", apierror.KillSwitch(apierror.ScopeKey), 503,
			`{"error":{"code":"KILL_SWITCH","message":"This API key has been switched off. Contact Layers support.","requestId":"req_1","details":{"scope":"key"}}}`},
		{"KillSwitch/organization", apierror.KillSwitch(apierror.ScopeOrganization), 503,
			`{"error":{"code":"KILL_SWITCH","message":"Your organization's access has been switched off. Contact Layers support.","requestId":"req_1","details":{"scope":"organization"}}}`},
		{"KillSwitch/global", apierror.KillSwitch(apierror.ScopeGlobal), 503,
			`{"error":{"code":"KILL_SWITCH","message":"The Partner API is temporarily switched off. Retry later.","requestId":"req_1","details":{"scope":"global"}}}`},
		{"BillingExhausted/insufficient", apierror.BillingExhausted(apierror.BillingInsufficient), 402,
			`{"error":{"code":"BILLING_EXHAUSTED","message":"Out of credits.","requestId":"req_1","details":{"reason":"insufficient"}}}`},
		{"BillingExhausted/cap", apierror.BillingExhausted(apierror.BillingCap), 402,
			`{"error":{"code":"BILLING_EXHAUSTED","message":"Out of credits.","requestId":"req_1","details":{"reason":"cap"}}}`},
		{"BillingExhaustedAllocate", apierror.BillingExhaustedAllocate(), 402,
			`{"error":{"code":"BILLING_EXHAUSTED","message":"The parent wallet can't cover this allocation.","requestId":"req_1"}}`},
		{"ModerationBlocked/no category", apierror.ModerationBlocked(""), 422,
			`{"error":{"code":"MODERATION_BLOCKED","message":"Generated asset failed safety review.","requestId":"req_1"}}`},
		{"ModerationBlocked/category", apierror.ModerationBlocked("violence"), 422,
			`{"error":{"code":"MODERATION_BLOCKED","message":"Generated asset failed safety review.","requestId":"req_1","details":{"safetyCategory":"violence"}}}`},
		{"CredentialInvalid", apierror.CredentialInvalid(apierror.PlatformInstagram, "sa_9"), 422,
			`{"error":{"code":"CREDENTIAL_INVALID","message":"The platform credential expired or was revoked.","requestId":"req_1","details":{"platform":"instagram","socialAccountId":"sa_9"}}}`},
		{"CircuitOpen", apierror.CircuitOpen("appstore-scrape", 30*time.Second), 503,
			`{"error":{"code":"CIRCUIT_OPEN","message":"A circuit breaker on a platform integration is open.","requestId":"req_1","details":{"resource":"appstore-scrape","retryAfterSeconds":30}}}`},
		{"UploadQuotaExceeded/zeros", apierror.UploadQuotaExceeded(apierror.UploadUsage{}), 409,
			`{"error":{"code":"UPLOAD_QUOTA_EXCEEDED","message":"The project's upload quota is full.","requestId":"req_1","details":{"currentUploads":0,"maxUploads":0,"currentBytes":0,"maxBytes":0}}}`},
		{"UploadQuotaExceeded", apierror.UploadQuotaExceeded(apierror.UploadUsage{CurrentUploads: 100, MaxUploads: 100, CurrentBytes: 5 << 30, MaxBytes: 10 << 30}), 409,
			`{"error":{"code":"UPLOAD_QUOTA_EXCEEDED","message":"The project's upload quota is full.","requestId":"req_1","details":{"currentUploads":100,"maxUploads":100,"currentBytes":5368709120,"maxBytes":10737418240}}}`},
		{"RateLimited", apierror.RateLimited(1500 * time.Millisecond), 429,
			`{"error":{"code":"RATE_LIMITED","message":"Rate limit exceeded. Retry after the time given in Retry-After.","requestId":"req_1","details":{"retryAfterMs":1500}}}`},
		{"Internal", apierror.Internal(errors.New("db: connection refused to 10.0.0.7")), 500,
			`{"error":{"code":"INTERNAL","message":"An unexpected error occurred. Please contact support with the requestId.","requestId":"req_1"}}`},
		{"PlatformError/null retryAfterMs", apierror.PlatformError(apierror.PlatformTikTok, "video_duration_exceeds_limit", "Video duration exceeds the max for this account.", 0), 502,
			`{"error":{"code":"PLATFORM_ERROR","message":"The platform API returned an error.","requestId":"req_1","details":{"platform":"tiktok","platformCode":"video_duration_exceeds_limit","platformMessage":"Video duration exceeds the max for this account.","retryAfterMs":null}}}`},
		{"PlatformError/retryAfterMs", apierror.PlatformError(apierror.PlatformMeta, "4", "Application request limit reached", 2*time.Second), 502,
			`{"error":{"code":"PLATFORM_ERROR","message":"The platform API returned an error.","requestId":"req_1","details":{"platform":"meta","platformCode":"4","platformMessage":"Application request limit reached","retryAfterMs":2000}}}`},
		{"ScrapeFailed/no url", apierror.ScrapeFailed(""), 502,
			`{"error":{"code":"SCRAPE_FAILED","message":"A URL given to fetch returned an error or timed out.","requestId":"req_1"}}`},
		{"ScrapeFailed", apierror.ScrapeFailed("https://cdn.example.com/a.png"), 502,
			`{"error":{"code":"SCRAPE_FAILED","message":"Fetching https://cdn.example.com/a.png returned an error or timed out.","requestId":"req_1"}}`},
		{"ScrapeFailed/no query or userinfo", apierror.ScrapeFailed("https://up:pw@cdn.example.com/media/a.mp4?X-Amz-Signature=abc123&expires=1700000000#t=1"), 502,
			`{"error":{"code":"SCRAPE_FAILED","message":"Fetching https://cdn.example.com/media/a.mp4 returned an error or timed out.","requestId":"req_1"}}`},
		{"ScrapeFailed/not a URL", apierror.ScrapeFailed("up:pw@cdn example/a b.png?sig=abc123"), 502,
			`{"error":{"code":"SCRAPE_FAILED","message":"Fetching cdn example/a b.png returned an error or timed out.","requestId":"req_1"}}`},
		{"WorkflowStartFailed", apierror.WorkflowStartFailed(errors.New("temporal: unavailable")), 500,
			`{"error":{"code":"WORKFLOW_START_FAILED","message":"The request was accepted, but the job could not start. Retry with the same Idempotency-Key.","requestId":"req_1"}}`},
		{"New", apierror.New(apierror.CodeNotFound), 404,
			`{"error":{"code":"NOT_FOUND","message":"The resource does not exist.","requestId":"req_1"}}`},
		{"NewWithDetails", apierror.NewWithDetails(apierror.CodeForbiddenScope, map[string]string{"requiredScope": "a<b"}), 403,
			`{"error":{"code":"FORBIDDEN_SCOPE","message":"The API key is missing the scope this route needs.","requestId":"req_1","details":{"requiredScope":"a\u003cb"}}}`},
		{"NewWithDetails/INTERNAL never has details", apierror.NewWithDetails(apierror.CodeInternal, map[string]string{"query": "SELECT secret"}), 500,
			`{"error":{"code":"INTERNAL","message":"` + apierror.InternalMessage + `","requestId":"req_1"}}`},
	}
}

func TestConstructorsRenderExactJSON(t *testing.T) {
	for _, tc := range constructorCases() {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.status, tc.err.Status(), "status")
			assert.Equal(t, tc.err.Code().Status(), tc.err.Status(), "status is the catalogue's")
			assert.Equal(t, tc.json, string(tc.err.Render("req_1")))
			assert.Equal(t, tc.json, string(tc.err.AppendJSON(nil, "req_1")))
			assert.Empty(t, tc.err.RequestID(), "server-side errors carry no requestId of their own")
		})
	}
}

// TestEnumMisuseBecomesInternal: a value outside a constructor's enum never
// reaches the wire; the call becomes INTERNAL with the mistake as its cause.
func TestEnumMisuseBecomesInternal(t *testing.T) {
	tests := []struct {
		name      string
		err       *apierror.Error
		causeHas  string
		wrongCode apierror.Code
	}{
		{"KillSwitch", apierror.KillSwitch("planet"), `KILL_SWITCH called with invalid scope "planet"`, apierror.CodeKillSwitch},
		{"KillSwitch/empty", apierror.KillSwitch(""), `invalid scope ""`, apierror.CodeKillSwitch},
		{"BillingExhausted", apierror.BillingExhausted("broke"), `invalid billing reason "broke"`, apierror.CodeBillingExhausted},
		{"CredentialInvalid", apierror.CredentialInvalid("myspace", "sa_1"), `invalid platform "myspace"`, apierror.CodeCredentialInvalid},
		{"PlatformError", apierror.PlatformError("TikTok", "x", "y", 0), `invalid platform "TikTok"`, apierror.CodePlatformError},
		{"ApprovalRequired/approved", apierror.ApprovalRequired("cnt_1", apierror.ApprovalApproved), `invalid approval status "approved"`, apierror.CodeApprovalRequired},
		{"ApprovalRequired/unknown", apierror.ApprovalRequired("cnt_1", "maybe"), `invalid approval status "maybe"`, apierror.CodeApprovalRequired},
		{"New/unknown code", apierror.New("NOPE"), `unknown code "NOPE"`, "NOPE"},
		{"NewWithDetails/unknown code", apierror.NewWithDetails("NOPE", map[string]int{"a": 1}), `unknown code "NOPE"`, "NOPE"},
		{"NewWithDetails/not an object", apierror.NewWithDetails(apierror.CodeConflict, []int{1}), "details must be a JSON object", apierror.CodeConflict},
		{"NewWithDetails/unmarshalable", apierror.NewWithDetails(apierror.CodeConflict, map[string]any{"f": func() {}}), "CONFLICT details", apierror.CodeConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, apierror.CodeInternal, tc.err.Code())
			assert.Equal(t, 500, tc.err.Status())
			assert.Equal(t, apierror.InternalMessage, tc.err.Message())
			assert.False(t, tc.err.HasDetails())
			assert.False(t, apierror.HasCode(tc.err, tc.wrongCode))
			require.Error(t, tc.err.Unwrap(), "the mistake is kept as the cause")
			assert.Contains(t, tc.err.Unwrap().Error(), tc.causeHas)
			assert.Equal(t,
				`{"error":{"code":"INTERNAL","message":"An unexpected error occurred. Please contact support with the requestId.","requestId":"r"}}`,
				string(tc.err.Render("r")), "the cause is never rendered")
		})
	}
}

// TestDurationsRoundUp: retry waits are whole units rounded up, at least 1,
// so a client never retries early.
func TestDurationsRoundUp(t *testing.T) {
	tests := []struct {
		d                      time.Duration
		wantMs, wantS, wantHdr int64
	}{
		{-time.Second, 1, 1, 1},
		{0, 1, 1, 1},
		{1, 1, 1, 1},
		{time.Millisecond, 1, 1, 1},
		{time.Millisecond + 1, 2, 1, 1},
		{999 * time.Millisecond, 999, 1, 1},
		{time.Second, 1000, 1, 1},
		{time.Second + time.Nanosecond, 1001, 2, 2},
		{1500 * time.Millisecond, 1500, 2, 2},
		{time.Hour, 3_600_000, 3600, 3600},
		{time.Duration(1<<63 - 1), 9_223_372_036_855, 9_223_372_037, 9_223_372_037},
	}
	for _, tc := range tests {
		t.Run(tc.d.String(), func(t *testing.T) {
			rl, ok := apierror.DetailsAs[apierror.RateLimitedDetails](apierror.RateLimited(tc.d))
			require.True(t, ok)
			assert.Equal(t, tc.wantMs, rl.RetryAfterMs, "RateLimited retryAfterMs")

			co, ok := apierror.DetailsAs[apierror.CircuitOpenDetails](apierror.CircuitOpen("r", tc.d))
			require.True(t, ok)
			assert.Equal(t, tc.wantS, co.RetryAfterSeconds, "CircuitOpen retryAfterSeconds")

			assert.Equal(t, tc.wantHdr, apierror.RetryAfterSeconds(tc.d), "Retry-After header")

			pe, ok := apierror.DetailsAs[apierror.PlatformErrorDetails](apierror.PlatformError(apierror.PlatformApple, "c", "m", tc.d))
			require.True(t, ok)
			if tc.d <= 0 {
				assert.Nil(t, pe.RetryAfterMs, "PlatformError with no window: retryAfterMs null")
			} else {
				require.NotNil(t, pe.RetryAfterMs)
				assert.Equal(t, tc.wantMs, *pe.RetryAfterMs, "PlatformError retryAfterMs")
			}
		})
	}
}

func TestReturnURLNotAllowedHostOnlyWhenParsed(t *testing.T) {
	tests := []struct {
		url, host string
	}{
		{"https://app.example.com/cb", "app.example.com"},
		{"https://APP.example.com:443/cb", "APP.example.com"},
		{"http://[::1]:8080/cb", "::1"},
		{"myapp://oauth/done", "oauth"},
		{"http://[::1", ""},
		{"%zz", ""},
		{"/only/a/path", ""},
		{"", ""},
		{"mailto:a@example.com", ""},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			d, ok := apierror.DetailsAs[apierror.ReturnURLNotAllowedDetails](apierror.ReturnURLNotAllowed(tc.url))
			require.True(t, ok)
			assert.Equal(t, tc.url, d.ReturnURL)
			assert.Equal(t, tc.host, d.Host)
			raw := string(apierror.ReturnURLNotAllowed(tc.url).RawDetails())
			if tc.host == "" {
				assert.NotContains(t, raw, `"host"`)
			} else {
				assert.Contains(t, raw, `"host"`)
			}
		})
	}
}

// TestValidationCopiesIssues: the caller's slice is copied, so changing it
// afterwards does not change an error already built.
func TestValidationCopiesIssues(t *testing.T) {
	issues := []apierror.Issue{{Path: "a", Message: "bad"}}
	e := apierror.Validation(issues...)
	issues[0].Message = "changed"
	assert.Equal(t,
		`{"error":{"code":"VALIDATION","message":"The request failed validation.","requestId":"r","details":{"issues":[{"path":"a","message":"bad"}]}}}`,
		string(e.Render("r")))
}
