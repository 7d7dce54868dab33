package echo5

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/requestid"
)

// logEntry is one line a logSink recorded.
type logEntry struct {
	Level   slog.Level
	Message string
	// Fields are the line's attributes, those of the logger (With)
	// included, as slog.Value.Any returns them (int64 for slog.Int, ...).
	Fields map[string]any
}

// logSink records every line logged through its loggers at its level and
// above. It is safe for concurrent use.
type logSink struct {
	min     slog.Level
	mu      sync.Mutex
	entries []logEntry
}

// newLogSink returns a sink recording lines at min and above.
func newLogSink(min slog.Level) *logSink { return &logSink{min: min} }

// Logger returns a logger writing into s.
func (s *logSink) Logger() *slog.Logger { return slog.New(&sinkHandler{sink: s}) }

// All returns the lines recorded so far.
func (s *logSink) All() []logEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.entries)
}

// Len returns the number of lines recorded so far.
func (s *logSink) Len() int { return len(s.All()) }

// Filter returns the lines for which keep is true.
func (s *logSink) Filter(keep func(logEntry) bool) []logEntry {
	var out []logEntry
	for _, le := range s.All() {
		if keep(le) {
			out = append(out, le)
		}
	}
	return out
}

// With returns the lines with message msg whose field k is v.
func (s *logSink) With(msg, k string, v any) []logEntry {
	return s.Filter(func(le logEntry) bool { return le.Message == msg && le.Fields[k] == v })
}

// sinkHandler is the slog.Handler of a logSink.
type sinkHandler struct {
	sink   *logSink
	attrs  []slog.Attr
	prefix string // the open groups, "a.b."
}

func (h *sinkHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.sink.min }

func (h *sinkHandler) Handle(_ context.Context, r slog.Record) error {
	le := logEntry{Level: r.Level, Message: r.Message, Fields: map[string]any{}}
	for _, a := range h.attrs {
		le.Fields[a.Key] = a.Value.Resolve().Any()
	}
	r.Attrs(func(a slog.Attr) bool {
		le.Fields[h.prefix+a.Key] = a.Value.Resolve().Any()
		return true
	})
	h.sink.mu.Lock()
	defer h.sink.mu.Unlock()
	h.sink.entries = append(h.sink.entries, le)
	return nil
}

func (h *sinkHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = slices.Clone(h.attrs)
	for _, a := range as {
		a.Key = h.prefix + a.Key
		c.attrs = append(c.attrs, a)
	}
	return &c
}

func (h *sinkHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.prefix += name + "."
	return &c
}

// newEcho returns an echo v5 with errkit installed and a sink that records
// every line at debug level and above.
func newEcho(t testing.TB, cfg Config) (*echo.Echo, *logSink) {
	t.Helper()
	logs := newLogSink(slog.LevelDebug)
	if cfg.Logger == nil {
		cfg.Logger = logs.Logger()
	}
	e := echo.New()
	require.NoError(t, Install(e, cfg))
	return e, logs
}

// do serves one request through e; hdr holds name, value pairs.
func do(e *echo.Echo, method, target string, body io.Reader, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return serve(e, req)
}

// serve serves req through e.
func serve(e *echo.Echo, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

// envelope is the decoded error body.
type envelope struct {
	Error struct {
		Code      string          `json:"code"`
		Message   string          `json:"message"`
		RequestID string          `json:"requestId"`
		Details   json.RawMessage `json:"details"`
	} `json:"error"`
}

// detailsOrEmpty returns the raw details, "" when there are none.
func (env envelope) detailsOrEmpty() string { return string(env.Error.Details) }

// requireEnvelope checks that rec is an error response with code and
// status, a well-formed X-Request-Id equal to the body's requestId, and the
// headers of every error response (JSON, no-store, nosniff), and returns
// the decoded body.
func requireEnvelope(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) envelope {
	t.Helper()
	require.Equal(t, status, rec.Code, "body: %s", rec.Body.String())
	requireErrorHeaders(t, rec.Header())
	var env envelope
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &env), rec.Body.String())
	assert.Equal(t, code, env.Error.Code)
	assert.Equal(t, rec.Header().Get(HeaderRequestID), env.Error.RequestID)
	return env
}

// requireErrorHeaders checks the headers every error response carries.
func requireErrorHeaders(t *testing.T, h http.Header) {
	t.Helper()
	assert.Equal(t, []string{"application/json"}, h.Values("Content-Type"))
	assert.Equal(t, []string{"no-store"}, h.Values("Cache-Control"))
	assert.Equal(t, []string{"nosniff"}, h.Values("X-Content-Type-Options"))
	ids := h.Values(HeaderRequestID)
	require.Len(t, ids, 1)
	assert.True(t, requestid.Valid(ids[0]), "X-Request-Id %q", ids[0])
}

// requireNoSecret fails when any header or the body contains secret.
func requireNoSecret(t *testing.T, hdr http.Header, body, secret string) {
	t.Helper()
	assert.NotContains(t, body, secret)
	for k, vs := range hdr {
		assert.NotContains(t, k, secret)
		for _, v := range vs {
			assert.NotContains(t, v, secret, "header %s", k)
		}
	}
}

// linesWith returns the logged entries whose requestId field is id.
func linesWith(logs *logSink, id string) []logEntry {
	return logs.Filter(func(le logEntry) bool { return le.Fields["requestId"] == id })
}

// joinLog renders entries as text for substring assertions.
func joinLog(entries []logEntry) string {
	var b strings.Builder
	for _, le := range entries {
		b.WriteString(le.Message)
		for k, v := range le.Fields {
			b.WriteString(" " + k + "=")
			s, _ := json.Marshal(v)
			b.Write(s)
			if str, ok := v.(string); ok {
				b.WriteString(" " + str)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// body returns the exact envelope expected for code with id, its catalogue
// message unless msg is given, and details (raw JSON, "" for none).
func body(code apierror.Code, id, details string, msg ...string) string {
	spec, _ := apierror.Lookup(code)
	m := spec.Message
	if len(msg) > 0 {
		m = msg[0]
	}
	s := fmt.Sprintf(`{"error":{"code":%q,"message":%q,"requestId":%q`, code, m, id)
	if details != "" {
		s += `,"details":` + details
	}
	return s + "}}"
}

func okHandler(c *echo.Context) error { return c.String(http.StatusOK, "ok") }

func httptestRequest() *http.Request { return httptest.NewRequest(http.MethodGet, "/x", nil) }

func apierrorStatus(c apierror.Code) int { s, _ := apierror.Lookup(c); return s.Status }
