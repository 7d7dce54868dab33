package apierror_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
)

// serve starts a real HTTP server answering every request with status,
// headers and body, and returns the response to a GET.
func serve(t *testing.T, status int, header http.Header, body []byte) *http.Response {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for k, vs := range header {
			w.Header()[k] = vs
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func TestDecodeResponseEnvelope(t *testing.T) {
	sent := apierror.ApprovalRequired("cnt_7d18b9a1", apierror.ApprovalPending)
	resp := serve(t, 403, http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"req_header"}},
		sent.Render("req_body"))

	err := apierror.DecodeResponse(resp)
	e, ok := apierror.As(err)
	require.True(t, ok, "got %T %v", err, err)
	assert.Equal(t, apierror.CodeApprovalRequired, e.Code())
	assert.Equal(t, 403, e.Status())
	assert.Equal(t, "Content container cnt_7d18b9a1 is not approved.", e.Message())
	assert.Equal(t, "req_body", e.RequestID(), "the body's requestId wins over the header")
	assert.ErrorIs(t, err, apierror.New(apierror.CodeApprovalRequired))
	d, ok := apierror.DetailsAs[apierror.ApprovalRequiredDetails](err)
	require.True(t, ok)
	assert.Equal(t, apierror.ApprovalRequiredDetails{ContainerID: "cnt_7d18b9a1", ApprovalStatus: apierror.ApprovalPending}, d)
	assert.NoError(t, e.Unwrap(), "a decoded error has no server-side cause")
	assert.Equal(t, apierror.CategoryPolicyGate, e.Spec().Category)
}

func TestDecodeResponseSuccessIsNil(t *testing.T) {
	for _, status := range []int{200, 201, 204, 301, 304, 399} {
		resp := serve(t, status, nil, []byte(`{"error":{"code":"NOT_FOUND","message":"x"}}`))
		assert.NoError(t, apierror.DecodeResponse(resp), "status %d", status)
	}
	assert.NoError(t, apierror.Decode(200, nil))
	assert.EqualError(t, apierror.DecodeResponse(nil), "apierror: nil response")
}

func TestDecodeResponseRequestIDHeaderFallback(t *testing.T) {
	resp := serve(t, 404, http.Header{"X-Request-Id": {"req_from_header"}},
		[]byte(`{"error":{"code":"NOT_FOUND","message":"The resource does not exist."}}`))
	e, ok := apierror.As(apierror.DecodeResponse(resp))
	require.True(t, ok)
	assert.Equal(t, "req_from_header", e.RequestID())

	resp = serve(t, 404, http.Header{"X-Request-Id": {"req_from_header"}},
		[]byte(`{"error":{"code":"NOT_FOUND","message":"m","requestId":""}}`))
	e, ok = apierror.As(apierror.DecodeResponse(resp))
	require.True(t, ok)
	assert.Equal(t, "req_from_header", e.RequestID(), "an empty body requestId falls back too")
}

// TestDecodeUnknownCode: the API adds codes over time; an unknown code still
// decodes, with a Spec derived from the HTTP status class.
func TestDecodeUnknownCode(t *testing.T) {
	tests := []struct {
		status   int
		category apierror.Category
		retry    apierror.RetryKind
	}{
		{400, apierror.CategoryCallerBug, apierror.RetryNever},
		{409, apierror.CategoryCallerBug, apierror.RetryNever},
		{429, apierror.CategoryTransient, apierror.RetryHonorRetryAfter},
		{500, apierror.CategoryTransient, apierror.RetryBackoff},
		{503, apierror.CategoryTransient, apierror.RetryBackoff},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			resp := serve(t, tc.status, nil,
				[]byte(`{"error":{"code":"QUANTUM_FLUX","message":"New in v9.","requestId":"req_9","details":{"flux":1}}}`))
			e, ok := apierror.As(apierror.DecodeResponse(resp))
			require.True(t, ok)
			assert.Equal(t, apierror.Code("QUANTUM_FLUX"), e.Code())
			assert.False(t, e.Code().Known())
			assert.Equal(t, tc.status, e.Status())
			assert.Equal(t, "New in v9.", e.Message())
			assert.Equal(t, "req_9", e.RequestID())
			assert.JSONEq(t, `{"flux":1}`, string(e.RawDetails()))
			s := e.Spec()
			assert.Equal(t, apierror.Code("QUANTUM_FLUX"), s.Code)
			assert.Equal(t, tc.status, s.Status)
			assert.Equal(t, tc.category, s.Category)
			assert.Equal(t, tc.retry, s.Retry.Kind)
		})
	}
}

