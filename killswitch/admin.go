package killswitch

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/layershq/errkit/apierror"
	errkitmw "github.com/layershq/errkit/middleware"
)

// AuthorizeFunc decides whether the request may operate the kill switches.
// It returns the operator's name (recorded as Switch.By) or an error: an
// *apierror.Error is answered as is (for example FORBIDDEN_SCOPE), any other
// error as UNAUTHENTICATED.
type AuthorizeFunc func(c echo.Context) (operator string, err error)

// AdminConfig configures RegisterAdminWithConfig.
type AdminConfig struct {
	// Controller flips and lists the switches. Required.
	Controller Controller
	// Authorize guards every route of the group. Required: the group is
	// never registered unprotected.
	Authorize AuthorizeFunc
	// ErrorHandler renders the group's errors. Default
	// middleware.HTTPErrorHandler (the contract's envelope).
	ErrorHandler echo.HTTPErrorHandler
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

// ListJSON is the body of GET on the group.
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

// RegisterAdmin mounts the operator API on g with the default
// configuration; see RegisterAdminWithConfig.
func RegisterAdmin(g *echo.Group, ctl Controller, authorize AuthorizeFunc) error {
	return RegisterAdminWithConfig(g, AdminConfig{Controller: ctl, Authorize: authorize})
}

// RegisterAdminWithConfig mounts the operator API on g:
//
//	GET    ""                   list every switch (200, ListJSON)
//	PUT    /global              turn the global switch on (200, SwitchJSON)
//	DELETE /global              turn it off (204)
//	PUT    /organization/:id    same for one organization
//	DELETE /organization/:id
//	PUT    /key/:id             same for one API key
//	DELETE /key/:id
//
// Every route first calls Authorize. A PUT body is optional; when present
// it is a PutBody with no unknown fields. Errors are answered in the
// contract's envelope by ErrorHandler: UNAUTHENTICATED (or the
// authorizer's *apierror.Error), VALIDATION for a bad body or id, NOT_FOUND
// for an unknown route below g, and INTERNAL (cause logged, never sent)
// when the Controller fails. It returns an error, and registers nothing,
// when g, Controller or Authorize is nil.
func RegisterAdminWithConfig(g *echo.Group, cfg AdminConfig) error {
	if g == nil {
		return errors.New("killswitch: RegisterAdmin: nil *echo.Group")
	}
	if cfg.Controller == nil {
		return errors.New("killswitch: RegisterAdmin: nil Controller")
	}
	if cfg.Authorize == nil {
		return errors.New("killswitch: RegisterAdmin: nil Authorize (the operator API is never registered unprotected)")
	}
	if cfg.ErrorHandler == nil {
		cfg.ErrorHandler = errkitmw.HTTPErrorHandler
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &admin{cfg: cfg}
	g.Use(a.guard)
	g.GET("", a.list)
	g.GET("/", a.list)
	g.PUT("/global", a.put(ScopeGlobal))
	g.DELETE("/global", a.del(ScopeGlobal))
	g.PUT("/organization/:id", a.put(ScopeOrganization))
	g.DELETE("/organization/:id", a.del(ScopeOrganization))
	g.PUT("/key/:id", a.put(ScopeKey))
	g.DELETE("/key/:id", a.del(ScopeKey))
	return nil
}

type admin struct{ cfg AdminConfig }

// operatorKey is the echo.Context key of the authorized operator's name.
const operatorKey = "errkit.killswitch.operator"

// guard authorizes the request and renders any error of the group as an
// envelope, so the group answers the contract even under a service whose
// own error handler does not.
func (a *admin) guard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := a.authorizeThen(next, c)
		if err == nil {
			return nil
		}
		a.cfg.ErrorHandler(toAPIError(err), c)
		return nil
	}
}

func (a *admin) authorizeThen(next echo.HandlerFunc, c echo.Context) error {
	op, err := a.cfg.Authorize(c)
	if err != nil {
		if e, ok := apierror.As(err); ok {
			return e
		}
		return apierror.Unauthenticated().WithCause(err)
	}
	c.Set(operatorKey, op)
	return next(c)
}

// toAPIError maps errors of the group onto the contract.
func toAPIError(err error) *apierror.Error {
	if e, ok := apierror.As(err); ok {
		return e
	}
	if errors.Is(err, ErrInvalidSwitch) {
		return apierror.Validation(apierror.Issue{Path: "request", Message: "The switch is invalid."}).WithCause(err)
	}
	var he *echo.HTTPError
	if errors.As(err, &he) && (he.Code == http.StatusNotFound || he.Code == http.StatusMethodNotAllowed) {
		return apierror.NotFound().WithCause(err)
	}
	return apierror.Internal(err)
}

func (a *admin) list(c echo.Context) error {
	sws, err := a.cfg.Controller.List(c.Request().Context())
	if err != nil {
		return apierror.Internal(err)
	}
	out := ListJSON{Switches: make([]SwitchJSON, 0, len(sws))}
	for _, s := range sws {
		out.Switches = append(out.Switches, toJSON(s))
	}
	return c.JSON(http.StatusOK, out)
}

func (a *admin) put(scope Scope) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Param("id")
		if err := validateTarget(scope, id); err != nil {
			return apierror.Validation(apierror.Issue{Path: "id", Message: "must be a non-empty printable id of at most 256 bytes."}).WithCause(err)
		}
		body, err := readPutBody(c.Request())
		if err != nil {
			return err
		}
		if body.ExpectedDurationSeconds != 0 && scope != ScopeGlobal {
			return apierror.Validation(apierror.Issue{Path: "expectedDurationSeconds", Message: "is accepted on the global switch only."})
		}
		op, _ := c.Get(operatorKey).(string)
		s := Switch{
			Scope:            scope,
			ID:               id,
			Reason:           body.Reason,
			By:               op,
			At:               a.cfg.Now().UTC().Truncate(time.Second),
			ExpectedDuration: time.Duration(body.ExpectedDurationSeconds) * time.Second,
		}
		if err := s.Validate(); err != nil {
			return apierror.Validation(apierror.Issue{Path: "request", Message: "The switch is invalid."}).WithCause(err)
		}
		if err := a.cfg.Controller.On(c.Request().Context(), s); err != nil {
			return toAPIError(err)
		}
		return c.JSON(http.StatusOK, toJSON(s))
	}
}

func (a *admin) del(scope Scope) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Param("id")
		if err := validateTarget(scope, id); err != nil {
			return apierror.Validation(apierror.Issue{Path: "id", Message: "must be a non-empty printable id of at most 256 bytes."}).WithCause(err)
		}
		if err := a.cfg.Controller.Off(c.Request().Context(), scope, id); err != nil {
			return toAPIError(err)
		}
		return c.NoContent(http.StatusNoContent)
	}
}

// maxExpectedSeconds bounds expectedDurationSeconds (one year).
const maxExpectedSeconds = 365 * 24 * 3600

// readPutBody reads the optional PUT body. An empty body is an empty
// PutBody; anything else must be one JSON object with known fields only.
func readPutBody(r *http.Request) (PutBody, error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxAdminBody+1))
	if err != nil {
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
