package apierror

import "net/http"

// catalogue is the single source of truth: one row per code, in the order of
// the contract page. Statuses, docs, the demo's /v1/errors route and the tests
// all read it. It is never modified after init; callers get copies.
var catalogue = []Spec{
	// Caller bugs - fix the request.
	{
		Code: CodeUnauthenticated, Status: http.StatusUnauthorized, Category: CategoryCallerBug,
		Retry:   RetryAdvice{Kind: RetryNever, Text: "No"},
		Message: "Missing, malformed, or wrong API key.",
		Meaning: "Missing, malformed, or wrong API key.",
		Check:   "`Authorization: Bearer lp_…` header. Is it the current key? Has it been revoked? Run `GET /v1/whoami` to sanity-check.",
	},
	{
		Code: CodeForbiddenScope, Status: http.StatusForbidden, Category: CategoryCallerBug,
		Retry:   RetryAdvice{Kind: RetryNever, Text: "No"},
		Details: []string{"requiredScope"},
		Message: "The API key is missing the scope this route needs.",
		Meaning: "The key is valid but missing the scope this route needs. `details.requiredScope` tells you which.",
		Check:   "Create a new key with the right scope, or ask your Layers contact to widen an existing one.",
	},
	{
		Code: CodeForbiddenFence, Status: http.StatusForbidden, Category: CategoryCallerBug,
		Retry:   RetryAdvice{Kind: RetryNever, Text: "No"},
		Message: "The request contains a field gated behind a future release.",
		Meaning: "You sent a field that's gated behind a future release - for example, v2 engagement config fields before they ship.",
		Check:   "Drop the fenced fields. See Versioning.",
	},
	{
		Code: CodeNotFound, Status: http.StatusNotFound, Category: CategoryCallerBug,
		Retry:   RetryAdvice{Kind: RetryNever, Text: "No"},
		Message: "The resource does not exist.",
		Meaning: "The resource doesn't exist or isn't in your org. We return 404 for both on purpose - we don't leak cross-org existence.",
		Check:   "Verify the id, verify the project belongs to your org, verify customerExternalId if you set one.",
	},
	{
		Code: CodeConflict, Status: http.StatusConflict, Category: CategoryCallerBug,
		Retry:   RetryAdvice{Kind: RetryNever, Text: "No"},
		Details: []string{"reason"},
		Message: "The request collides with the current state of the resource.",
		Meaning: "State collision. A resource is already in the target state, or a body-id upsert would mutate an existing resource. `details.reason` narrows it. For sub-orgs: patching / suspending / resuming an archived child, allocating credits into an archived child, or a project migration blocked because a mapped project has an in-flight execution (the blocking project is named).",
		Check:   "Change state or fix the body. See Idempotency for body-id upserts.",
	},
	{
		Code: CodeIdempotencyConflict, Status: http.StatusConflict, Category: CategoryCallerBug,
		Retry:   RetryAdvice{Kind: RetryNever, Text: "No"},
		Details: []string{"originalRequestHash", "currentRequestHash"},
		Message: "This Idempotency-Key was used earlier with a different request body.",
		Meaning: "Same Idempotency-Key was used earlier with a materially different request body. `details.originalRequestHash` and `details.currentRequestHash` let you diff the two.",
		Check:   "Create a new idempotency key for the new body. See Idempotency.",
	},
	{
		Code: CodeValidation, Status: http.StatusUnprocessableEntity, Category: CategoryCallerBug,
		Retry:   RetryAdvice{Kind: RetryNever, Text: "No"},
		Details: []string{"issues"},
		Message: "The request failed validation.",
		Meaning: "The body parsed but failed schema or business-rule validation. `details.issues[]` lists every field that failed with a path and message. For sub-org credit-config: a one-sided auto-refill change (only refillThreshold or only refillAmount) carries `details.code: REFILL_REQUIRES_THRESHOLD_AND_AMOUNT` — set both or clear both.",
		Check:   "Fix the fields called out in `details.issues`.",
	},
	{
		Code: CodeUploadIncomplete, Status: http.StatusConflict, Category: CategoryCallerBug,
		Retry:   RetryAdvice{Kind: RetryAfterStateChange, After: "the presigned PUT", Text: "After the PUT"},
		Message: "The upload is incomplete.",
		Meaning: "Direct-upload finalize arrived before every presigned PUT landed. The message names the missing storage key.",
		Check:   "Complete every file's PUT, then call finalize again — finalize is idempotent.",
	},
	{
		Code: CodePayloadTooLarge, Status: http.StatusRequestEntityTooLarge, Category: CategoryCallerBug,
		Retry:   RetryAdvice{Kind: RetryNever, Text: "No"},
		Details: []string{"maxBytes"},
		Message: "The request body exceeds the size limit.",
		Meaning: "An upload body exceeds its per-type byte cap — for content uploads: 100MB video / 30MB image; for app media: the per-kind cap. `details.maxBytes` names the limit.",
		Check:   "Export a smaller file. For video, a standard social MP4 preset lands well under the cap.",
	},

	// Policy gates - change state, then retry.
	{
		Code: CodeApprovalRequired, Status: http.StatusForbidden, Category: CategoryPolicyGate,
		Retry:   RetryAdvice{Kind: RetryAfterStateChange, After: "approval", Text: "After approval"},
		Details: []string{"containerId", "approvalStatus"},
		Message: "The content container is not approved.",
		Meaning: "Project has `requires_approval: true` and you tried to schedule or publish a container that isn't approved.",
		Check:   "Approve the container via `POST /v1/content/:containerId/approve` or flip the project policy.",
	},
	{
		Code: CodeContentRejected, Status: http.StatusConflict, Category: CategoryPolicyGate,
		Retry:   RetryAdvice{Kind: RetryNever, Text: "No"},
		Message: "The content container was rejected and cannot be promoted.",
		Meaning: "Tried to schedule or publish a container whose approval_status is rejected. Rejected content can't be promoted - approval is a one-way gate once refused.",
		Check:   "Call `POST /v1/projects/:projectId/content` again with a fresh hook to produce a new container.",
	},
	{
		Code: CodeReturnURLNotAllowed, Status: http.StatusForbidden, Category: CategoryPolicyGate,
		Retry:   RetryAdvice{Kind: RetryNever, Text: "No"},
		Details: []string{"returnUrl", "host"},
		Message: "The returnUrl is not on this API key's allowlist.",
		Meaning: "OAuth returnUrl not on your key's allowlist. `details.returnUrl` and `details.host` (when the URL parsed) echo what you sent so you can confirm what was tested.",
		Check:   "Add the URL to your allowed return URLs, then create a fresh OAuth URL. Contact your Layers account manager to update the key.",
	},
	{
		Code: CodeKillSwitch, Status: http.StatusServiceUnavailable, Category: CategoryPolicyGate,
		Retry:   RetryAdvice{Kind: RetryAfterStateChange, After: "the global switch is un-flipped (never for key or organization)", Text: "Only on global after we un-flip"},
		Details: []string{"scope"},
		Message: "Access to the Partner API has been switched off.",
		Meaning: "Your key, your org, or the whole partner API has been flipped off. `details.scope` is one of `key`, `organization`, `global`.",
		Check:   "For key / organization, contact us. For global, wait and retry.",
	},
	{
		Code: CodeBillingExhausted, Status: http.StatusPaymentRequired, Category: CategoryPolicyGate,
		Retry:   RetryAdvice{Kind: RetryAfterStateChange, After: "top-up", Text: "After top-up"},
		Details: []string{"reason"},
		Message: "Out of credits.",
		Meaning: "Out of credits. On a credit-spending call the body carries `details.reason`: `\"insufficient\"` (the wallet can't cover this generation) or `\"cap\"` (a sub-org child hit its monthly monthlyCreditCap ceiling). allocate also returns 402 when the parent wallet can't cover the transfer, but with no details.",
		Check:   "Top up the wallet or wait for the monthly credit grant. For a child cap (`reason: \"cap\"`), raise monthlyCreditCap via `PATCH …/credit-config`; for allocate, top up the parent first.",
	},
	{
		Code: CodeModerationBlocked, Status: http.StatusUnprocessableEntity, Category: CategoryPolicyGate,
		Retry:   RetryAdvice{Kind: RetryNewCall, Text: "New call"},
		Message: "Generated asset failed safety review.",
		Meaning: "Our safety layer refused to ship the generated asset.",
		Check:   "Try again with a different hook. Don't loop.",
	},
	{
		Code: CodeCredentialInvalid, Status: http.StatusUnprocessableEntity, Category: CategoryPolicyGate,
		Retry:   RetryAdvice{Kind: RetryAfterStateChange, After: "reconnect", Text: "After reconnect"},
		Details: []string{"platform", "socialAccountId"},
		Message: "The platform credential expired or was revoked.",
		Meaning: "The platform credential we need expired or was revoked. `details.platform` + `details.socialAccountId` tell you what to reconnect.",
		Check:   "Create a reauth URL and push the user through it.",
	},
	{
		Code: CodeCircuitOpen, Status: http.StatusServiceUnavailable, Category: CategoryPolicyGate,
		Retry:   RetryAdvice{Kind: RetryWaitAndProbe, Text: "After retryAfterSeconds"},
		Details: []string{"resource", "retryAfterSeconds"},
		Message: "A circuit breaker on a platform integration is open.",
		Meaning: "A circuit breaker on one of our platform integrations is open (e.g., App Store scraping after repeated failures). `details.resource` + `details.retryAfterSeconds` tell you what and when.",
		Check:   "Wait out the cooldown. Retrying sooner will just extend it.",
	},
	{
		Code: CodeUploadQuotaExceeded, Status: http.StatusConflict, Category: CategoryPolicyGate,
		Retry:   RetryAdvice{Kind: RetryAfterStateChange, After: "freeing quota", Text: "After freeing quota"},
		Details: []string{"currentUploads", "maxUploads", "currentBytes", "maxBytes"},
		Message: "The project's upload quota is full.",
		Meaning: "The project's uploaded-content quota is full. `details` always carries `currentUploads`, `maxUploads`, `currentBytes`, `maxBytes` — usage and limits, never a bare refusal.",
		Check:   "Delete uploaded content you no longer need, or contact support to raise the limits.",
	},

	// Transient - retry with backoff.
	{
		Code: CodeRateLimited, Status: http.StatusTooManyRequests, Category: CategoryTransient,
		Retry:   RetryAdvice{Kind: RetryHonorRetryAfter, Text: "Yes"},
		Details: []string{"retryAfterMs"},
		Message: "Rate limit exceeded. Retry after the time given in Retry-After.",
		Meaning: "Token bucket empty for (api_key_id, endpoint_class). `Retry-After` header and `details.retryAfterMs` tell you when.",
		Check:   "Honor Retry-After. See Rate limits.",
	},
	{
		Code: CodeInternal, Status: http.StatusInternalServerError, Category: CategoryTransient,
		Retry:   RetryAdvice{Kind: RetryBackoff, Text: "Yes, with jitter"},
		Message: InternalMessage,
		Meaning: "We broke. requestId lets us find it. The message is intentionally generic — server-side details are logged against your requestId, never round-tripped to your response.",
		Check:   "Retry two or three times with exponential backoff. If it keeps failing, open a ticket with the requestId.",
	},

	// Upstream - platform rejected us.
	{
		Code: CodePlatformError, Status: http.StatusBadGateway, Category: CategoryUpstream,
		Retry:   RetryAdvice{Kind: RetryHonorRetryAfterMsOnce, Text: "Depends"},
		Details: []string{"platform", "platformCode", "platformMessage", "retryAfterMs"},
		Message: "The platform API returned an error.",
		Meaning: "Platform API returned an error. Act on `details.platformCode`. `details.platform` is one of `tiktok`, `meta`, `apple`, `instagram`, `appstore`; `retryAfterMs` is null when the platform gave no retry window.",
		Check:   "If the platform returned a retryable code (rate limit, 5xx), retry with backoff. If it's a content/policy rejection, fix the content.",
	},
	{
		Code: CodeScrapeFailed, Status: http.StatusBadGateway, Category: CategoryUpstream,
		Retry:   RetryAdvice{Kind: RetryAfterStateChange, After: "fixing the URL", Text: "After fixing the URL"},
		Message: "A URL given to fetch returned an error or timed out.",
		Meaning: "A URL you gave us to fetch (app media, content upload) returned an error or timed out. Expired signed URLs land here too.",
		Check:   "Confirm the URL is reachable from the public internet and, if signed, that the signature hasn't expired — sign for at least 15 minutes.",
	},

	// Job path.
	{
		Code: CodeWorkflowStartFailed, Status: http.StatusInternalServerError, Category: CategoryTransient,
		Retry:   RetryAdvice{Kind: RetryBackoff, Text: "Retry with the same Idempotency-Key"},
		Message: "The request was accepted, but the job could not start. Retry with the same Idempotency-Key.",
		Meaning: "The request was accepted, but the job could not start.",
		Check:   "Retry with the same Idempotency-Key.",
	},
}