// TestDecodeKnownCodeKeepsArrivedStatus: the status is what the wire said,
// even when it disagrees with the catalogue.
func TestDecodeKnownCodeKeepsArrivedStatus(t *testing.T) {
	e := decodeErr(t, 400, `{"error":{"code":"NOT_FOUND","message":"m"}}`)
	assert.Equal(t, 400, e.Status())
	assert.Equal(t, 404, e.Spec().Status, "Spec is still the catalogue's row")
}

func TestDecodeNotAnEnvelope(t *testing.T) {
	html := []byte("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body>\r\n</html>\r\n")
	long := bytes.Repeat([]byte("x"), 4096)
	tests := []struct {
		name      string
		status    int
		body      []byte
		reason    string
		wantBody  []byte
		truncated bool
	}{
		{"proxy HTML 502", 502, html, "invalid JSON", html, false},
		{"empty body", 503, nil, "empty body", []byte{}, false},
		{"whitespace body", 500, []byte(" \r\n"), "empty body", []byte(" \r\n"), false},
		{"truncated JSON", 429, []byte(`{"error":{"code":"RATE_LIMITED","mess`), "invalid JSON", []byte(`{"error":{"code":"RATE_LIMITED","mess`), false},
		{"JSON without error", 400, []byte(`{"message":"Bad Request"}`), `no "error" object`, []byte(`{"message":"Bad Request"}`), false},
		{"error is null", 400, []byte(`{"error":null}`), `no "error" object`, []byte(`{"error":null}`), false},
		{"error is a string", 400, []byte(`{"error":"bad"}`), "invalid JSON", []byte(`{"error":"bad"}`), false},
		{"no code", 400, []byte(`{"error":{"message":"m"}}`), `missing or malformed "error.code"`, []byte(`{"error":{"message":"m"}}`), false},
		{"lowercase code", 400, []byte(`{"error":{"code":"not_found"}}`), `missing or malformed "error.code"`, []byte(`{"error":{"code":"not_found"}}`), false},
		{"code too long", 400, []byte(`{"error":{"code":"` + strings.Repeat("A", 65) + `"}}`), `missing or malformed "error.code"`, nil, false},
		{"long text body", 500, long, "invalid JSON", long[:512], true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := serve(t, tc.status, http.Header{"X-Request-Id": {"req_proxy"}}, tc.body)
			err := apierror.DecodeResponse(resp)
			var re *apierror.ResponseError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tc.status, re.Status)
			assert.Equal(t, "req_proxy", re.RequestID)
			assert.Contains(t, re.Reason, tc.reason)
			if tc.wantBody != nil {
				assert.Equal(t, string(tc.wantBody), string(re.Body))
			}
			assert.LessOrEqual(t, len(re.Body), 512)
			assert.Equal(t, tc.truncated, re.Truncated)
			assert.Equal(t, apierror.CodeInternal, apierror.CodeOf(err), "not ours: INTERNAL for branching")
			_, ok := apierror.As(err)
			assert.False(t, ok)
			assert.Contains(t, err.Error(), "HTTP "+strconv.Itoa(tc.status)+" response is not an error envelope")
		})
	}
}

func TestResponseErrorMessage(t *testing.T) {
	err := apierror.Decode(502, []byte("<html>Bad Gateway</html>"))
	assert.Equal(t,
		`apierror: HTTP 502 response is not an error envelope (invalid JSON: invalid character '<' looking for beginning of value): "<html>Bad Gateway</html>"`,
		err.Error())
	long := apierror.Decode(500, bytes.Repeat([]byte("y"), 600))
	assert.True(t, strings.HasSuffix(long.Error(), `"…`), long.Error())
}

