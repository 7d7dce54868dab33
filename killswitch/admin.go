package killswitch

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
)

// AuthorizeFunc decides whether a request may operate the kill switches.
// It returns the operator's name (recorded as Switch.By) or an error: an
// *apierror.Error is answered as is (for example FORBIDDEN_SCOPE), any other
// error as UNAUTHENTICATED (the error is logged by the error writer, never
// sent).
type AuthorizeFunc func(r *http.Request) (operator string, err error)

// AdminConfig configures [NewAdmin].
type AdminConfig struct {
	// Controller flips and lists the switches. Required.
	Controller Controller
	// Authorize guards every route, known or not. Required: the operator
	// API is never served unprotected.
	Authorize AuthorizeFunc
	// Now stamps Switch.At of a PUT (truncated to the second). Default
	// time.Now.
	Now func() time.Time
}

// MaxAdminBody is the largest PUT body the operator API reads, in bytes.
const MaxAdminBody = 16 << 10

// SwitchJSON is the operator API's JSON form of a switch.
type SwitchJSON struct {
	// Scope is "scope": what the switch turns off, one of key, organization
	// or global (the scope KILL_SWITCH reports in details.scope).
	Scope Scope `json:"scope"`
	// ID is "id": the key ID or organization ID; omitted for global.
	ID string `json:"id,omitempty"`
	// Reason is "reason": the operator's note; internal, never sent to
	// partners in a KILL_SWITCH response.
	Reason string `json:"reason"`
	// By is "by": the operator who flipped it, as named by Authorize.
	By string `json:"by"`
	// At is "at": when the switch was flipped, in UTC (RFC 3339).
	At time.Time `json:"at"`
	// ExpectedDurationSeconds is "expectedDurationSeconds": the operator's
	// estimate, from At, in whole seconds (rounded up); omitted when unset.
	ExpectedDurationSeconds int64 `json:"expectedDurationSeconds,omitempty"`
}

// ListJSON is the body of GET on the operator API's root.
type ListJSON struct {
	// Switches is "switches": every switch that is on; [] (never null) when
	// none is.
	Switches []SwitchJSON `json:"switches"`
}

// PutBody is the optional JSON body of a PUT. ExpectedDurationSeconds is
// accepted on the global switch only.
type PutBody struct {
	// Reason is "reason": the operator's note, at most MaxReasonLength bytes.
	Reason string `json:"reason"`
	// ExpectedDurationSeconds is "expectedDurationSeconds": how long the
	// global switch should stay on, 0 to 31536000; 0 means no estimate.
	ExpectedDurationSeconds int64 `json:"expectedDurationSeconds"`
}

// Admin is the operator API, a plain http.Handler. It serves paths relative
// to where it is mounted (mount it with http.StripPrefix, or through an
// adapter that strips the mount point):
//
//	GET    "" or /              list every switch (200, ListJSON)
//	PUT    /global              turn the global switch on (200, SwitchJSON)
//	DELETE /global              turn it off (204)
//	PUT    /organization/{id}   same for one organization
//	DELETE /organization/{id}
//	PUT    /key/{id}            same for one API key
//	DELETE /key/{id}
//
// Every request is authorized first, whatever its route. A PUT body is
// optional; when present it is one [PutBody] with no unknown fields, of at
// most [MaxAdminBody] bytes. Errors: UNAUTHENTICATED (or the authorizer's
// *apierror.Error), VALIDATION for a bad body or id, PAYLOAD_TOO_LARGE,
// NOT_FOUND for any other route or method, and INTERNAL (cause logged by
// the error writer, never sent) when the Controller fails. Successful
// answers are JSON with Cache-Control: no-store. It is safe for concurrent
// use.
type Admin struct {
	ctl       Controller
	authorize AuthorizeFunc
	now       func() time.Time
}

// NewAdmin returns the operator API for cfg, or an error when Controller or
// Authorize is nil.
func NewAdmin(cfg AdminConfig) (*Admin, error) {
	if cfg.Controller == nil {
		return nil, errors.New("killswitch: AdminConfig.Controller is nil")
	}
	if cfg.Authorize == nil {
		return nil, errors.New("killswitch: AdminConfig.Authorize is nil (the operator API is never served unprotected)")
	}
	a := &Admin{ctl: cfg.Controller, authorize: cfg.Authorize, now: cfg.Now}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

// ServeHTTP serves r and renders any error as the contract's envelope with
// httperror.Default(), for standalone use. Inside a service, mount the
// adapter's handler (nethttp.Admin, or the echo middleware package's
// RegisterAdmin) instead, so errors go through the service's error writer
// and logger.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := a.Serve(w, r); err != nil {
		httperror.Default().Write(w, r, err)
	}
}

// Serve serves r and returns its error instead of rendering it: nil when
// the answer has been written, otherwise an *apierror.Error (see [Admin])
// that the caller renders. Nothing has been written when it returns an
// error.
func (a *Admin) Serve(w http.ResponseWriter, r *http.Request) error {
	op, err := a.authorize(r)
	if err != nil {
		if e, ok := apierror.As(err); ok {
			return e
		}
		return apierror.Unauthenticated().WithCause(err)
	}
	scope, id, ok := route(r.URL)
	switch {
	case !ok:
		return apierror.NotFound()
	case scope == "" && r.Method == http.MethodGet:
		return a.list(w, r)
	case scope != "" && r.Method == http.MethodPut:
		return a.put(w, r, op, scope, id)
	case scope != "" && r.Method == http.MethodDelete:
		return a.del(w, r, scope, id)
	}
	return apierror.NotFound()
}

