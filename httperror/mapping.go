package httperror

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

	"github.com/layershq/errkit/apierror"
)

// StatusError describes an error a router, a framework or its middleware
// raised with an HTTP status, so that the [Writer] can map it onto the
// contract. Adapters translate their framework's errors into it (echo's
// HTTPError and BindingError, ServeMux's 404 and 405); a handler may also
// return one.
type StatusError struct {
	// Status is the HTTP status the framework chose.
	Status int
	// Message is the framework's client-facing message, "" when none. It is
	// reused in a VALIDATION issue only when Cause is nil and the message is
	// short, valid UTF-8 and free of control characters.
	Message string
	// Cause is the framework's internal error. For a 400, JSON decode errors
	// in it are recognised (see [FromDecodeError]). It is logged, never
	// rendered.
	Cause error
	// Field, when set, names a query, path or form parameter that failed to
	// bind: the error is VALIDATION with an issue on that field.
	Field string
}

// Error describes the error for logs.
func (e *StatusError) Error() string {
	s := "http " + strconv.Itoa(e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns Cause.
func (e *StatusError) Unwrap() error { return e.Cause }

// StatusCode returns Status.
func (e *StatusError) StatusCode() int { return e.Status }

// errNilAPIError stands for a nil *apierror.Error returned as a non-nil
// error (a typed nil): a handler bug, answered INTERNAL.
var errNilAPIError = errors.New("httperror: a nil *apierror.Error was returned as an error")

// statusCoder is what echo v5's errors (and errkit's) implement.
type statusCoder interface{ StatusCode() int }

// Issue paths used for errors that are not about one body field.
const (
	pathBody    = "body"    // the request body as a whole
	pathRequest = "request" // the request as a whole (query, path params, ...)
)

// maxClientMessage bounds the length of a framework message reused as an
// issue message.
const maxClientMessage = 200

// reasonConflict is details.reason of the CONFLICT a 409 maps to (the error
// names no narrower reason).
const reasonConflict = "conflict"

// Row is one row of the mapping table: which errors it matches, and what
// the [Writer] answers them with.
type Row struct {
	// Error describes the errors the row matches.
	Error string
	// Code is the contract code answered.
	Code apierror.Code
	// Answer says what the response carries besides the code's status and
	// message ("" when nothing more).
	Answer string
}

// rule is a row of statusRules: a status and how to build its error.
type rule struct {
	status int // 0: the row is not chosen by status
	row    Row
	build  func(w *Writer, se *StatusError, h http.Header) *apierror.Error
}

// chainRows are the rows matched by the error's type, in precedence order,
// before any status.
var chainRows = []Row{
	{"`*httperror.PanicError` (a recovered panic)", apierror.CodeInternal, "the stack is logged"},
	{"`*apierror.Error` anywhere in the chain", "", "its own code, status and details"},
	{"`*http.MaxBytesError` (`LimitBody`, `http.MaxBytesReader`)", apierror.CodePayloadTooLarge, "details.maxBytes = the limit"},
	{"a parameter that failed to bind (`StatusError.Field`; echo's `BindingError`)", apierror.CodeValidation, `issue {field, "has an invalid value."}`},
}

// statusRules map a [StatusError] (or an error with a StatusCode method) by
// its status. The last row matches any other status.
var statusRules = []rule{
	{http.StatusBadRequest, Row{"400 (bind and decode errors)", apierror.CodeValidation, "an issue naming the body or the field for a JSON decode error (see `FromDecodeError`), else the request; echo KeyAuth's \"missing key\" 400 is UNAUTHENTICATED"}, func(_ *Writer, se *StatusError, _ http.Header) *apierror.Error { return badRequest(se) }},
	{http.StatusUnauthorized, Row{"401 (echo-jwt, KeyAuth, BasicAuth)", apierror.CodeUnauthenticated, ""}, unauthenticated},
	{http.StatusForbidden, Row{"403 (CSRF, IP filters)", apierror.CodeUnauthenticated, "FORBIDDEN_SCOPE needs the required scope: return apierror.ForbiddenScope yourself"}, unauthenticated},
	{http.StatusNotFound, Row{"404 (router: no route)", apierror.CodeNotFound, ""}, notFound},
	{http.StatusMethodNotAllowed, Row{"405 (router: method not allowed)", apierror.CodeNotFound, "the Allow header is kept"}, notFound},
	{http.StatusConflict, Row{"409", apierror.CodeConflict, `details.reason "conflict"`}, func(*Writer, *StatusError, http.Header) *apierror.Error { return apierror.Conflict(reasonConflict) }},
	{http.StatusGone, Row{"410", apierror.CodeNotFound, ""}, notFound},
	{http.StatusLengthRequired, Row{"411", apierror.CodeValidation, `issue {"header:Content-Length", ...}`}, issue("header:Content-Length", "Content-Length is required.")},
	{http.StatusRequestEntityTooLarge, Row{"413 (a framework's body limit)", apierror.CodePayloadTooLarge, "details.maxBytes = Config.MaxBodyBytes when set"}, func(w *Writer, _ *StatusError, _ http.Header) *apierror.Error {
		if w.maxBodyBytes > 0 {
			return apierror.PayloadTooLarge(w.maxBodyBytes)
		}
		return apierror.New(apierror.CodePayloadTooLarge)
	}},
	{http.StatusRequestURITooLong, Row{"414", apierror.CodeValidation, `issue {"url", ...}`}, issue("url", "The request URL is too long.")},
	{http.StatusUnsupportedMediaType, Row{"415 (bind: unsupported media type)", apierror.CodeValidation, `issue {"header:Content-Type", ...}`}, issue("header:Content-Type", "Unsupported Content-Type; send application/json.")},
	{http.StatusUnprocessableEntity, Row{"422", apierror.CodeValidation, `issue {"request", its message if short and printable}`}, func(_ *Writer, se *StatusError, _ http.Header) *apierror.Error {
		return apierror.Validation(apierror.Issue{Path: pathRequest, Message: clientMessage(se, "The request failed validation.")})
	}},
	{http.StatusTooManyRequests, Row{"429 (a framework's rate limiter)", apierror.CodeRateLimited, "retryAfterMs from a Retry-After already set, else Config.DefaultRetryAfter"}, func(w *Writer, _ *StatusError, h http.Header) *apierror.Error {
		return apierror.RateLimited(w.retryAfterOf(h))
	}},
	{http.StatusRequestHeaderFieldsTooLarge, Row{"431", apierror.CodeValidation, `issue {"header", ...}`}, issue("header", "The request headers are too large.")},
	{http.StatusRequestTimeout, Row{"408 (the same request may succeed later)", apierror.CodeInternal, ""}, internal},
	{http.StatusTooEarly, Row{"425 (the same request may succeed later)", apierror.CodeInternal, ""}, internal},
	{0, Row{"any other 4xx (402, 406, 412, ...)", apierror.CodeValidation, `issue {"request", its message if short and printable, else the status text}`}, func(_ *Writer, se *StatusError, _ http.Header) *apierror.Error {
		if se.Status >= 400 && se.Status < 500 {
			// A caller's mistake the code set has no name for: INTERNAL
			// would tell clients to retry with backoff.
			return apierror.Validation(apierror.Issue{Path: pathRequest, Message: clientMessage(se, http.StatusText(se.Status)+".")})
		}
		return apierror.Internal(se)
	}},
}

// lastRows close the table: what is neither a known type nor a 4xx.
var lastRows = []Row{
	{"5xx, or any status outside 400-599", apierror.CodeInternal, ""},
	{"any other error", apierror.CodeInternal, "the cause is logged, never sent"},
}

// byStatus indexes statusRules by status.
var byStatus = func() map[int]*rule {
	m := make(map[int]*rule, len(statusRules))
	for i := range statusRules {
		if statusRules[i].status != 0 {
			m[statusRules[i].status] = &statusRules[i]
		}
	}
	return m
}()

// Mapping returns the mapping table of [Writer.Map], first matching row
// first. Documentation is generated from it, so it is the table the code
// applies.
func Mapping() []Row {
	rows := append([]Row(nil), chainRows...)
	for _, r := range statusRules {
		rows = append(rows, r.row)
	}
	return append(rows, lastRows...)
}

func unauthenticated(*Writer, *StatusError, http.Header) *apierror.Error {
	return apierror.Unauthenticated()
}

func notFound(*Writer, *StatusError, http.Header) *apierror.Error { return apierror.NotFound() }

func internal(_ *Writer, se *StatusError, _ http.Header) *apierror.Error {
	return apierror.Internal(se)
}

func issue(path, msg string) func(*Writer, *StatusError, http.Header) *apierror.Error {
	return func(*Writer, *StatusError, http.Header) *apierror.Error {
		return apierror.Validation(apierror.Issue{Path: path, Message: msg})
	}
}

// Map returns the contract error err is answered with, for a response whose
// headers are h (a 429's Retry-After is read from them). It never returns
// nil for a non-nil err. The precedence is the order of [Mapping]: the type
// rows first, whatever their depth in the chain, then the status of the
// first [*StatusError] (or error with a StatusCode method) in the chain.
func (w *Writer) Map(err error, h http.Header) *apierror.Error {
	if e, ok := err.(*apierror.Error); ok {
		if e == nil {
			return apierror.Internal(errNilAPIError)
		}
		return e // the common case, without walking the chain
	}
	var f found
	f.walk(err)
	if f.hasAs {
		f.slow(err) // a custom As method may claim any type: ask errors.As
	}
	if f.panic != nil {
		return apierror.Internal(err)
	}
	if f.api != nil {
		return f.api
	}
	if f.maxBytes != nil {
		return apierror.PayloadTooLarge(f.maxBytes.Limit)
	}
	se := f.status
	if w.translate != nil && se == nil {
		se = w.translate(err)
	}
	if se == nil && f.coder != nil {
		se = &StatusError{Status: f.coder.StatusCode(), Cause: err}
	}
	if se == nil {
		return apierror.Internal(err)
	}
	if se.Field != "" {
		return apierror.Validation(apierror.Issue{Path: sanitize(se.Field, pathRequest), Message: "has an invalid value."})
	}
	if r, ok := byStatus[se.Status]; ok {
		return r.build(w, se, h)
	}
	return statusRules[len(statusRules)-1].build(w, se, h)
}

// FromDecodeError maps an error of decoding a JSON request body
// (encoding/json's syntax, type and unknown-field errors, a body that ends
// early) to VALIDATION with an issue that names the body or the field,
// without Go type names. Any other error maps to VALIDATION on the request
// as a whole, and a nil error to nil. A *http.MaxBytesError maps to
// PAYLOAD_TOO_LARGE.
func FromDecodeError(err error) *apierror.Error {
	if err == nil {
		return nil
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apierror.PayloadTooLarge(mbe.Limit)
	}
	return badRequest(&StatusError{Status: http.StatusBadRequest, Cause: err}).WithCause(err)
}

// badRequest maps a 400: bind and decode failures, echo's key-auth
// "missing key" errors, and any other 400.
func badRequest(se *StatusError) *apierror.Error {
	if se.Cause == nil {
		if isKeyAuthMessage(se.Message) {
			return apierror.Unauthenticated()
		}
		return apierror.Validation(apierror.Issue{Path: pathRequest, Message: clientMessage(se, "The request is malformed.")})
	}
	var syn *json.SyntaxError
	var ute *json.UnmarshalTypeError
	switch in := se.Cause; {
	case errors.As(in, &syn):
		return apierror.Validation(apierror.Issue{Path: pathBody,
			Message: "The body is not valid JSON (syntax error at byte offset " + strconv.FormatInt(syn.Offset, 10) + ")."})
	case errors.As(in, &ute):
		return apierror.Validation(unmarshalTypeIssue(ute))
	case errors.Is(in, io.ErrUnexpectedEOF), errors.Is(in, io.EOF):
		return apierror.Validation(apierror.Issue{Path: pathBody, Message: "The body is not valid JSON (it ends too early)."})
	default:
		// encoding/json quotes the name with %q: unquote it, so that the
		// path is the name the client sent, not its Go escaping.
		if f, ok := strings.CutPrefix(in.Error(), "json: unknown field "); ok {
			if name, err := strconv.Unquote(f); err == nil {
				return apierror.Validation(apierror.Issue{Path: sanitize(name, "unknown"), Message: "is not a known field."})
			}
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

// clientMessage returns a framework error's message when it is meant for
// the client (no internal error attached), of reasonable length and
// printable; otherwise fallback.
func clientMessage(se *StatusError, fallback string) string {
	if se.Cause != nil {
		return fallback
	}
	return sanitize(se.Message, fallback)
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

// retryAfterOf is the wait of a 429 raised by a framework or third-party
// middleware: the Retry-After an earlier middleware set on the response,
// else the configured default.
func (w *Writer) retryAfterOf(h http.Header) time.Duration {
	if d, ok := apierror.ParseRetryAfter(h.Get("Retry-After"), time.Now()); ok && d > 0 {
		return d
	}
	return w.defaultRetryAfter
}

// found holds the first error of each type the mapping cares about in an
// error's chain.
type found struct {
	panic    *PanicError
	api      *apierror.Error
	maxBytes *http.MaxBytesError
	status   *StatusError
	coder    statusCoder
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
		case *StatusError:
			f.status = first(f.status, e)
		case statusCoder:
			if f.coder == nil {
				f.coder = e
			}
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
	if !errors.As(err, &f.status) {
		f.status = nil
	}
	if !errors.As(err, &f.coder) {
		f.coder = nil
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
