package apierror

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"time"
)

// Error is an error of the contract: a code, a human message, optional
// structured details and, server side, an optional cause that is for logs
// only and never rendered. On the client side (see Decode) it also carries the
// requestId and the HTTP status it arrived with.
//
// An *Error is immutable: WithMessage and WithCause return copies, so a value
// can be shared freely between goroutines.
type Error struct {
	code       Code
	status     int
	message    string
	details    detailer
	cause      error
	requestID  string
	retryAfter time.Duration // from a Retry-After header, client side only
}

// newError builds an error of a known code with its catalogue status and
// default message.
func newError(code Code, details detailer) *Error {
	spec := catalogue[index[code]]
	return &Error{code: code, status: spec.Status, message: spec.Message, details: details}
}

// New returns an error of code with the catalogue's default message and no
// details. A code the catalogue does not know becomes INTERNAL, with the
// mistake kept as the (logged, never rendered) cause. For a code whose
// details the contract guarantees (RATE_LIMITED's retryAfterMs, say), use
// its typed constructor: New cannot know the values.
func New(code Code) *Error {
	if !code.Known() {
		return Internal(fmt.Errorf("apierror: unknown code %q", string(code)))
	}
	return newError(code, nil)
}

// NewWithDetails returns an error of code whose details are v marshalled with
// encoding/json. Prefer the typed constructors: they guarantee the documented
// fields. An unknown code, or v that does not marshal to a JSON object,
// becomes INTERNAL with the mistake as its cause. INTERNAL never carries
// details: for CodeInternal, v is ignored (not even marshalled).
func NewWithDetails(code Code, v any) *Error {
	e := New(code)
	if e.code != code || code == CodeInternal {
		return e
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return Internal(fmt.Errorf("apierror: %s details: %w", code, err))
	}
	if len(raw) == 0 || raw[0] != '{' {
		return Internal(fmt.Errorf("apierror: %s details must be a JSON object, got %.40s", code, raw))
	}
	e.details = rawDetails(raw)
	return e
}

// Code returns the error's code.
func (e *Error) Code() Code { return e.code }

// Status returns the HTTP status: the catalogue's for errors built here, the
// one it arrived with for decoded errors.
func (e *Error) Status() int { return e.status }

// Message returns the human message. Log it; don't branch on it.
func (e *Error) Message() string { return e.message }

// RequestID returns the requestId a decoded error arrived with; it is empty
// on errors built on the server (the middleware supplies the ID when it
// renders).
func (e *Error) RequestID() string { return e.requestID }

// Spec returns the catalogue row of the error's code; for a code this version
// does not know, a row derived from the HTTP status class.
func (e *Error) Spec() Spec {
	if s, ok := Lookup(e.code); ok {
		return s
	}
	return fallbackSpec(e.code, e.status)
}

// Unwrap returns the server-side cause, or nil. The cause is for logs only.
// It is safe on a nil *Error, which a chain may hold.
func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.cause
}

// Error returns "CODE: message", followed by ": cause" when there is a cause.
// It is meant for logs; responses are rendered by AppendJSON, which never
// includes the cause.
func (e *Error) Error() string {
	if e == nil {
		return "<nil *apierror.Error>"
	}
	s := string(e.code) + ": " + e.message
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, apierror.NotFound()) works through wrapping. [HasCode]
// says the same without building a target.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && e.code == t.code
}

// ErrorType returns the code: the method OpenTelemetry's semantic
// conventions look for on an error that names its own error.type
// (semconv.ErrorType), so that instrumentation deriving error.type from a
// returned error (labstack's echo-otel, a client's otelhttp transport,
// a service's own spans) records the contract code, a value from a fixed
// set, rather than the Go type name every code shares. A nil *Error is
// answered as INTERNAL, so that is its type.
func (e *Error) ErrorType() string {
	if e == nil {
		return string(CodeInternal)
	}
	return string(e.code)
}

// StatusCode returns the HTTP status, as [Error.Status] does. It is the
// method echo v5's HTTPStatusCoder names, so that v5's RequestLogger,
// ResolveResponseStatus and labstack's echo-otel see the contract's status
// without running the error handler.
func (e *Error) StatusCode() int {
	if e == nil {
		return http.StatusInternalServerError // what a nil *Error is answered with
	}
	return e.status
}

// WithMessage returns a copy of e with message msg. INTERNAL keeps its fixed
// message whatever msg is; an empty msg keeps the current message.
func (e *Error) WithMessage(msg string) *Error {
	c := *e
	if msg != "" && e.code != CodeInternal {
		c.message = msg
	}
	return &c
}

