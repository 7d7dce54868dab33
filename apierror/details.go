package apierror

import "fmt"

// detailer is implemented by every typed details value: it appends the
// details object's JSON (the same bytes encoding/json would produce) to dst.
type detailer interface {
	appendJSON(dst []byte) []byte
}

// KillSwitchScope is what a KILL_SWITCH turned off: exactly one of the three
// scopes below.
type KillSwitchScope string

// The three kill-switch scopes, narrowest first.
const (
	ScopeKey          KillSwitchScope = "key"
	ScopeOrganization KillSwitchScope = "organization"
	ScopeGlobal       KillSwitchScope = "global"
)

// Valid reports whether s is one of the three scopes.
func (s KillSwitchScope) Valid() bool {
	return s == ScopeKey || s == ScopeOrganization || s == ScopeGlobal
}

// ParseKillSwitchScope returns the scope named by s, or an error naming the
// three valid values.
func ParseKillSwitchScope(s string) (KillSwitchScope, error) {
	if v := KillSwitchScope(s); v.Valid() {
		return v, nil
	}
	return "", fmt.Errorf("apierror: invalid kill switch scope %q (want key, organization or global)", s)
}

// Platform is an upstream platform: exactly one of the five below.
type Platform string

// The upstream platforms of the contract.
const (
	PlatformTikTok    Platform = "tiktok"
	PlatformMeta      Platform = "meta"
	PlatformApple     Platform = "apple"
	PlatformInstagram Platform = "instagram"
	PlatformAppStore  Platform = "appstore"
)

// Valid reports whether p is one of the five platforms.
func (p Platform) Valid() bool {
	switch p {
	case PlatformTikTok, PlatformMeta, PlatformApple, PlatformInstagram, PlatformAppStore:
		return true
	}
	return false
}

// ParsePlatform returns the platform named by s, or an error naming the valid
// values.
func ParsePlatform(s string) (Platform, error) {
	if v := Platform(s); v.Valid() {
		return v, nil
	}
	return "", fmt.Errorf("apierror: invalid platform %q (want tiktok, meta, apple, instagram or appstore)", s)
}

// BillingReason says why a credit-spending call found no credits.
type BillingReason string

// The two billing reasons of the contract.
const (
	// BillingInsufficient: the wallet can't cover this generation.
	BillingInsufficient BillingReason = "insufficient"
	// BillingCap: a sub-org child hit its monthlyCreditCap ceiling.
	BillingCap BillingReason = "cap"
)

// Valid reports whether r is one of the two reasons.
func (r BillingReason) Valid() bool { return r == BillingInsufficient || r == BillingCap }

// ApprovalStatus is the approval state of a content container.
type ApprovalStatus string

// The approval states of a content container.
const (
	ApprovalPending  ApprovalStatus = "pending"
	ApprovalApproved ApprovalStatus = "approved"
	ApprovalRejected ApprovalStatus = "rejected"
)

// Valid reports whether s is one of the three states.
func (s ApprovalStatus) Valid() bool {
	return s == ApprovalPending || s == ApprovalApproved || s == ApprovalRejected
}

// ValidationCode narrows a VALIDATION error in details.code.
type ValidationCode string

// RefillRequiresThresholdAndAmount: a one-sided auto-refill change on a
// sub-org credit-config (only refillThreshold or only refillAmount).
const RefillRequiresThresholdAndAmount ValidationCode = "REFILL_REQUIRES_THRESHOLD_AND_AMOUNT"

// Issue is one field that failed validation.
type Issue struct {
	// Path locates the field, for example "items[0].name"; a header is named
	// as "header:Idempotency-Key".
	Path string `json:"path"`
	// Message says what is wrong with it.
	Message string `json:"message"`
}

// ForbiddenScopeDetails are the details of FORBIDDEN_SCOPE.
type ForbiddenScopeDetails struct {
	// RequiredScope is details.requiredScope: the scope the route needs and
	// the key lacks. Always present.
	RequiredScope string `json:"requiredScope"`
}

func (d ForbiddenScopeDetails) appendJSON(b []byte) []byte {
	b = append(b, `{"requiredScope":`...)
	b = appendString(b, d.RequiredScope)
	return append(b, '}')
}

