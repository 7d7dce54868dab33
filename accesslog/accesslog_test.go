package accesslog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/accesslog"
	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/requestid"
)

// capture returns a logger writing JSON lines at level and above into buf.
func capture(level slog.Leveler) (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level})), &buf
}

// lines decodes the JSON lines in buf, without their time.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, b := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		if len(b) == 0 {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m), "%s", b)
		delete(m, slog.TimeKey)
		out = append(out, m)
	}
	return out
}

var stamper = requestid.NewStamper(requestid.Config{})

// TestLog checks the fields of the line: code only when errkit's error
// writer rendered an error for the request.
func TestLog(t *testing.T) {
	writer, err := httperror.New(httperror.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	cases := []struct {
		name    string
		stamp   bool
		handle  func(w http.ResponseWriter, r *http.Request)
		status  int
		code    string // "" = no code field
		route   string
		latency time.Duration
	}{
		{name: "success", stamp: true, status: 200, route: "/items/:id", latency: 1500 * time.Microsecond,
			handle: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }},
		{name: "rendered error", stamp: true, status: 409, code: "CONFLICT", route: "/items", latency: time.Millisecond,
			handle: func(w http.ResponseWriter, r *http.Request) { writer.Write(w, r, apierror.Conflict("dup")) }},
		{name: "rendered INTERNAL", stamp: true, status: 500, code: "INTERNAL", route: "/items",
			handle: func(w http.ResponseWriter, r *http.Request) { writer.Write(w, r, errors.New("boom")) }},
		{name: "a handler's own 500 has no code", stamp: true, status: 500, route: "/legacy",
			handle: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "oops", http.StatusInternalServerError) }},
		{name: "outside a route", stamp: true, status: 404, code: "NOT_FOUND",
			handle: func(w http.ResponseWriter, r *http.Request) { writer.Write(w, r, apierror.NotFound()) }},
		{name: "unstamped request: no ID, no code", status: 404,
			handle: func(w http.ResponseWriter, r *http.Request) { writer.Write(w, r, apierror.NotFound()) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log, buf := capture(slog.LevelDebug)
			al := accesslog.New(accesslog.Config{Logger: log})
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPatch, "/items/42?token=secret", nil)
			if c.stamp {
				r = stamper.Stamp(rec.Header(), r)
			}
			c.handle(rec, r)
			require.Equal(t, c.status, rec.Code)
			al.Log(r, c.route, rec.Code, c.latency)
			got := lines(t, buf)
			require.Len(t, got, 1)
			want := map[string]any{
				"level":     "INFO",
				"msg":       "request",
				"requestId": requestid.FromContext(r.Context()),
				"method":    "PATCH",
				"route":     c.route,
				"status":    float64(c.status),
				"latency":   float64(c.latency),
			}
			if c.code != "" {
				want["code"] = c.code
			}
			assert.Equal(t, want, got[0])
			if c.stamp {
				assert.Equal(t, rec.Header().Get(requestid.Header), got[0]["requestId"])
			}
			assert.NotContains(t, buf.String(), "secret", "the raw URL is never logged")
		})
	}
}

// TestLevel: the configured level is the lines' level, and a logger above it
// writes nothing.
func TestLevel(t *testing.T) {
	r := stamper.Stamp(http.Header{}, httptest.NewRequest(http.MethodGet, "/x", nil))

	log, buf := capture(slog.LevelDebug)
	accesslog.New(accesslog.Config{Logger: log, Level: slog.LevelDebug}).Log(r, "/x", 200, time.Millisecond)
	got := lines(t, buf)
	require.Len(t, got, 1)
	assert.Equal(t, "DEBUG", got[0]["level"])

	lv := new(slog.LevelVar)
	log, buf = capture(slog.LevelInfo)
	al := accesslog.New(accesslog.Config{Logger: log, Level: lv})
	al.Log(r, "/x", 200, time.Millisecond)
	lv.Set(slog.LevelDebug)
	al.Log(r, "/x", 200, time.Millisecond)
	lv.Set(slog.LevelWarn)
	al.Log(r, "/x", 200, time.Millisecond)
	got = lines(t, buf)
	require.Len(t, got, 2, "the LevelVar is read on every line")
	assert.Equal(t, "INFO", got[0]["level"])
	assert.Equal(t, "WARN", got[1]["level"])
}

// counting is a slog.Handler that counts Enabled and Handle calls and
// enables nothing.
type counting struct{ enabled, handled atomic.Int64 }

func (h *counting) Enabled(context.Context, slog.Level) bool {
	h.enabled.Add(1)
	return false
}

func (h *counting) Handle(context.Context, slog.Record) error {
	h.handled.Add(1)
	return nil
}
func (h *counting) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *counting) WithGroup(string) slog.Handler      { return h }

// TestLevelOffCostsNothing: with the level off, Log asks Enabled once,
// writes no line and allocates nothing.
func TestLevelOffCostsNothing(t *testing.T) {
	h := &counting{}
	al := accesslog.New(accesslog.Config{Logger: slog.New(h)})
	r := stamper.Stamp(http.Header{}, httptest.NewRequest(http.MethodGet, "/x", nil))
	allocs := testing.AllocsPerRun(100, func() { al.Log(r, "/x", 200, time.Millisecond) })
	assert.Zero(t, allocs)
	assert.Equal(t, int64(101), h.enabled.Load(), "one Enabled call per line (AllocsPerRun runs once more to warm up)")
	assert.Zero(t, h.handled.Load())

	// The zero Config's default logger (info) with the level at debug.
	al = accesslog.New(accesslog.Config{Level: slog.LevelDebug})
	assert.Zero(t, testing.AllocsPerRun(100, func() { al.Log(r, "/x", 200, time.Millisecond) }))
}

// TestConcurrent: one Logger serves many goroutines (slog's JSON handler
// serialises its writes).
func TestConcurrent(t *testing.T) {
	log, buf := capture(slog.LevelInfo)
	al := accesslog.New(accesslog.Config{Logger: log})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				r := stamper.Stamp(http.Header{}, httptest.NewRequest(http.MethodGet, "/x", nil))
				al.Log(r, "/x", 200, time.Microsecond)
			}
		}()
	}
	wg.Wait()
	got := lines(t, buf)
	require.Len(t, got, 400)
	ids := map[any]bool{}
	for _, l := range got {
		ids[l["requestId"]] = true
	}
	assert.Len(t, ids, 400)
}