// index maps a code to its row in catalogue.
var index = func() map[Code]int {
	m := make(map[Code]int, len(catalogue))
	for i, s := range catalogue {
		m[s.Code] = i
	}
	return m
}()

// Catalogue returns every code of the contract, in the order of the contract
// page, as copies the caller may keep or modify.
func Catalogue() []Spec {
	out := make([]Spec, len(catalogue))
	for i, s := range catalogue {
		out[i] = s.clone()
	}
	return out
}

// Lookup returns the catalogue row of code, and false for a code the
// catalogue does not know.
func Lookup(code Code) (Spec, bool) {
	i, ok := index[code]
	if !ok {
		return Spec{}, false
	}
	return catalogue[i].clone(), true
}

// Known reports whether code is in the catalogue.
func (c Code) Known() bool {
	_, ok := index[c]
	return ok
}

// Status returns the HTTP status of a known code, and 500 for an unknown one.
func (c Code) Status() int {
	if i, ok := index[c]; ok {
		return catalogue[i].Status
	}
	return http.StatusInternalServerError
}

// fallbackSpec describes a code this version does not know (the API adds codes
// over time) from the HTTP status it arrived with: 429 honours Retry-After,
// other 4xx are caller bugs that are not retried, 5xx are transient and
// retried with backoff.
func fallbackSpec(code Code, status int) Spec {
	s := Spec{Code: code, Status: status, Message: http.StatusText(status)}
	switch {
	case status == http.StatusTooManyRequests:
		s.Category, s.Retry = CategoryTransient, RetryAdvice{Kind: RetryHonorRetryAfter, Text: "Yes"}
	case status >= 500:
		s.Category, s.Retry = CategoryTransient, RetryAdvice{Kind: RetryBackoff, Text: "Yes, with jitter"}
	default:
		s.Category, s.Retry = CategoryCallerBug, RetryAdvice{Kind: RetryNever, Text: "No"}
	}
	return s
}