func TestDecodeResponseHugeBody(t *testing.T) {
	// A valid envelope padded past 1 MiB is not read to the end.
	body := append([]byte(`{"error":{"code":"INTERNAL","message":"`), bytes.Repeat([]byte("z"), apierror.MaxDecodeBytes)...)
	body = append(body, `"}}`...)
	resp := serve(t, 500, http.Header{"X-Request-Id": {"req_big"}}, body)
	err := apierror.DecodeResponse(resp)
	var re *apierror.ResponseError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 500, re.Status)
	assert.Equal(t, "req_big", re.RequestID)
	assert.Equal(t, "body larger than 1 MiB", re.Reason)
	assert.True(t, re.Truncated)
	assert.Equal(t, string(body[:512]), string(re.Body))

	// Exactly 1 MiB is still decoded.
	msg := strings.Repeat("m", apierror.MaxDecodeBytes-len(`{"error":{"code":"INTERNAL","message":""}}`))
	exact := []byte(`{"error":{"code":"INTERNAL","message":"` + msg + `"}}`)
	require.Len(t, exact, apierror.MaxDecodeBytes)
	e, ok := apierror.As(apierror.DecodeResponse(serve(t, 500, nil, exact)))
	require.True(t, ok)
	assert.Equal(t, msg, e.Message())
}

// failingBody returns some bytes, then an error, as a connection reset would.
type failingBody struct{ r *bytes.Reader }

func (b failingBody) Read(p []byte) (int, error) {
	if b.r.Len() == 0 {
		return 0, errors.New("connection reset by peer")
	}
	return b.r.Read(p)
}
func (failingBody) Close() error { return nil }

func TestDecodeResponseReadError(t *testing.T) {
	resp := &http.Response{StatusCode: 502, Header: http.Header{"X-Request-Id": {"req_r"}},
		Body: failingBody{bytes.NewReader(bytes.Repeat([]byte("q"), 600))}}
	var re *apierror.ResponseError
	require.ErrorAs(t, apierror.DecodeResponse(resp), &re)
	assert.Equal(t, 502, re.Status)
	assert.Equal(t, "req_r", re.RequestID)
	assert.Contains(t, re.Reason, "connection reset by peer")
	assert.Len(t, re.Body, 512)
	assert.True(t, re.Truncated)

	var re2 *apierror.ResponseError
	require.ErrorAs(t, apierror.DecodeResponse(&http.Response{StatusCode: 500, Header: http.Header{}}), &re2)
	assert.Equal(t, "empty body", re2.Reason, "a nil Body is an empty body")
}

func TestDecodeResponseRetryAfterHeader(t *testing.T) {
	body := []byte(`{"error":{"code":"INTERNAL","message":"m","requestId":"r"}}`)
	future := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	tests := []struct {
		name   string
		header string
		min    time.Duration
		max    time.Duration
		ok     bool
	}{
		{"seconds", "7", 7 * time.Second, 7 * time.Second, true},
		{"HTTP date", future, 80 * time.Second, 90 * time.Second, true},
		{"past date", past, 0, 0, false},
		{"zero", "0", 0, 0, false},
		{"negative", "-3", 0, 0, false},
		{"garbage", "soon", 0, 0, false},
		{"absent", "", 0, 0, false},
		{"huge saturates", "99999999999999999", time.Duration(1 << 62), time.Duration(1 << 62), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("Retry-After", tc.header)
			}
			e, ok := apierror.As(apierror.DecodeResponse(serve(t, 503, h, body)))
			require.True(t, ok)
			d, ok := e.RetryAfter()
			assert.Equal(t, tc.ok, ok)
			assert.GreaterOrEqual(t, d, tc.min)
			assert.LessOrEqual(t, d, tc.max)
		})
	}

	// Details win over the header for codes that carry their own wait, and a
	// null PLATFORM_ERROR retryAfterMs means "don't retry" whatever the header says.
	h := http.Header{"Retry-After": {"60"}}
	rl, _ := apierror.As(apierror.DecodeResponse(serve(t, 429, h, apierror.RateLimited(1200*time.Millisecond).Render("r"))))
	d, ok := rl.RetryAfter()
	assert.True(t, ok)
	assert.Equal(t, 1200*time.Millisecond, d)

	pe, _ := apierror.As(apierror.DecodeResponse(serve(t, 502, h, apierror.PlatformError(apierror.PlatformTikTok, "c", "m", 0).Render("r"))))
	_, ok = pe.RetryAfter()
	assert.False(t, ok)
}