// ConflictDetails are the details of CONFLICT.
type ConflictDetails struct {
	// Reason narrows the collision, for example "already_approved".
	Reason string `json:"reason"`
	// BlockingProjectID names the project whose in-flight execution blocks a
	// migration; omitted when not relevant.
	BlockingProjectID string `json:"blockingProjectId,omitempty"`
}

func (d ConflictDetails) appendJSON(b []byte) []byte {
	b = append(b, `{"reason":`...)
	b = appendString(b, d.Reason)
	if d.BlockingProjectID != "" {
		b = append(b, `,"blockingProjectId":`...)
		b = appendString(b, d.BlockingProjectID)
	}
	return append(b, '}')
}

// IdempotencyConflictDetails are the details of IDEMPOTENCY_CONFLICT.
type IdempotencyConflictDetails struct {
	// OriginalRequestHash is details.originalRequestHash: the fingerprint of
	// the request first sent under this Idempotency-Key. Always present.
	OriginalRequestHash string `json:"originalRequestHash"`
	// CurrentRequestHash is details.currentRequestHash: the fingerprint of
	// this request, to diff against the original. Always present.
	CurrentRequestHash string `json:"currentRequestHash"`
}

func (d IdempotencyConflictDetails) appendJSON(b []byte) []byte {
	b = append(b, `{"originalRequestHash":`...)
	b = appendString(b, d.OriginalRequestHash)
	b = append(b, `,"currentRequestHash":`...)
	b = appendString(b, d.CurrentRequestHash)
	return append(b, '}')
}

// ValidationDetails are the details of VALIDATION. Issues is always present
// on the wire (an empty list rather than a missing field).
type ValidationDetails struct {
	// Issues is details.issues: every field that failed, each with a path and
	// a message; sent as [] (never omitted) when there are none.
	Issues []Issue `json:"issues"`
	// Code is details.code, narrowing the failure (for example
	// REFILL_REQUIRES_THRESHOLD_AND_AMOUNT); omitted when empty.
	Code ValidationCode `json:"code,omitempty"`
}

