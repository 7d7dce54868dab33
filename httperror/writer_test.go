package httperror_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/requestid"
)

// TestWriteHeaders checks Retry-After for the codes that carry a wait, and
// that headers set on the response before the error are kept while the
// writer's own (Content-Type, Cache-Control, nosniff) replace what was
// there.
func TestWriteHeaders(t *testing.T) {
	cases := []struct {
		name       string
		preset     http.Header
		err        error
		status     int
		details    string
		retryAfter []string // nil: absent
		check      func(t *testing.T, h http.Header)
	}{
		{name: "rate limited 1500ms", err: apierror.RateLimited(1500 * time.Millisecond), status: 429,
			details: `{"retryAfterMs":1500}`, retryAfter: []string{"2"}},
		{name: "rate limited 1ns", err: apierror.RateLimited(1), status: 429,
			details: `{"retryAfterMs":1}`, retryAfter: []string{"1"}},
		{name: "rate limited 3s exactly, replacing an earlier Retry-After", preset: http.Header{"Retry-After": {"30"}},
			err: apierror.RateLimited(3 * time.Second), status: 429, details: `{"retryAfterMs":3000}`, retryAfter: []string{"3"}},
		{name: "circuit open", err: apierror.CircuitOpen("appstore", 90*time.Second), status: 503,
			details: `{"resource":"appstore","retryAfterSeconds":90}`, retryAfter: []string{"90"}},
		{name: "platform error with retry", err: apierror.PlatformError(apierror.PlatformTikTok, "rate_limit", "slow down", 2500*time.Millisecond),
			status: 502, details: `{"platform":"tiktok","platformCode":"rate_limit","platformMessage":"slow down","retryAfterMs":2500}`,
			retryAfter: []string{"3"}},
		{name: "platform error without retry", err: apierror.PlatformError(apierror.PlatformMeta, "bad", "no", 0), status: 502,
			details: `{"platform":"meta","platformCode":"bad","platformMessage":"no","retryAfterMs":null}`},
		{name: "kill switch keeps its Retry-After and the rate-limit headers",
			preset: http.Header{"Retry-After": {"30"}, "Ratelimit-Limit": {"100"}, "Ratelimit-Remaining": {"7"}},
			err:    apierror.KillSwitch(apierror.ScopeGlobal), status: 503, details: `{"scope":"global"}`, retryAfter: []string{"30"},
			check: func(t *testing.T, h http.Header) {
				assert.Equal(t, "100", h.Get("RateLimit-Limit"))
				assert.Equal(t, "7", h.Get("RateLimit-Remaining"))
			}},
		{name: "a handler's own headers are replaced",
			preset: http.Header{"Content-Type": {"text/html"}, "Content-Length": {"12"}, "Cache-Control": {"public, max-age=3600"},
				"X-Content-Type-Options": {"sniff"}, "Set-Cookie": {"a=b"}},
			err: apierror.NotFound(), status: 404,
			check: func(t *testing.T, h http.Header) {
				assert.Empty(t, h.Values("Content-Length"), "a stale Content-Length would cut the body")
				assert.Equal(t, "a=b", h.Get("Set-Cookie"), "other headers are kept")
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, _ := newWriter(t, httperror.Config{})
			rec := httptest.NewRecorder()
			for k, v := range c.preset {
				rec.Header()[k] = v
			}
			w.Write(rec, stamped(rec, httptest.NewRequest(http.MethodGet, "/x", nil)), c.err)
			code := apierror.CodeOf(c.err)
			id := requireEnvelope(t, rec, c.status, code)
			assert.Equal(t, body(code, id, c.details, apierror.From(c.err).Message()), rec.Body.String())
			assert.Equal(t, c.retryAfter, rec.Header().Values("Retry-After"))
			if c.check != nil {
				c.check(t, rec.Header())
			}
		})
	}
}

