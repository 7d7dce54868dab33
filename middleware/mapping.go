package middleware

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/layershq/errkit/apierror"
)

// Issue paths used for errors that are not about one body field.
const (
	pathBody    = "body"    // the request body as a whole
	pathRequest = "request" // the request as a whole (query, path params, ...)
)

// maxClientMessage bounds the length of an echo 4xx message reused as an
// issue message.
const maxClientMessage = 200

// convert maps any error returned in the chain onto the contract; see the
// mapping table in the package documentation. It never returns nil for a
// non-nil err.
func (h *errorHandler) convert(err error, c echo.Context) *apierror.Error {
	if e, ok := err.(*apierror.Error); ok {
		return e // the common case, without walking the chain
	}
	var f found
	f.walk(err)
	if f.hasAs {
		f.slow(err) // a custom As method may claim any type: ask errors.As
	}
	switch {
	case f.panic != nil:
		return apierror.Internal(err)
	case f.api != nil:
		return f.api
	case f.maxBytes != nil:
		return apierror.PayloadTooLarge(f.maxBytes.Limit)
	case f.binding != nil:
		return apierror.Validation(apierror.Issue{Path: sanitize(f.binding.Field, pathRequest), Message: "has an invalid value."})
	case f.http == nil:
		return apierror.Internal(err)
	}
	he := f.http
	switch he.Code {
	case http.StatusBadRequest:
		return badRequest(he)
	case http.StatusUnauthorized, http.StatusForbidden:
		return apierror.Unauthenticated()
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusGone:
		return apierror.NotFound()
	case http.StatusRequestEntityTooLarge:
		if h.maxBodyBytes > 0 {
			return apierror.PayloadTooLarge(h.maxBodyBytes)
		}
		return apierror.New(apierror.CodePayloadTooLarge)
	case http.StatusLengthRequired:
		return apierror.Validation(apierror.Issue{Path: "header:Content-Length", Message: "Content-Length is required."})
	case http.StatusRequestURITooLong:
		return apierror.Validation(apierror.Issue{Path: "url", Message: "The request URL is too long."})
	case http.StatusUnsupportedMediaType:
		return apierror.Validation(apierror.Issue{Path: "header:Content-Type", Message: "Unsupported Content-Type; send application/json."})
	case http.StatusRequestHeaderFieldsTooLarge:
		return apierror.Validation(apierror.Issue{Path: "header", Message: "The request headers are too large."})
	case http.StatusUnprocessableEntity:
		return apierror.Validation(apierror.Issue{Path: pathRequest, Message: clientMessage(he, "The request failed validation.")})
	case http.StatusTooManyRequests:
		return apierror.RateLimited(h.retryAfterOf(c))
	case http.StatusConflict:
		return apierror.Conflict(reasonConflict)
	case http.StatusRequestTimeout, http.StatusTooEarly:
		// The same request may succeed later: the retryable code the set
		// has for "try again" without a server-given wait.
		return apierror.Internal(err)
	}
	if he.Code >= 400 && he.Code < 500 {
		// Any other 4xx is a caller's mistake the code set has no name for:
		// answering it as INTERNAL would tell clients to retry with
		// backoff, so it is VALIDATION (fix the request, don't retry).
		return apierror.Validation(apierror.Issue{Path: pathRequest, Message: clientMessage(he, http.StatusText(he.Code)+".")})
	}
	return apierror.Internal(err)
}

// reasonConflict is details.reason of the CONFLICT a 409 echo error maps to
// (the error names no narrower reason).
const reasonConflict = "conflict"

// badRequest maps a 400 echo error: bind and decode failures, echo's key-auth
// "missing key" errors, and any other 400.
func badRequest(he *echo.HTTPError) *apierror.Error {
	if he.Internal == nil {
		if msg, ok := he.Message.(string); ok && isKeyAuthMessage(msg) {
			return apierror.Unauthenticated()
		}
		return apierror.Validation(apierror.Issue{Path: pathRequest, Message: clientMessage(he, "The request is malformed.")})
	}
	var se *json.SyntaxError
	var ute *json.UnmarshalTypeError
	switch in := he.Internal; {
	case errors.As(in, &se):
		return apierror.Validation(apierror.Issue{Path: pathBody,
			Message: "The body is not valid JSON (syntax error at byte offset " + strconv.FormatInt(se.Offset, 10) + ")."})
	case errors.As(in, &ute):
		return apierror.Validation(unmarshalTypeIssue(ute))
	case errors.Is(in, io.ErrUnexpectedEOF), errors.Is(in, io.EOF):
		return apierror.Validation(apierror.Issue{Path: pathBody, Message: "The body is not valid JSON (it ends too early)."})
	default:
		if f, ok := strings.CutPrefix(in.Error(), `json: unknown field "`); ok && strings.HasSuffix(f, `"`) {
			return apierror.Validation(apierror.Issue{Path: sanitize(strings.TrimSuffix(f, `"`), "unknown"), Message: "is not a known field."})
		}
	}
	return apierror.Validation(apierror.Issue{Path: pathRequest, Message: "The request could not be parsed."})
}

