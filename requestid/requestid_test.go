package requestid

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jsonLogger returns a logger writing JSON lines at debug and above into the
// returned buffer.
func jsonLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

// logLines decodes the JSON lines in buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal(l, &m), "%s", l)
		lines = append(lines, m)
	}
	return lines
}

// TestStamperInbound feeds hostile and valid X-Request-Id values with
// TrustInbound off and on: only a single well-formed ID is ever accepted,
// and a refused value is neither echoed in the header nor logged.
func TestStamperInbound(t *testing.T) {
	valid := New()
	cases := []struct {
		name   string
		values []string
		ok     bool // accepted when TrustInbound is on
	}{
		{"valid", []string{valid}, true},
		{"lowercase", []string{"req_" + strings.ToLower(valid[4:])}, false},
		{"CRLF injection", []string{valid + "\r\nSet-Cookie: a=b"}, false},
		{"10 KB", []string{"req_" + strings.Repeat("A", 10<<10)}, false},
		{"non-ASCII", []string{"req_01HXZ9G7KMV2QX8Y1S5RJW3BÄ"}, false},
		{"no prefix", []string{valid[4:]}, false},
		{"other prefix", []string{"rq__" + valid[4:]}, false},
		{"overflowing ULID", []string{"req_8ZZZZZZZZZZZZZZZZZZZZZZZZZ"}, false},
		{"excluded letter U", []string{"req_01HXZ9G7KMV2QX8Y1S5RJW3B7U"}, false},
		{"two values", []string{valid, New()}, false},
		{"two equal values", []string{valid, valid}, false},
		{"empty", []string{""}, false},
		{"absent", nil, false},
	}
	for _, trust := range []bool{false, true} {
		for _, c := range cases {
			t.Run(c.name+map[bool]string{false: "/trust off", true: "/trust on"}[trust], func(t *testing.T) {
				log, buf := jsonLogger()
				st := NewStamper(Config{TrustInbound: trust, Logger: log})
				req := httptest.NewRequest(http.MethodGet, "/x", nil)
				if c.values != nil {
					req.Header[Header] = c.values
				}
				h := http.Header{}
				r := st.Stamp(h, req)
				id := FromContext(r.Context())
				require.True(t, Valid(id), "%q", id)
				assert.Equal(t, []string{id}, h[Header], "one X-Request-Id, equal to the context's")
				Logger(r.Context()).Info("handler line")
				lines := logLines(t, buf)
				require.Len(t, lines, 1)
				assert.Equal(t, id, lines[0]["requestId"])
				if trust && c.ok {
					assert.Equal(t, c.values[0], id)
					return
				}
				for _, v := range c.values {
					assert.NotEqual(t, v, id)
					if v != "" && v != valid {
						assert.NotContains(t, buf.String(), v)
						assert.NotContains(t, strings.Join(h.Values(Header), ","), v)
					}
				}
			})
		}
	}
}

// TestStamp checks what Stamp does to the response header, the request and
// its context: the header holds exactly the ID (replacing any value set
// before), the returned request is a copy whose context, and every context
// derived from it, carries the ID, and the original request is unchanged.
func TestStamp(t *testing.T) {
	st := NewStamper(Config{})
	type otherKey struct{}
	parent := context.WithValue(context.Background(), otherKey{}, "v")
	req := httptest.NewRequest(http.MethodPost, "/items?x=1", strings.NewReader("body")).WithContext(parent)
	h := http.Header{Header: {"stale", "values"}, "Ratelimit-Limit": {"100"}}

	r := st.Stamp(h, req)
	require.NotSame(t, req, r)
	id := FromContext(r.Context())
	require.True(t, Valid(id))
	assert.Equal(t, http.Header{Header: {id}, "Ratelimit-Limit": {"100"}}, h)
	assert.Equal(t, req.Method, r.Method)
	assert.Equal(t, req.URL, r.URL)
	assert.Equal(t, req.Body, r.Body)
	assert.Equal(t, "v", r.Context().Value(otherKey{}), "the parent's values stay visible")

	derived, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	assert.Equal(t, id, FromContext(derived))
	assert.Empty(t, FromContext(req.Context()), "the original request is not changed")
	assert.Empty(t, FromContext(context.Background()))
	assert.Empty(t, FromContext(nil)) // a nil context reads as none

	// Each request gets its own ID.
	h2 := http.Header{}
	r2 := st.Stamp(h2, req)
	assert.NotEqual(t, id, FromContext(r2.Context()))
	assert.Equal(t, FromContext(r2.Context()), h2.Get(Header))
}

// TestLogger checks the request-scoped logger: it carries requestId and the
// base logger's own attributes, is built once and shared across
// goroutines, and falls back to the default logger without a stamped
// request.
func TestLogger(t *testing.T) {
	log, buf := jsonLogger()
	st := NewStamper(Config{Logger: log.With(slog.String("svc", "api"))})
	r := st.Stamp(http.Header{}, httptest.NewRequest(http.MethodGet, "/x", nil))
	id := FromContext(r.Context())

	l := Logger(r.Context())
	assert.Same(t, l, Logger(r.Context()))
	derived, cancel := context.WithCancel(r.Context())
	defer cancel()
	assert.Same(t, l, Logger(derived))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); assert.Same(t, l, Logger(r.Context())) }()
	}
	wg.Wait()

	l.Info("charging card", slog.Int("cents", 250))
	lines := logLines(t, buf)
	require.Len(t, lines, 1)
	delete(lines[0], "time")
	assert.Equal(t, map[string]any{"level": "INFO", "msg": "charging card", "svc": "api", "requestId": id, "cents": 250.0}, lines[0])

	// Without Config.Logger the request logger derives from the default
	// logger: info and above.
	r = NewStamper(Config{}).Stamp(http.Header{}, httptest.NewRequest(http.MethodGet, "/x", nil))
	dl := Logger(r.Context())
	require.NotNil(t, dl)
	assert.NotSame(t, DefaultLogger(), dl, "it carries the requestId attribute")
	assert.True(t, dl.Enabled(r.Context(), slog.LevelInfo))
	assert.False(t, dl.Enabled(r.Context(), slog.LevelDebug))
}

// TestDefaultLogger: zero configs share one process-wide logger that writes
// info and above, and Logger never returns nil.
func TestDefaultLogger(t *testing.T) {
	l := DefaultLogger()
	require.NotNil(t, l)
	assert.Same(t, l, DefaultLogger())
	assert.True(t, l.Enabled(context.Background(), slog.LevelInfo))
	assert.False(t, l.Enabled(context.Background(), slog.LevelDebug))
	assert.Same(t, l, OrDefault(nil))
	own := slog.New(slog.DiscardHandler)
	assert.Same(t, own, OrDefault(own))
	assert.Same(t, l, Logger(context.Background()))
	assert.Same(t, l, Logger(nil)) // a nil context gets the default
}

// TestStampAllocations: Stamp costs the one allocation its documentation
// promises (the ID, the header value, the context and the request copy
// together), and reading the ID back costs none.
func TestStampAllocations(t *testing.T) {
	st := NewStamper(Config{TrustInbound: true})
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	h := http.Header{}
	var r *http.Request
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { r = st.Stamp(h, req) }))
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		if FromContext(r.Context()) == "" {
			t.Fatal("lost")
		}
	}))
	req.Header.Set(Header, New())
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { r = st.Stamp(h, req) }), "a trusted inbound ID")
}