// WithCause returns a copy of e whose server-side cause is cause.
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

// HasDetails reports whether the error carries a details object.
func (e *Error) HasDetails() bool { return e.details != nil }

// RawDetails returns the details object as JSON, or nil when there is none.
func (e *Error) RawDetails() json.RawMessage {
	if e.details == nil {
		return nil
	}
	return e.details.appendJSON(nil)
}

// Details returns the typed details of a known code (for example a
// RateLimitedDetails), decoding raw details on demand. It returns (nil, nil)
// when there are none, and the raw JSON as a map for a code without a typed
// details value.
func (e *Error) Details() (any, error) {
	if e.details == nil {
		return nil, nil
	}
	if _, raw := e.details.(rawDetails); !raw {
		return e.details, nil
	}
	mk, ok := detailTypes[e.code]
	if !ok {
		var m map[string]any
		if err := json.Unmarshal(e.RawDetails(), &m); err != nil {
			return nil, fmt.Errorf("apierror: %s details: %w", e.code, err)
		}
		return m, nil
	}
	p := mk()
	if err := json.Unmarshal(e.RawDetails(), p); err != nil {
		return nil, fmt.Errorf("apierror: %s details: %w", e.code, err)
	}
	return reflect.ValueOf(p).Elem().Interface(), nil
}

// DetailsAs returns the details of the first *Error in err's chain as a T
// (for example DetailsAs[RateLimitedDetails](err)). It reports false when err
// holds no *Error, the error has no details, or they do not decode into T.
func DetailsAs[T any](err error) (T, bool) {
	var zero T
	e, ok := As(err)
	if !ok || e.details == nil {
		return zero, false
	}
	if v, ok := e.details.(T); ok {
		return v, true
	}
	var v T
	if jerr := json.Unmarshal(e.RawDetails(), &v); jerr != nil {
		return zero, false
	}
	return v, true
}

// RetryAfter returns how long the server asked the client to wait: the
// Retry-After header of a decoded response, else details.retryAfterMs
// (RATE_LIMITED, PLATFORM_ERROR) or details.retryAfterSeconds (CIRCUIT_OPEN).
// It reports false when the error names no wait (a negative wire value counts
// as none); the wait is never negative and saturates instead of overflowing.
func (e *Error) RetryAfter() (time.Duration, bool) {
	switch e.code {
	case CodeRateLimited:
		if d, ok := DetailsAs[RateLimitedDetails](e); ok && d.RetryAfterMs >= 0 {
			return units(d.RetryAfterMs, time.Millisecond), true
		}
	case CodePlatformError:
		if d, ok := DetailsAs[PlatformErrorDetails](e); ok && d.RetryAfterMs != nil && *d.RetryAfterMs >= 0 {
			return units(*d.RetryAfterMs, time.Millisecond), true
		}
		return 0, false // null retryAfterMs: non-transient, whatever headers say
	case CodeCircuitOpen:
		if d, ok := DetailsAs[CircuitOpenDetails](e); ok && d.RetryAfterSeconds >= 0 {
			return units(d.RetryAfterSeconds, time.Second), true
		}
	}
	if e.retryAfter > 0 {
		return e.retryAfter, true
	}
	return 0, false
}

// units is n (>= 0) units as a Duration, saturating at the largest Duration
// instead of overflowing on a hostile or absurd wire value.
func units(n int64, unit time.Duration) time.Duration {
	if n > int64(math.MaxInt64/unit) {
		return math.MaxInt64
	}
	return time.Duration(n) * unit
}

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e, true
	}
	return nil, false
}

// From returns the contract error for any error: the first *Error in err's
// chain, or INTERNAL with err as its cause. It returns nil for a nil err.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	if e, ok := As(err); ok {
		return e
	}
	return Internal(err)
}

// CodeOf returns the code of err: the code of the first *Error in its chain,
// INTERNAL for any other error, and "" for nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	if e, ok := As(err); ok {
		return e.code
	}
	return CodeInternal
}

// HasCode reports whether the first *Error in err's chain has code.
func HasCode(err error, code Code) bool {
	e, ok := As(err)
	return ok && e.code == code
}

// StatusOf returns the HTTP status err is answered with: the status of its
// *Error, 500 for any other error, 200 for nil.
func StatusOf(err error) int {
	if err == nil {
		return http.StatusOK
	}
	if e, ok := As(err); ok {
		return e.status
	}
	return http.StatusInternalServerError
}
