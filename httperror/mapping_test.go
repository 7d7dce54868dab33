package httperror_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
)

// decodeTarget is the body the decode errors of these tests are made with.
type decodeTarget struct {
	N     int    `json:"n"`
	Name  string `json:"name"`
	Items []struct {
		Q int `json:"q"`
	} `json:"items"`
}

// decodeErr decodes s as a JSON body the way frameworks do (one
// json.Decoder), optionally rejecting unknown fields, and returns the error.
func decodeErr(s string, strict bool) error {
	dec := json.NewDecoder(strings.NewReader(s))
	if strict {
		dec.DisallowUnknownFields()
	}
	var v decodeTarget
	return dec.Decode(&v)
}

// maxBytesErr reads past a limit of n bytes and returns the reader's
// *http.MaxBytesError.
func maxBytesErr(t *testing.T, n int64) error {
	t.Helper()
	_, err := io.ReadAll(http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(strings.Repeat("x", int(n)+1))), n))
	var mbe *http.MaxBytesError
	require.ErrorAs(t, err, &mbe)
	return err
}

// claimsNotFound is an error whose As method claims to be NOT_FOUND.
type claimsNotFound struct{}

func (claimsNotFound) Error() string { return "custom" }
func (claimsNotFound) As(target any) bool {
	if p, ok := target.(**apierror.Error); ok {
		*p = apierror.NotFound()
		return true
	}
	return false
}

// coder is a router's error that only says its status, as echo v5's do.
type coder struct{ status int }

func (c coder) Error() string   { return "router: " + http.StatusText(c.status) }
func (c coder) StatusCode() int { return c.status }

// frameworkError is a framework's own error type, described by
// Config.Translate.
type frameworkError struct{ code int }

func (e *frameworkError) Error() string { return fmt.Sprintf("framework %d", e.code) }

// issues returns the details of a VALIDATION with one issue.
func issues(path, msg string) string {
	return fmt.Sprintf(`{"issues":[{"path":%q,"message":%q}]}`, path, msg)
}

// Rows of httperror.Mapping(), by their Error column.
const (
	rowPanic     = "`*httperror.PanicError` (a recovered panic)"
	rowAPI       = "`*apierror.Error` anywhere in the chain"
	rowMaxBytes  = "`*http.MaxBytesError` (`LimitBody`, `http.MaxBytesReader`)"
	rowField     = "a parameter that failed to bind (`StatusError.Field`; echo's `BindingError`)"
	row400       = "400 (bind and decode errors)"
	row401       = "401 (echo-jwt, KeyAuth, BasicAuth)"
	row403       = "403 (CSRF, IP filters)"
	row404       = "404 (router: no route)"
	row405       = "405 (router: method not allowed)"
	row409       = "409"
	row410       = "410"
	row411       = "411"
	row413       = "413 (a framework's body limit)"
	row414       = "414"
	row415       = "415 (bind: unsupported media type)"
	row422       = "422"
	row429       = "429 (a framework's rate limiter)"
	row431       = "431"
	row408       = "408 (the same request may succeed later)"
	row425       = "425 (the same request may succeed later)"
	rowOther4xx  = "any other 4xx (402, 406, 412, ...)"
	row5xx       = "5xx, or any status outside 400-599"
	rowOtherwise = "any other error"
)

// mappingCase is one error, the row of the mapping table it exercises and
// the exact answer.
type mappingCase struct {
	row     string
	name    string
	cfg     httperror.Config
	preset  http.Header // set on the response before the error
	err     error
	status  int
	code    apierror.Code
	details string // exact details JSON, "" for none
	msg     string // the message when not the catalogue's
	check   func(t *testing.T, h http.Header)
}