// TestWriteRequestID: X-Request-Id equals the body's requestId; it is the
// stamped ID on a stamped request (even when a handler removed or replaced
// the header), and a fresh ID per response otherwise, never an inbound one.
func TestWriteRequestID(t *testing.T) {
	w, l := newWriter(t, httperror.Config{})

	rec := httptest.NewRecorder()
	r := stamped(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	want := requestid.FromContext(r.Context())
	rec.Header().Set(requestid.Header, "req_spoofed_by_a_handler")
	w.Write(rec, r, apierror.Conflict("dup"))
	assert.Equal(t, want, requireEnvelope(t, rec, 409, apierror.CodeConflict))

	rec = httptest.NewRecorder()
	r = stamped(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	want = requestid.FromContext(r.Context())
	rec.Header().Del(requestid.Header)
	w.Write(rec, r, errors.New("boom"))
	assert.Equal(t, want, requireEnvelope(t, rec, 500, apierror.CodeInternal))

	inbound := requestid.New()
	seen := map[string]bool{}
	for range 3 {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.Header.Set(requestid.Header, inbound)
		w.Write(rec, req, apierror.NotFound())
		id := requireEnvelope(t, rec, 404, apierror.CodeNotFound)
		assert.NotEqual(t, inbound, id, "an unstamped request's inbound ID is not trusted")
		assert.False(t, seen[id], "a fresh ID per response")
		seen[id] = true
	}

	// The log lines carry the same IDs as the responses.
	var logged []any
	for _, line := range l.lines(t) {
		logged = append(logged, line["requestId"])
	}
	require.Len(t, logged, 5)
	for id := range seen {
		assert.Contains(t, logged, id)
	}
}

// TestWriteHEAD: a HEAD request gets the status and headers of the error,
// and no body.
func TestWriteHEAD(t *testing.T) {
	for _, err := range []error{apierror.NotFound(), apierror.RateLimited(2 * time.Second), errors.New("boom")} {
		w, l := newWriter(t, httperror.Config{})
		rec := httptest.NewRecorder()
		r := stamped(rec, httptest.NewRequest(http.MethodHead, "/x", nil))
		w.Write(rec, r, err)
		e := apierror.From(err)
		assert.Equal(t, e.Status(), rec.Code)
		assert.Empty(t, rec.Body.Bytes())
		assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
		assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
		assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
		assert.Equal(t, requestid.FromContext(r.Context()), rec.Header().Get(requestid.Header))
		if e.Code() == apierror.CodeRateLimited {
			assert.Equal(t, "2", rec.Header().Get("Retry-After"))
		}
		lines := l.lines(t)
		require.Len(t, lines, 1, "the error is still logged")
		assert.Equal(t, "HEAD", lines[0]["method"])
	}
}

// TestWriteCommitted: once the response is committed the error is only
// logged, with its own message, whatever its class.
func TestWriteCommitted(t *testing.T) {
	for _, c := range []struct {
		err   error
		level string
	}{
		{errors.New("failed after writing"), "ERROR"},
		{apierror.NotFound(), "DEBUG"},
	} {
		w, l := newWriter(t, httperror.Config{})
		rec := httptest.NewRecorder()
		r := stamped(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
		before := rec.Header().Clone()
		w.WriteMeta(rec, r, c.err, httperror.Meta{Route: "/x", Committed: true})
		assert.Equal(t, before, rec.Header(), "no header touched")
		assert.False(t, rec.Flushed)
		assert.Empty(t, rec.Body.Bytes())
		lines := l.lines(t)
		require.Len(t, lines, 1)
		assert.Equal(t, "request failed after the response was committed", lines[0]["msg"])
		assert.Equal(t, c.level, lines[0]["level"])
		assert.Equal(t, requestid.FromContext(r.Context()), lines[0]["requestId"])
		assert.Equal(t, string(apierror.CodeOf(c.err)), lines[0]["code"])
	}
}

// TestWriteOnce: the same error handed to the writer twice for one request
// (echo's Logger middleware does, and wrappers that log and return) is
// rendered and logged once; another error afterwards, on the committed
// response, is logged.
func TestWriteOnce(t *testing.T) {
	w, l := newWriter(t, httperror.Config{})
	rec := httptest.NewRecorder()
	r := stamped(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	err := errors.New("boom")
	w.Write(rec, r, err)
	w.Write(rec, r, err)
	w.Write(rec, r, fmt.Errorf("logged: %w", err))
	w.WriteMeta(rec, r, err, httperror.Meta{Committed: true})
	id := requireEnvelope(t, rec, 500, apierror.CodeInternal)
	assert.Equal(t, body(apierror.CodeInternal, id, ""), rec.Body.String(), "one body")
	require.Len(t, l.lines(t), 1, "one log line")

	w.WriteMeta(rec, r, errors.New("a second failure"), httperror.Meta{Committed: true})
	lines := l.lines(t)
	require.Len(t, lines, 2)
	assert.Equal(t, "request failed after the response was committed", lines[1]["msg"])
	assert.Equal(t, "a second failure", lines[1]["error"])
	assert.Equal(t, body(apierror.CodeInternal, id, ""), rec.Body.String(), "still one body")
}

// TestWriteNil: a nil error writes and logs nothing.
func TestWriteNil(t *testing.T) {
	w, l := newWriter(t, httperror.Config{})
	rec := httptest.NewRecorder()
	w.Write(rec, httptest.NewRequest(http.MethodGet, "/x", nil), nil)
	w.WriteMeta(rec, httptest.NewRequest(http.MethodGet, "/x", nil), nil, httperror.Meta{})
	assert.Empty(t, rec.Header())
	assert.Empty(t, rec.Body.Bytes())
	assert.False(t, rec.Flushed)
	assert.Empty(t, l.lines(t))
}

// TestWriteLog checks the one log line of each class of error: its level
// and exactly its fields.
func TestWriteLog(t *testing.T) {
	level := new(slog.LevelVar)
	level.Set(slog.LevelInfo)
	cases := []struct {
		name      string
		cfg       httperror.Config
		err       error
		level     string
		withError bool // the error field is there (it adds to code and status)
	}{
		{"internal at error", httperror.Config{}, errors.New("boom"), "ERROR", true},
		{"workflow start failed at error", httperror.Config{}, apierror.WorkflowStartFailed(errors.New("temporal down")), "ERROR", true},
		{"4xx at debug by default", httperror.Config{}, apierror.NotFound(), "DEBUG", false},
		{"wrapped 4xx keeps its error", httperror.Config{}, fmt.Errorf("project p_123: %w", apierror.NotFound()), "DEBUG", true},
		{"4xx with a cause keeps its error", httperror.Config{}, apierror.NotFound().WithCause(errors.New("sql: no rows")), "DEBUG", true},
		{"mapped 4xx keeps its error", httperror.Config{}, &httperror.StatusError{Status: 404}, "DEBUG", true},
		{"4xx at the configured level", httperror.Config{ClientErrorLevel: slog.LevelInfo}, apierror.NotFound(), "INFO", false},
		{"4xx at a LevelVar", httperror.Config{ClientErrorLevel: level}, apierror.Conflict("dup"), "INFO", false},
		{"upstream 5xx at warn by default", httperror.Config{}, apierror.KillSwitch(apierror.ScopeKey), "WARN", false},
		{"upstream 5xx at the configured level", httperror.Config{UpstreamErrorLevel: slog.LevelError}, apierror.ScrapeFailed(""), "ERROR", false},
		{"upstream 5xx at info when asked", httperror.Config{UpstreamErrorLevel: slog.LevelInfo}, apierror.ScrapeFailed(""), "INFO", false},
		{"internal ignores the configured levels", httperror.Config{ClientErrorLevel: slog.LevelDebug, UpstreamErrorLevel: slog.LevelDebug}, errors.New("boom"), "ERROR", true},
		{"a partial config keeps the other defaults", httperror.Config{MaxBodyBytes: 1 << 20}, apierror.KillSwitch(apierror.ScopeKey), "WARN", false},
		{"zero config: upstream 5xx at warn", httperror.Config{}, apierror.CircuitOpen("scraper", 3*time.Second), "WARN", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, l := newWriter(t, c.cfg)
			mux := http.NewServeMux()
			mux.HandleFunc("POST /projects/{id}/publish", func(rw http.ResponseWriter, r *http.Request) {
				w.Write(rw, stamper.Stamp(rw.Header(), r), c.err)
			})
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/projects/p_123/publish", nil))
			e := w.Map(c.err, http.Header{})
			id := requireEnvelope(t, rec, e.Status(), e.Code())
			lines := l.lines(t)
			require.Len(t, lines, 1)
			want := map[string]any{
				"level":     c.level,
				"msg":       "request failed",
				"requestId": id,
				"code":      string(e.Code()),
				"status":    float64(e.Status()),
				"method":    "POST",
				"route":     "POST /projects/{id}/publish",
			}
			if c.withError {
				want["error"] = c.err.Error()
			}
			assert.Equal(t, want, lines[0])
		})
	}

	// A LevelVar is read on every error.
	w, l := newWriter(t, httperror.Config{ClientErrorLevel: level})
	level.Set(slog.LevelWarn)
	w.Write(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil), apierror.NotFound())
	require.Len(t, l.lines(t), 1)
	assert.Equal(t, "WARN", l.lines(t)[0]["level"])

	// Disabled levels log nothing.
	var buf strings.Builder
	w, err := httperror.New(httperror.Config{Logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	w.Write(rec, httptest.NewRequest(http.MethodGet, "/x", nil), apierror.NotFound())
	requireEnvelope(t, rec, 404, apierror.CodeNotFound)
	assert.Empty(t, buf.String())
}

// TestWriteLogPanic: a recovered panic is logged at error level with its
// value and the stack of the panicking code.
func TestWriteLogPanic(t *testing.T) {
	w, l := newWriter(t, httperror.Config{})
	var pe *httperror.PanicError
	func() {
		defer func() { pe = httperror.Recovered(recover(), 0) }()
		panicInHandler()
	}()
	rec := httptest.NewRecorder()
	w.Write(rec, stamped(rec, httptest.NewRequest(http.MethodGet, "/x", nil)), pe)
	id := requireEnvelope(t, rec, 500, apierror.CodeInternal)
	assert.Equal(t, body(apierror.CodeInternal, id, ""), rec.Body.String())
	assert.NotContains(t, rec.Body.String(), "hunter2")
	lines := l.lines(t)
	require.Len(t, lines, 1)
	assert.Equal(t, "ERROR", lines[0]["level"])
	assert.Equal(t, "panic: password hunter2", lines[0]["error"])
	assert.Contains(t, lines[0]["stack"], "panicInHandler")
	assert.Contains(t, lines[0]["stack"], "writer_test.go")
}

func panicInHandler() { panic("password hunter2") }

// TestWriteRoute: the log line's route is Config.Route's, r.Pattern by
// default, and WriteMeta's when given.
func TestWriteRoute(t *testing.T) {
	routeOf := func(w *httperror.Writer, l *logs, write func(rw http.ResponseWriter, r *http.Request)) any {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /items/{id}", write)
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/items/42", nil))
		lines := l.lines(t)
		require.NotEmpty(t, lines)
		return lines[len(lines)-1]["route"]
	}
	w, l := newWriter(t, httperror.Config{})
	assert.Equal(t, "GET /items/{id}", routeOf(w, l, func(rw http.ResponseWriter, r *http.Request) { w.Write(rw, r, apierror.NotFound()) }))
	assert.Equal(t, "/items/:id", routeOf(w, l, func(rw http.ResponseWriter, r *http.Request) {
		w.WriteMeta(rw, r, apierror.NotFound(), httperror.Meta{Route: "/items/:id"})
	}))
	w, l = newWriter(t, httperror.Config{Route: func(*http.Request) string { return "/chi/{id}" }})
	assert.Equal(t, "/chi/{id}", routeOf(w, l, func(rw http.ResponseWriter, r *http.Request) { w.Write(rw, r, apierror.NotFound()) }))

	// Outside a route: "", never the raw path.
	w, l = newWriter(t, httperror.Config{})
	w.Write(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/users/u_secret", nil), apierror.NotFound())
	assert.Equal(t, "", l.lines(t)[0]["route"])
}

// TestNew checks configuration errors and the defaults.
func TestNew(t *testing.T) {
	_, err := httperror.New(httperror.Config{MaxBodyBytes: -1})
	require.ErrorContains(t, err, "MaxBodyBytes")
	_, err = httperror.New(httperror.Config{DefaultRetryAfter: -time.Second})
	require.ErrorContains(t, err, "DefaultRetryAfter")

	d := httperror.Default()
	require.NotNil(t, d)
	assert.Same(t, d, httperror.Default())
	rec := httptest.NewRecorder()
	d.Write(rec, httptest.NewRequest(http.MethodGet, "/x", nil), &httperror.StatusError{Status: http.StatusTooManyRequests})
	id := requireEnvelope(t, rec, 429, apierror.CodeRateLimited)
	assert.Equal(t, body(apierror.CodeRateLimited, id, `{"retryAfterMs":1000}`), rec.Body.String(), "default DefaultRetryAfter: 1s")
}

// TestRecovered checks what Recovered keeps of a panic, and that it panics
// again with http.ErrAbortHandler.
func TestRecovered(t *testing.T) {
	pe := httperror.Recovered("boom", 64)
	assert.Equal(t, "boom", pe.Value)
	assert.NotEmpty(t, pe.Stack)
	assert.LessOrEqual(t, len(pe.Stack), 64)
	assert.Equal(t, "panic: boom", pe.Error())
	assert.Nil(t, pe.Unwrap())

	for _, size := range []int{0, -1} {
		pe = httperror.Recovered(apierror.NotFound(), size)
		assert.LessOrEqual(t, len(pe.Stack), httperror.DefaultStackSize)
		assert.Contains(t, string(pe.Stack), "TestRecovered")
		assert.Equal(t, "panic: NOT_FOUND: The resource does not exist.", pe.Error())
		assert.True(t, apierror.HasCode(pe, apierror.CodeNotFound), "errors.As sees through the panic")
	}
	sentinel := errors.New("sentinel")
	assert.ErrorIs(t, httperror.Recovered(fmt.Errorf("w: %w", sentinel), 0), sentinel)

	for _, v := range []any{http.ErrAbortHandler, fmt.Errorf("stream: %w", http.ErrAbortHandler)} {
		assert.PanicsWithValue(t, v, func() { httperror.Recovered(v, 0) })
	}

	// panic(nil) is recovered as a *runtime.PanicNilError, still a panic.
	func() {
		defer func() { pe = httperror.Recovered(recover(), 0) }()
		panic(nil) // what a careless handler does
	}()
	require.NotNil(t, pe.Value)
	assert.Contains(t, pe.Error(), "panic: ")
}

// TestLimitBody checks both ways a body can be too large, and bodies it
// leaves alone.
func TestLimitBody(t *testing.T) {
	w, _ := newWriter(t, httperror.Config{})

	// Announced by Content-Length: refused at once, the body untouched.
	r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("0123456789"))
	orig := r.Body
	err := httperror.LimitBody(httptest.NewRecorder(), r, 4)
	require.Error(t, err)
	assert.Equal(t, orig, r.Body)
	rec := httptest.NewRecorder()
	w.Write(rec, r, err)
	id := requireEnvelope(t, rec, 413, apierror.CodePayloadTooLarge)
	assert.Equal(t, body(apierror.CodePayloadTooLarge, id, `{"maxBytes":4}`), rec.Body.String())

	// Of unknown length: found while reading.
	r = httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("0123456789"))
	r.ContentLength = -1
	rec = httptest.NewRecorder()
	require.NoError(t, httperror.LimitBody(rec, r, 4))
	_, err = io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	require.ErrorAs(t, err, &mbe)
	assert.Equal(t, int64(4), mbe.Limit)
	w.Write(rec, r, fmt.Errorf("decoding: %w", err))
	id = requireEnvelope(t, rec, 413, apierror.CodePayloadTooLarge)
	assert.Equal(t, body(apierror.CodePayloadTooLarge, id, `{"maxBytes":4}`), rec.Body.String())

	// At the limit: read whole.
	r = httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("0123"))
	require.NoError(t, httperror.LimitBody(httptest.NewRecorder(), r, 4))
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	assert.Equal(t, "0123", string(b))

	// No body: nothing to wrap.
	r = httptest.NewRequest(http.MethodGet, "/x", nil)
	require.Equal(t, http.NoBody, r.Body)
	require.NoError(t, httperror.LimitBody(httptest.NewRecorder(), r, 4))
	assert.Equal(t, http.NoBody, r.Body)
	r.Body = nil
	require.NoError(t, httperror.LimitBody(httptest.NewRecorder(), r, 4))
	assert.Nil(t, r.Body)
}

func TestPanicErrorStatusCode(t *testing.T) {
	pe := &httperror.PanicError{Value: apierror.NotFound()}
	assert.Equal(t, 500, pe.StatusCode(), "a panic is INTERNAL even when its value is an *apierror.Error")
}

// TestRenderedOnceByIdentity: the same error value twice is rendered and
// logged once; another error of the same code is a second failure, and its
// cause is logged too.
func TestRenderedOnceByIdentity(t *testing.T) {
	var buf bytes.Buffer
	w, err := httperror.New(httperror.Config{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	require.NoError(t, err)
	r := requestid.NewStamper(requestid.Config{}).Stamp(http.Header{}, httptest.NewRequest(http.MethodGet, "/x", nil))
	first := apierror.Internal(errors.New("cause A"))
	w.Write(httptest.NewRecorder(), r, first)
	w.Write(httptest.NewRecorder(), r, fmt.Errorf("wrapped: %w", first))
	assert.Equal(t, 1, strings.Count(buf.String(), "cause A"), "the same error again is not logged again")
	w.Write(httptest.NewRecorder(), r, apierror.Internal(errors.New("cause B")))
	assert.Contains(t, buf.String(), "cause B", "a second INTERNAL of its own is logged")
}

// TestStaleHeadersDropped: what described an unfinished success (its
// length, encoding, validators, Location) is not sent with the envelope,
// nor a Retry-After on a PLATFORM_ERROR without a retry window.
func TestStaleHeadersDropped(t *testing.T) {
	rec := httptest.NewRecorder()
	for k, v := range map[string]string{"Content-Length": "99", "Content-Encoding": "gzip", "Etag": `"v1"`,
		"Last-Modified": "Mon, 02 Jan 2006 15:04:05 GMT", "Location": "/things/1", "Retry-After": "30", "Allow": "GET"} {
		rec.Header().Set(k, v)
	}
	httperror.Default().Write(rec, httptest.NewRequest(http.MethodPost, "/x", nil), apierror.PlatformError(apierror.PlatformTikTok, "c", "m", 0))
	for _, h := range []string{"Content-Length", "Content-Encoding", "Etag", "Last-Modified", "Location", "Retry-After"} {
		assert.Empty(t, rec.Header().Get(h), h)
	}
	assert.Equal(t, "GET", rec.Header().Get("Allow"), "other headers are kept")
}