// isKeyAuthMessage reports whether msg is one of echo's KeyAuth middleware
// messages for a missing or unreadable API key (which it answers with 400).
func isKeyAuthMessage(msg string) bool {
	return strings.HasPrefix(msg, "missing key in ") || strings.HasPrefix(msg, "invalid key in ")
}

// unmarshalTypeIssue describes a JSON value of the wrong type without naming
// Go types.
func unmarshalTypeIssue(ute *json.UnmarshalTypeError) apierror.Issue {
	path := ute.Field
	if path == "" {
		path = pathBody
	}
	got, _, _ := strings.Cut(ute.Value, " ") // "number -5" -> "number"
	msg := "must be " + jsonKind(ute.Type)
	if got != "" {
		msg += ", got " + sanitize(got, "another type")
	}
	return apierror.Issue{Path: sanitize(path, pathBody), Message: msg + "."}
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another type"
}

// clientMessage returns an echo error's message when it is a plain string
// meant for the client (no internal error attached), of reasonable length and
// printable; otherwise fallback.
func clientMessage(he *echo.HTTPError, fallback string) string {
	if he.Internal != nil {
		return fallback
	}
	msg, ok := he.Message.(string)
	if !ok {
		return fallback
	}
	return sanitize(msg, fallback)
}

// sanitize returns s when it is non-empty, at most maxClientMessage bytes of
// valid UTF-8 without control characters, and fallback otherwise.
func sanitize(s, fallback string) string {
	if s == "" || len(s) > maxClientMessage || !utf8.ValidString(s) {
		return fallback
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return fallback
		}
	}
	return s
}

// retryAfterOf is the wait of a 429 raised by echo or third-party
// middleware: the Retry-After header an earlier middleware set on the
// response (delta-seconds), else the configured default.
func (h *errorHandler) retryAfterOf(c echo.Context) time.Duration {
	if v := c.Response().Header().Get("Retry-After"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 && n < 1<<31 {
			return time.Duration(n) * time.Second
		}
	}
	return h.defaultRetryAfter
}

// found holds the first error of each type the mapping cares about in an
// error's chain.
type found struct {
	panic    *PanicError
	api      *apierror.Error
	maxBytes *http.MaxBytesError
	binding  *echo.BindingError
	http     *echo.HTTPError
	hasAs    bool // some error in the chain has an As method
}

// walk visits err's chain in the order errors.As does (depth first through
// Unwrap() error and Unwrap() []error) with type switches, which is several
// times cheaper than one errors.As call per type.
func (f *found) walk(err error) {
	for err != nil {
		switch e := err.(type) {
		case *PanicError:
			f.panic = first(f.panic, e)
		case *apierror.Error:
			f.api = first(f.api, e)
		case *http.MaxBytesError:
			f.maxBytes = first(f.maxBytes, e)
		case *echo.BindingError:
			f.binding = first(f.binding, e)
		case *echo.HTTPError:
			f.http = first(f.http, e)
		}
		if _, ok := err.(interface{ As(any) bool }); ok {
			f.hasAs = true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				f.walk(e)
			}
			return
		default:
			return
		}
	}
}

// slow fills f with errors.As, which honours As methods.
func (f *found) slow(err error) {
	*f = found{}
	if !errors.As(err, &f.panic) {
		f.panic = nil
	}
	f.api, _ = apierror.As(err)
	if !errors.As(err, &f.maxBytes) {
		f.maxBytes = nil
	}
	if !errors.As(err, &f.binding) {
		f.binding = nil
	}
	if !errors.As(err, &f.http) {
		f.http = nil
	}
}

// first returns cur when it is set, else e.
func first[T comparable](cur, e T) T {
	var zero T
	if cur != zero {
		return cur
	}
	return e
}