func mappingCases(t *testing.T) []mappingCase {
	st := func(status int, msg string, cause error) *httperror.StatusError {
		return &httperror.StatusError{Status: status, Message: msg, Cause: cause}
	}
	recovered := func() (pe *httperror.PanicError) {
		defer func() { pe = httperror.Recovered(recover(), 0) }()
		panic(fmt.Errorf("handler: %w", apierror.NotFound()))
	}
	retryAfter := func(want string) func(*testing.T, http.Header) {
		return func(t *testing.T, h http.Header) { assert.Equal(t, []string{want}, h.Values("Retry-After")) }
	}
	return []mappingCase{
		{row: rowPanic, name: "PanicError wrapping an apierror is still INTERNAL",
			err: &httperror.PanicError{Value: apierror.NotFound()}, status: 500, code: apierror.CodeInternal},
		{row: rowPanic, name: "recovered panic, wrapped",
			err: fmt.Errorf("chain: %w", recovered()), status: 500, code: apierror.CodeInternal},
		{row: rowPanic, name: "panic beats a StatusError",
			err: st(http.StatusConflict, "", &httperror.PanicError{Value: "boom"}), status: 500, code: apierror.CodeInternal},

		{row: rowAPI, name: "bare", err: apierror.Conflict("already_approved"),
			status: 409, code: apierror.CodeConflict, details: `{"reason":"already_approved"}`},
		{row: rowAPI, name: "wrapped", err: fmt.Errorf("schedule: %w", apierror.ApprovalRequired("cnt_1", apierror.ApprovalPending)),
			status: 403, code: apierror.CodeApprovalRequired, details: `{"containerId":"cnt_1","approvalStatus":"pending"}`,
			msg: "Content container cnt_1 is not approved."},
		{row: rowAPI, name: "inside a 5xx StatusError", err: st(http.StatusInternalServerError, "", fmt.Errorf("lookup: %w", apierror.Conflict("dup"))),
			status: 409, code: apierror.CodeConflict, details: `{"reason":"dup"}`},
		{row: rowAPI, name: "custom As method", err: fmt.Errorf("w: %w", claimsNotFound{}),
			status: 404, code: apierror.CodeNotFound},
		{row: rowAPI, name: "errors.Join", err: errors.Join(errors.New("first"), fmt.Errorf("w: %w", apierror.Conflict("dup"))),
			status: 409, code: apierror.CodeConflict, details: `{"reason":"dup"}`},
		{row: rowAPI, name: "errors.Join, first wins", err: errors.Join(apierror.NotFound(), apierror.Conflict("dup")),
			status: 404, code: apierror.CodeNotFound},
		{row: rowAPI, name: "apierror beats MaxBytesError", err: errors.Join(&http.MaxBytesError{Limit: 1}, apierror.NotFound()),
			status: 404, code: apierror.CodeNotFound},

		{row: rowMaxBytes, name: "direct", err: &http.MaxBytesError{Limit: 8},
			status: 413, code: apierror.CodePayloadTooLarge, details: `{"maxBytes":8}`},
		{row: rowMaxBytes, name: "from MaxBytesReader, wrapped", err: fmt.Errorf("reading upload: %w", maxBytesErr(t, 4)),
			status: 413, code: apierror.CodePayloadTooLarge, details: `{"maxBytes":4}`},
		{row: rowMaxBytes, name: "wrapped in a StatusError 400 (a bind error)", err: st(http.StatusBadRequest, "", &http.MaxBytesError{Limit: 16}),
			status: 413, code: apierror.CodePayloadTooLarge, details: `{"maxBytes":16}`},

		{row: rowField, name: "query parameter", err: &httperror.StatusError{Status: 400, Field: "limit", Cause: errors.New(`strconv.ParseInt: parsing "abc"`)},
			status: 422, code: apierror.CodeValidation, details: issues("limit", "has an invalid value.")},
		{row: rowField, name: "unprintable field name", err: &httperror.StatusError{Status: 400, Field: "a\r\nb"},
			status: 422, code: apierror.CodeValidation, details: issues("request", "has an invalid value.")},

		{row: row400, name: "json.SyntaxError", err: st(400, "Syntax error", decodeErr(`{"n":1,}`, false)),
			status: 422, code: apierror.CodeValidation, details: issues("body", "The body is not valid JSON (syntax error at byte offset 8).")},
		{row: row400, name: "json.UnmarshalTypeError", err: st(400, "", decodeErr(`{"n":"seven"}`, false)),
			status: 422, code: apierror.CodeValidation, details: issues("n", "must be an integer, got string.")},
		{row: row400, name: "json.UnmarshalTypeError, nested", err: st(400, "", decodeErr(`{"items":[{"q":true}]}`, false)),
			status: 422, code: apierror.CodeValidation, details: issues("items.q", "must be an integer, got bool.")},
		{row: row400, name: "io.EOF", err: st(400, "", decodeErr(``, false)),
			status: 422, code: apierror.CodeValidation, details: issues("body", "The body is not valid JSON (it ends too early).")},
		{row: row400, name: "io.ErrUnexpectedEOF", err: st(400, "", decodeErr(`{"n":1`, false)),
			status: 422, code: apierror.CodeValidation, details: issues("body", "The body is not valid JSON (it ends too early).")},
		{row: row400, name: "unknown field", err: st(400, "", decodeErr(`{"nope":1}`, true)),
			status: 422, code: apierror.CodeValidation, details: issues("nope", "is not a known field.")},
		{row: row400, name: "another cause", err: st(400, "bad query", errors.New(`strconv.Atoi: parsing "x"`)),
			status: 422, code: apierror.CodeValidation, details: issues("request", "The request could not be parsed.")},
		{row: row400, name: "no cause: the message", err: st(400, "cursor is required", nil),
			status: 422, code: apierror.CodeValidation, details: issues("request", "cursor is required")},
		{row: row400, name: "no cause, unprintable message", err: st(400, "bad\r\nX-Injected: 1", nil),
			status: 422, code: apierror.CodeValidation, details: issues("request", "The request is malformed.")},
		{row: row400, name: "no cause, message too long", err: st(400, strings.Repeat("x", 201), nil),
			status: 422, code: apierror.CodeValidation, details: issues("request", "The request is malformed.")},
		{row: row400, name: "echo KeyAuth missing key", err: st(400, "missing key in request header", nil),
			status: 401, code: apierror.CodeUnauthenticated},

		{row: row401, name: "echo-jwt style", err: st(401, "invalid or expired jwt", errors.New("token is expired")),
			status: 401, code: apierror.CodeUnauthenticated},
		{row: row401, name: "via Config.Translate", cfg: httperror.Config{Translate: func(err error) *httperror.StatusError {
			var fe *frameworkError
			if errors.As(err, &fe) {
				return &httperror.StatusError{Status: fe.code, Cause: err}
			}
			return nil
		}}, err: fmt.Errorf("auth: %w", &frameworkError{code: 401}), status: 401, code: apierror.CodeUnauthenticated},
		{row: row403, name: "CSRF", err: st(403, "invalid csrf token", nil), status: 401, code: apierror.CodeUnauthenticated},
		{row: row404, name: "StatusError", err: st(404, "Not Found", nil), status: 404, code: apierror.CodeNotFound},
		{row: row404, name: "a StatusCode method", err: fmt.Errorf("route: %w", coder{404}), status: 404, code: apierror.CodeNotFound},
		{row: row404, name: "errors.Join", err: errors.Join(errors.New("x"), st(404, "", nil)), status: 404, code: apierror.CodeNotFound},
		{row: row405, name: "Allow kept", preset: http.Header{"Allow": {"GET, HEAD"}}, err: st(405, "", nil),
			status: 404, code: apierror.CodeNotFound,
			check: func(t *testing.T, h http.Header) { assert.Equal(t, []string{"GET, HEAD"}, h.Values("Allow")) }},
		{row: row409, err: st(409, "dup", nil), status: 409, code: apierror.CodeConflict, details: `{"reason":"conflict"}`},
		{row: row410, err: st(410, "", nil), status: 404, code: apierror.CodeNotFound},
		{row: row411, err: st(411, "", nil), status: 422, code: apierror.CodeValidation,
			details: issues("header:Content-Length", "Content-Length is required.")},
		{row: row413, name: "with MaxBodyBytes", cfg: httperror.Config{MaxBodyBytes: 10}, err: st(413, "Request Entity Too Large", nil),
			status: 413, code: apierror.CodePayloadTooLarge, details: `{"maxBytes":10}`},
		{row: row413, name: "without MaxBodyBytes", err: st(413, "", nil), status: 413, code: apierror.CodePayloadTooLarge},
		{row: row414, err: st(414, "", nil), status: 422, code: apierror.CodeValidation, details: issues("url", "The request URL is too long.")},
		{row: row415, err: st(415, "", nil), status: 422, code: apierror.CodeValidation,
			details: issues("header:Content-Type", "Unsupported Content-Type; send application/json.")},
		{row: row422, name: "message", err: st(422, "end must be after start", nil), status: 422, code: apierror.CodeValidation,
			details: issues("request", "end must be after start")},
		{row: row422, name: "with a cause", err: st(422, "db said: constraint", errors.New("pq: check constraint")), status: 422,
			code: apierror.CodeValidation, details: issues("request", "The request failed validation.")},
		{row: row429, name: "default retry", err: st(429, "", nil), status: 429, code: apierror.CodeRateLimited,
			details: `{"retryAfterMs":1000}`, check: retryAfter("1")},
		{row: row429, name: "Retry-After set earlier", preset: http.Header{"Retry-After": {"7"}, "Ratelimit-Remaining": {"0"}},
			err: st(429, "", nil), status: 429, code: apierror.CodeRateLimited, details: `{"retryAfterMs":7000}`,
			check: func(t *testing.T, h http.Header) {
				assert.Equal(t, []string{"7"}, h.Values("Retry-After"))
				assert.Equal(t, "0", h.Get("RateLimit-Remaining"))
			}},
		{row: row429, name: "unreadable Retry-After set earlier", preset: http.Header{"Retry-After": {"soon"}},
			err: st(429, "", nil), status: 429, code: apierror.CodeRateLimited, details: `{"retryAfterMs":1000}`, check: retryAfter("1")},
		{row: row429, name: "Config.DefaultRetryAfter", cfg: httperror.Config{DefaultRetryAfter: 2500 * time.Millisecond},
			err: st(429, "", nil), status: 429, code: apierror.CodeRateLimited, details: `{"retryAfterMs":2500}`, check: retryAfter("3")},
		{row: row431, err: st(431, "", nil), status: 422, code: apierror.CodeValidation, details: issues("header", "The request headers are too large.")},
		{row: row408, err: st(408, "", nil), status: 500, code: apierror.CodeInternal},
		{row: row425, err: st(425, "", nil), status: 500, code: apierror.CodeInternal},
		{row: rowOther4xx, name: "with a message", err: st(406, "Only application/json.", nil), status: 422, code: apierror.CodeValidation,
			details: issues("request", "Only application/json.")},
		{row: rowOther4xx, name: "with a cause: the status text", err: st(402, "wallet", errors.New("wallet w_1 empty")), status: 422,
			code: apierror.CodeValidation, details: issues("request", "Payment Required.")},
		{row: rowOther4xx, name: "without a message", err: st(418, "", nil), status: 422, code: apierror.CodeValidation,
			details: issues("request", "I'm a teapot.")},
		{row: row5xx, name: "503", err: st(503, "redis at 10.0.0.3", nil), status: 500, code: apierror.CodeInternal},
		{row: row5xx, name: "502 with a cause", err: st(502, "upstream", errors.New("dial tcp 10.0.0.7:5432")), status: 500, code: apierror.CodeInternal},
		{row: row5xx, name: "3xx", err: st(302, "", nil), status: 500, code: apierror.CodeInternal},
		{row: row5xx, name: "no status", err: st(0, "", nil), status: 500, code: apierror.CodeInternal},
		{row: rowOtherwise, name: "plain error", err: errors.New("pq: password=hunter2"), status: 500, code: apierror.CodeInternal},
		{row: rowOtherwise, name: "context.Canceled", err: fmt.Errorf("query: %w", context.Canceled), status: 500, code: apierror.CodeInternal},
		{row: rowOtherwise, name: "unknown to Config.Translate", cfg: httperror.Config{Translate: func(error) *httperror.StatusError { return nil }},
			err: errors.New("x"), status: 500, code: apierror.CodeInternal},
	}
}