// route parses the path below the mount point: ("", "") for the root,
// (global, "") for /global, (scope, id) for /organization/{id} and
// /key/{id}, and false for anything else. It works on the escaped path so
// that an id may hold an escaped "/".
func route(u *url.URL) (Scope, string, bool) {
	p := u.EscapedPath()
	switch p {
	case "", "/":
		return "", "", true
	case "/global":
		return ScopeGlobal, "", true
	}
	for _, scope := range [...]Scope{ScopeOrganization, ScopeKey} {
		raw, ok := strings.CutPrefix(p, "/"+string(scope)+"/")
		if !ok {
			continue
		}
		if strings.Contains(raw, "/") {
			return "", "", false
		}
		id, err := url.PathUnescape(raw)
		if err != nil {
			return "", "", false
		}
		return scope, id, true
	}
	return "", "", false
}

// invalidID is the answer to an id that cannot name a switch.
func invalidID(err error) error {
	return apierror.Validation(apierror.Issue{Path: "id", Message: "must be a non-empty printable id of at most 256 bytes."}).WithCause(err)
}

// toAPIError maps the Controller's errors onto the contract.
func toAPIError(err error) error {
	if e, ok := apierror.As(err); ok {
		return e
	}
	if errors.Is(err, ErrInvalidSwitch) {
		return apierror.Validation(apierror.Issue{Path: "request", Message: "The switch is invalid."}).WithCause(err)
	}
	return apierror.Internal(err)
}

func (a *Admin) list(w http.ResponseWriter, r *http.Request) error {
	sws, err := a.ctl.List(r.Context())
	if err != nil {
		return apierror.Internal(err)
	}
	out := ListJSON{Switches: make([]SwitchJSON, 0, len(sws))}
	for _, s := range sws {
		out.Switches = append(out.Switches, toJSON(s))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *Admin) put(w http.ResponseWriter, r *http.Request, op string, scope Scope, id string) error {
	if err := validateTarget(scope, id); err != nil {
		return invalidID(err)
	}
	body, err := readPutBody(r)
	if err != nil {
		return err
	}
	if body.ExpectedDurationSeconds != 0 && scope != ScopeGlobal {
		return apierror.Validation(apierror.Issue{Path: "expectedDurationSeconds", Message: "is accepted on the global switch only."})
	}
	s := Switch{
		Scope:            scope,
		ID:               id,
		Reason:           body.Reason,
		By:               op,
		At:               a.now().UTC().Truncate(time.Second),
		ExpectedDuration: time.Duration(body.ExpectedDurationSeconds) * time.Second,
	}
	if err := s.Validate(); err != nil {
		return apierror.Validation(apierror.Issue{Path: "request", Message: "The switch is invalid."}).WithCause(err)
	}
	if err := a.ctl.On(r.Context(), s); err != nil {
		return toAPIError(err)
	}
	return writeJSON(w, http.StatusOK, toJSON(s))
}

func (a *Admin) del(w http.ResponseWriter, r *http.Request, scope Scope, id string) error {
	if err := validateTarget(scope, id); err != nil {
		return invalidID(err)
	}
	if err := a.ctl.Off(r.Context(), scope, id); err != nil {
		return toAPIError(err)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// writeJSON answers v as JSON with a trailing newline. It encodes before
// writing anything, so that an encoding failure can still be answered as an
// error.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return apierror.Internal(err)
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b) // a failed write means the operator is gone
	return nil
}

// maxExpectedSeconds bounds expectedDurationSeconds (one year).
const maxExpectedSeconds = 365 * 24 * 3600

// readPutBody reads the optional PUT body. An empty body is an empty
// PutBody; anything else must be one JSON object with known fields only.
func readPutBody(r *http.Request) (PutBody, error) {
	if r.Body == nil {
		return PutBody{}, nil
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxAdminBody+1))
	if err != nil {
		// A service-wide body limit below MaxAdminBody is still a 413.
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return PutBody{}, apierror.PayloadTooLarge(tooLarge.Limit)
		}
		return PutBody{}, apierror.Validation(apierror.Issue{Path: "body", Message: "The body could not be read."}).WithCause(err)
	}
	if len(raw) > MaxAdminBody {
		return PutBody{}, apierror.PayloadTooLarge(MaxAdminBody)
	}
	return parsePutBody(raw)
}

// parsePutBody parses a PUT body; errors are VALIDATION *apierror.Errors.
func parsePutBody(raw []byte) (PutBody, error) {
	var b PutBody
	if len(bytes.TrimSpace(raw)) == 0 {
		return b, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return PutBody{}, apierror.Validation(apierror.Issue{Path: "body",
			Message: `must be a JSON object {"reason": string, "expectedDurationSeconds": integer}.`}).WithCause(err)
	}
	if dec.More() {
		return PutBody{}, apierror.Validation(apierror.Issue{Path: "body", Message: "must hold a single JSON object."})
	}
	var issues []apierror.Issue
	if len(b.Reason) > MaxReasonLength {
		issues = append(issues, apierror.Issue{Path: "reason", Message: "must be at most 1024 bytes."})
	}
	if b.ExpectedDurationSeconds < 0 || b.ExpectedDurationSeconds > maxExpectedSeconds {
		issues = append(issues, apierror.Issue{Path: "expectedDurationSeconds", Message: "must be between 0 and 31536000."})
	}
	if len(issues) > 0 {
		return PutBody{}, apierror.Validation(issues...)
	}
	return b, nil
}

func toJSON(s Switch) SwitchJSON {
	secs := int64(math.Ceil(s.ExpectedDuration.Seconds()))
	return SwitchJSON{Scope: s.Scope, ID: s.ID, Reason: s.Reason, By: s.By, At: s.At.UTC(), ExpectedDurationSeconds: secs}
}