// TestRoundTrip: for every constructor, rendering then decoding gives back
// the same code, message, status and details (compared through Details()).
func TestRoundTrip(t *testing.T) {
	for _, tc := range constructorCases() {
		t.Run(tc.name, func(t *testing.T) {
			resp := serve(t, tc.err.Status(), http.Header{"Content-Type": {"application/json"}}, tc.err.Render("req_rt"))
			got, ok := apierror.As(apierror.DecodeResponse(resp))
			require.True(t, ok)
			assert.Equal(t, tc.err.Code(), got.Code())
			assert.Equal(t, tc.err.Message(), got.Message())
			assert.Equal(t, tc.err.Status(), got.Status())
			assert.Equal(t, "req_rt", got.RequestID())
			assert.Equal(t, tc.err.HasDetails(), got.HasDetails())
			assert.Equal(t, string(tc.err.RawDetails()), string(got.RawDetails()))

			want, err := tc.err.Details()
			require.NoError(t, err)
			have, err := got.Details()
			require.NoError(t, err)
			assert.Equal(t, want, have)
			assert.Equal(t, string(tc.err.Render("req_rt")), string(got.Render("req_rt")), "re-rendering is identical")
		})
	}
	// And for random strings, through Decode directly.
	for i, s := range oddStrings {
		other := oddStrings[(i+3)%len(oddStrings)]
		for _, e := range errorsFromStrings(s, other, s, int64(i)*12345) {
			got, ok := apierror.Decode(e.Status(), e.Render("r")).(*apierror.Error)
			require.True(t, ok)
			require.Equal(t, e.Code(), got.Code())
			want, err := e.Details()
			require.NoError(t, err)
			have, err := got.Details()
			require.NoError(t, err)
			if utf8.ValidString(s) && utf8.ValidString(other) {
				// (Invalid UTF-8 is replaced by U+FFFD on the wire, by design.)
				require.Equal(t, string(e.Render("r")), string(got.Render("r")))
				require.Equal(t, e.Message(), got.Message())
				require.Equal(t, want, have, "%s %q", e.Code(), s)
			}
		}
	}
}

// TestDecodeDoesNotAliasInput: changing the body after Decode does not
// change the decoded error.
func TestDecodeDoesNotAliasInput(t *testing.T) {
	body := apierror.Conflict("a").Render("r")
	e := decodeErr(t, 409, string(body))
	body2 := bytes.Clone(body)
	re := apierror.Decode(502, body2).(*apierror.Error)
	for i := range body2 {
		body2[i] = 'X'
	}
	assert.Equal(t, `{"reason":"a"}`, string(e.RawDetails()))
	assert.Equal(t, `{"reason":"a"}`, string(re.RawDetails()))

	html := []byte("<html>")
	perr := apierror.Decode(502, html).(*apierror.ResponseError)
	html[0] = 'X'
	assert.Equal(t, "<html>", string(perr.Body))
}

func TestValidCode(t *testing.T) {
	for _, tc := range []struct {
		code string
		want bool
	}{
		{"RATE_LIMITED", true},
		{"A", true},
		{"X9_", true},
		{"FUTURE_CODE_2031", true},
		{strings.Repeat("A", 64), true},
		{strings.Repeat("A", 65), false},
		{"", false},
		{"rate_limited", false},
		{"_RATE", false},
		{"9LIVES", false},
		{"RATE-LIMITED", false},
		{"RATE LIMITED", false},
		{"RATÉ", false},
	} {
		assert.Equal(t, tc.want, apierror.ValidCode(tc.code), "%q", tc.code)
	}
	for _, c := range apierror.Catalogue() {
		assert.True(t, apierror.ValidCode(string(c.Code)), c.Code)
	}
}