// TestMapping renders one error per row of httperror.Mapping() (most rows
// several ways) and checks the exact body modulo the request ID, the status
// and the headers every error response carries.
func TestMapping(t *testing.T) {
	for _, c := range mappingCases(t) {
		t.Run(c.row+"/"+c.name, func(t *testing.T) {
			w, _ := newWriter(t, c.cfg)
			rec := httptest.NewRecorder()
			for k, v := range c.preset {
				rec.Header()[k] = v
			}
			w.Write(rec, httptest.NewRequest(http.MethodGet, "/x", nil), c.err)
			id := requireEnvelope(t, rec, c.status, c.code)
			assert.Equal(t, body(c.code, id, c.details, c.msg), rec.Body.String())
			if c.check != nil {
				c.check(t, rec.Header())
			}
			// Map gives the same answer.
			e := w.Map(c.err, c.preset)
			require.NotNil(t, e)
			assert.Equal(t, c.code, e.Code())
			assert.Equal(t, c.status, e.Status())
		})
	}
}

// TestMappingCoversEveryRow: every row of the table is exercised by
// TestMapping, and the table is well formed (the documentation is generated
// from it).
func TestMappingCoversEveryRow(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range mappingCases(t) {
		covered[c.row] = true
	}
	rows := httperror.Mapping()
	seen := map[string]bool{}
	for _, r := range rows {
		assert.True(t, covered[r.Error], "row %q has no test case", r.Error)
		assert.False(t, seen[r.Error], "row %q twice", r.Error)
		seen[r.Error] = true
		if r.Error == rowAPI {
			assert.Empty(t, r.Code, "an apierror answers its own code")
		} else {
			assert.True(t, r.Code.Known(), "row %q: code %q", r.Error, r.Code)
		}
	}
	for row := range covered {
		assert.True(t, seen[row], "test cases name row %q, which the table does not have", row)
	}
	assert.Equal(t, rowPanic, rows[0].Error, "a panic is matched first")
	assert.Equal(t, rowOtherwise, rows[len(rows)-1].Error)

	// Mapping returns a copy: changing it changes nothing.
	rows[0].Code = apierror.CodeNotFound
	assert.Equal(t, apierror.CodeInternal, httperror.Mapping()[0].Code)
}