func (d ValidationDetails) appendJSON(b []byte) []byte {
	b = append(b, `{"issues":[`...)
	for i, is := range d.Issues {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"path":`...)
		b = appendString(b, is.Path)
		b = append(b, `,"message":`...)
		b = appendString(b, is.Message)
		b = append(b, '}')
	}
	b = append(b, ']')
	if d.Code != "" {
		b = append(b, `,"code":`...)
		b = appendString(b, string(d.Code))
	}
	return append(b, '}')
}

// PayloadTooLargeDetails are the details of PAYLOAD_TOO_LARGE.
type PayloadTooLargeDetails struct {
	// MaxBytes is details.maxBytes: the byte cap the upload body exceeded.
	// Always present.
	MaxBytes int64 `json:"maxBytes"`
}

func (d PayloadTooLargeDetails) appendJSON(b []byte) []byte {
	b = append(b, `{"maxBytes":`...)
	b = appendInt(b, d.MaxBytes)
	return append(b, '}')
}

// ApprovalRequiredDetails are the details of APPROVAL_REQUIRED.
type ApprovalRequiredDetails struct {
	// ContainerID is details.containerId: the content container that is not
	// approved. Always present.
	ContainerID string `json:"containerId"`
	// ApprovalStatus is details.approvalStatus: the container's current
	// state, pending or rejected (never approved).
	ApprovalStatus ApprovalStatus `json:"approvalStatus"`
}

func (d ApprovalRequiredDetails) appendJSON(b []byte) []byte {
	b = append(b, `{"containerId":`...)
	b = appendString(b, d.ContainerID)
	b = append(b, `,"approvalStatus":`...)
	b = appendString(b, string(d.ApprovalStatus))
	return append(b, '}')
}

// ReturnURLNotAllowedDetails are the details of RETURN_URL_NOT_ALLOWED. Host
// is present only when the URL parsed.
type ReturnURLNotAllowedDetails struct {
	// ReturnURL is details.returnUrl: the OAuth returnUrl exactly as sent.
	// Always present.
	ReturnURL string `json:"returnUrl"`
	// Host is details.host: the host parsed from the URL, checked against the
	// allowlist; omitted when the URL did not parse with a host.
	Host string `json:"host,omitempty"`
}

func (d ReturnURLNotAllowedDetails) appendJSON(b []byte) []byte {
	b = append(b, `{"returnUrl":`...)
	b = appendString(b, d.ReturnURL)
	if d.Host != "" {
		b = append(b, `,"host":`...)
		b = appendString(b, d.Host)
	}
	return append(b, '}')
}

// KillSwitchDetails are the details of KILL_SWITCH.
type KillSwitchDetails struct {
	// Scope is details.scope: exactly one of key, organization or global
	// (only global is worth retrying, after it is lifted).
	Scope KillSwitchScope `json:"scope"`
}

func (d KillSwitchDetails) appendJSON(b []byte) []byte {
	b = append(b, `{"scope":`...)
	b = appendString(b, string(d.Scope))
	return append(b, '}')
}

// BillingExhaustedDetails are the details of BILLING_EXHAUSTED on a
// credit-spending call (allocate sends none).
type BillingExhaustedDetails struct {
	// Reason is details.reason: "insufficient" (the wallet can't cover the
	// generation) or "cap" (a sub-org child hit its monthlyCreditCap).
	Reason BillingReason `json:"reason"`
}

func (d BillingExhaustedDetails) appendJSON(b []byte) []byte {
	b = append(b, `{"reason":`...)
	b = appendString(b, string(d.Reason))
	return append(b, '}')
}

// ModerationBlockedDetails are the optional details of MODERATION_BLOCKED.
type ModerationBlockedDetails struct {
	// SafetyCategory is details.safetyCategory: the safety category that
	// refused the asset; the details are omitted when it is unknown.
	SafetyCategory string `json:"safetyCategory"`
}

func (d ModerationBlockedDetails) appendJSON(b []byte) []byte {
	b = append(b, `{"safetyCategory":`...)
	b = appendString(b, d.SafetyCategory)
	return append(b, '}')
}

// CredentialInvalidDetails are the details of CREDENTIAL_INVALID.
type CredentialInvalidDetails struct {
	// Platform is details.platform: the platform whose credential expired or
	// was revoked, one of the five upstreams. Always present.
	Platform Platform `json:"platform"`
	// SocialAccountID is details.socialAccountId: the account to reconnect.
	// Always present.
	SocialAccountID string `json:"socialAccountId"`
}

func (d CredentialInvalidDetails) appendJSON(b []byte) []byte {
	b = append(b, `{"platform":`...)
	b = appendString(b, string(d.Platform))
	b = append(b, `,"socialAccountId":`...)
	b = appendString(b, d.SocialAccountID)
	return append(b, '}')
}

// CircuitOpenDetails are the details of CIRCUIT_OPEN.
type CircuitOpenDetails struct {
	// Resource is details.resource: the platform integration whose breaker
	// is open. Always present.
	Resource string `json:"resource"`
	// RetryAfterSeconds is details.retryAfterSeconds: the cooldown left in
	// whole seconds, rounded up, at least 1 when built by CircuitOpen.
	RetryAfterSeconds int64 `json:"retryAfterSeconds"`
}

func (d CircuitOpenDetails) appendJSON(b []byte) []byte {
	b = append(b, `{"resource":`...)
	b = appendString(b, d.Resource)
	b = append(b, `,"retryAfterSeconds":`...)
	b = appendInt(b, d.RetryAfterSeconds)
	return append(b, '}')
}

// UploadUsage is the usage and limits UPLOAD_QUOTA_EXCEEDED always carries,
// zeros included.
type UploadUsage struct {
	// CurrentUploads is details.currentUploads: uploads the project holds now.
	CurrentUploads int64 `json:"currentUploads"`
	// MaxUploads is details.maxUploads: the project's upload-count limit.
	MaxUploads int64 `json:"maxUploads"`
	// CurrentBytes is details.currentBytes: bytes the project's uploads use now.
	CurrentBytes int64 `json:"currentBytes"`
	// MaxBytes is details.maxBytes: the project's upload-bytes limit.
	MaxBytes int64 `json:"maxBytes"`
}

func (d UploadUsage) appendJSON(b []byte) []byte {
	b = append(b, `{"currentUploads":`...)
	b = appendInt(b, d.CurrentUploads)
	b = append(b, `,"maxUploads":`...)
	b = appendInt(b, d.MaxUploads)
	b = append(b, `,"currentBytes":`...)
	b = appendInt(b, d.CurrentBytes)
	b = append(b, `,"maxBytes":`...)
	b = appendInt(b, d.MaxBytes)
	return append(b, '}')
}

// RateLimitedDetails are the details of RATE_LIMITED.
type RateLimitedDetails struct {
	// RetryAfterMs is details.retryAfterMs: how long to wait before retrying,
	// in milliseconds, rounded up, at least 1 when built by RateLimited;
	// consistent with the Retry-After header.
	RetryAfterMs int64 `json:"retryAfterMs"`
}

func (d RateLimitedDetails) appendJSON(b []byte) []byte {
	b = append(b, `{"retryAfterMs":`...)
	b = appendInt(b, d.RetryAfterMs)
	return append(b, '}')
}

// PlatformErrorDetails are the details of PLATFORM_ERROR. RetryAfterMs is
// always on the wire: null when the platform gave no retry window.
type PlatformErrorDetails struct {
	// Platform is details.platform: the upstream that failed, exactly one of
	// tiktok, meta, apple, instagram, appstore.
	Platform Platform `json:"platform"`
	// PlatformCode is details.platformCode: the platform's own error code,
	// the field to act on. Always present.
	PlatformCode string `json:"platformCode"`
	// PlatformMessage is details.platformMessage: the platform's raw message.
	// Always present.
	PlatformMessage string `json:"platformMessage"`
	// RetryAfterMs is details.retryAfterMs: the platform's retry window in
	// milliseconds, or null (nil) when it gave none: then don't retry.
	RetryAfterMs *int64 `json:"retryAfterMs"`
}

func (d PlatformErrorDetails) appendJSON(b []byte) []byte {
	b = append(b, `{"platform":`...)
	b = appendString(b, string(d.Platform))
	b = append(b, `,"platformCode":`...)
	b = appendString(b, d.PlatformCode)
	b = append(b, `,"platformMessage":`...)
	b = appendString(b, d.PlatformMessage)
	b = append(b, `,"retryAfterMs":`...)
	if d.RetryAfterMs == nil {
		b = append(b, "null"...)
	} else {
		b = appendInt(b, *d.RetryAfterMs)
	}
	return append(b, '}')
}

// rawDetails is details that arrived as JSON (decoded on the client side, or
// given to NewWithDetails); they are appended as they are.
type rawDetails []byte

func (d rawDetails) appendJSON(b []byte) []byte { return append(b, d...) }

// detailTypes maps each code that carries details to a constructor of its
// typed details value, used to decode raw details on demand.
var detailTypes = map[Code]func() any{
	CodeForbiddenScope:      func() any { return new(ForbiddenScopeDetails) },
	CodeConflict:            func() any { return new(ConflictDetails) },
	CodeIdempotencyConflict: func() any { return new(IdempotencyConflictDetails) },
	CodeValidation:          func() any { return new(ValidationDetails) },
	CodePayloadTooLarge:     func() any { return new(PayloadTooLargeDetails) },
	CodeApprovalRequired:    func() any { return new(ApprovalRequiredDetails) },
	CodeReturnURLNotAllowed: func() any { return new(ReturnURLNotAllowedDetails) },
	CodeKillSwitch:          func() any { return new(KillSwitchDetails) },
	CodeBillingExhausted:    func() any { return new(BillingExhaustedDetails) },
	CodeModerationBlocked:   func() any { return new(ModerationBlockedDetails) },
	CodeCredentialInvalid:   func() any { return new(CredentialInvalidDetails) },
	CodeCircuitOpen:         func() any { return new(CircuitOpenDetails) },
	CodeUploadQuotaExceeded: func() any { return new(UploadUsage) },
	CodeRateLimited:         func() any { return new(RateLimitedDetails) },
	CodePlatformError:       func() any { return new(PlatformErrorDetails) },
}