// TestMapTypedNil: a nil *apierror.Error returned as an error (the classic
// typed-nil mistake) is answered INTERNAL, never a panic.
func TestMapTypedNil(t *testing.T) {
	var nilAPI *apierror.Error
	var err error = nilAPI
	w, l := newWriter(t, httperror.Config{})
	e := w.Map(err, http.Header{})
	require.NotNil(t, e)
	assert.Equal(t, apierror.CodeInternal, e.Code())
	rec := httptest.NewRecorder()
	require.NotPanics(t, func() { w.Write(rec, httptest.NewRequest(http.MethodGet, "/x", nil), err) })
	id := requireEnvelope(t, rec, 500, apierror.CodeInternal)
	assert.Equal(t, body(apierror.CodeInternal, id, ""), rec.Body.String())
	lines := l.lines(t)
	require.Len(t, lines, 1)
	assert.Equal(t, "ERROR", lines[0]["level"])
	assert.Contains(t, lines[0]["error"], "nil *apierror.Error")
}

// TestFromDecodeError maps what decoding a JSON body can fail with.
func TestFromDecodeError(t *testing.T) {
	cases := []struct {
		name    string
		err     error
		code    apierror.Code
		details string
	}{
		{"syntax", decodeErr(`{"n":1,}`, false), apierror.CodeValidation, issues("body", "The body is not valid JSON (syntax error at byte offset 8).")},
		{"syntax via Unmarshal", json.Unmarshal([]byte(`{"n" 1}`), &decodeTarget{}), apierror.CodeValidation, issues("body", "The body is not valid JSON (syntax error at byte offset 6).")},
		{"type", decodeErr(`{"n":"seven"}`, false), apierror.CodeValidation, issues("n", "must be an integer, got string.")},
		{"type, number overflow", decodeErr(`{"n":1e999}`, false), apierror.CodeValidation, issues("n", "must be an integer, got number.")},
		{"type, whole body", json.Unmarshal([]byte(`[1]`), &decodeTarget{}), apierror.CodeValidation, issues("body", "must be an object, got array.")},
		{"type, string field", decodeErr(`{"name":{}}`, false), apierror.CodeValidation, issues("name", "must be a string, got object.")},
		{"EOF", decodeErr(``, false), apierror.CodeValidation, issues("body", "The body is not valid JSON (it ends too early).")},
		{"unexpected EOF", decodeErr(`{"n":`, false), apierror.CodeValidation, issues("body", "The body is not valid JSON (it ends too early).")},
		{"unknown field", decodeErr(`{"n":1,"nope":1}`, true), apierror.CodeValidation, issues("nope", "is not a known field.")},
		{"unknown field, unprintable", decodeErr(`{"\u0007":1}`, true), apierror.CodeValidation, issues("unknown", "is not a known field.")},
		{"MaxBytesError", func() error {
			dec := json.NewDecoder(http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(`{"name":"far too long"}`)), 5))
			return dec.Decode(&decodeTarget{})
		}(), apierror.CodePayloadTooLarge, `{"maxBytes":5}`},
		{"wrapped MaxBytesError", fmt.Errorf("bind: %w", &http.MaxBytesError{Limit: 3}), apierror.CodePayloadTooLarge, `{"maxBytes":3}`},
		{"another error", errors.New("read tcp: connection reset"), apierror.CodeValidation, issues("request", "The request could not be parsed.")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Error(t, c.err)
			e := httperror.FromDecodeError(c.err)
			require.NotNil(t, e)
			assert.Equal(t, c.code, e.Code())
			assert.JSONEq(t, c.details, string(e.RawDetails()))
			assert.Equal(t, body(c.code, "req_x", c.details), string(e.Render("req_x")))
			if c.code == apierror.CodeValidation {
				assert.ErrorIs(t, e, c.err, "the decode error is kept as the cause, for logs")
			}
		})
	}
	assert.Nil(t, httperror.FromDecodeError(nil))
}

// TestStatusError checks the methods of StatusError.
func TestStatusError(t *testing.T) {
	cause := errors.New("dial tcp")
	se := &httperror.StatusError{Status: 502, Message: "upstream", Cause: cause}
	assert.Equal(t, "http 502: upstream: dial tcp", se.Error())
	assert.Equal(t, 502, se.StatusCode())
	assert.ErrorIs(t, se, cause)
	assert.Equal(t, "http 404", (&httperror.StatusError{Status: 404}).Error())
	assert.Nil(t, (&httperror.StatusError{Status: 404}).Unwrap())
}
