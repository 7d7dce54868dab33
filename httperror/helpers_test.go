package httperror_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/requestid"
)

// logs captures what a Writer logs, as JSON lines at debug and above.
type logs struct{ buf bytes.Buffer }

// logger returns a logger writing into l.
func (l *logs) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(&l.buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lines decodes the lines logged so far, without their time.
func (l *logs) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, b := range bytes.Split(bytes.TrimSpace(l.buf.Bytes()), []byte("\n")) {
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

// newWriter returns a Writer for cfg logging into a fresh logs (unless cfg
// has its own Logger).
func newWriter(t *testing.T, cfg httperror.Config) (*httperror.Writer, *logs) {
	t.Helper()
	l := &logs{}
	if cfg.Logger == nil {
		cfg.Logger = l.logger()
	}
	w, err := httperror.New(cfg)
	require.NoError(t, err)
	return w, l
}

// stamper stamps requests as an adapter does before its handlers run.
var stamper = requestid.NewStamper(requestid.Config{})

// stamped returns r stamped with a request ID, the header set on rec.
func stamped(rec *httptest.ResponseRecorder, r *http.Request) *http.Request {
	return stamper.Stamp(rec.Header(), r)
}

// body returns the exact envelope expected for code with id, its catalogue
// message unless msg is given, and details (raw JSON, "" for none).
func body(code apierror.Code, id, details string, msg ...string) string {
	spec, _ := apierror.Lookup(code)
	m := spec.Message
	if len(msg) > 0 && msg[0] != "" {
		m = msg[0]
	}
	s := fmt.Sprintf(`{"error":{"code":%q,"message":%q,"requestId":%q`, code, m, id)
	if details != "" {
		s += `,"details":` + details
	}
	return s + "}}"
}

// requireEnvelope checks the status and the headers every error response
// carries (one well-formed X-Request-Id, JSON, no-store, nosniff), that the
// body is an envelope with code whose requestId is the header's, and
// returns the request ID.
func requireEnvelope(t *testing.T, rec *httptest.ResponseRecorder, status int, code apierror.Code) string {
	t.Helper()
	require.Equal(t, status, rec.Code, "body: %s", rec.Body)
	h := rec.Header()
	assert.Equal(t, []string{"application/json"}, h.Values("Content-Type"))
	assert.Equal(t, []string{"no-store"}, h.Values("Cache-Control"))
	assert.Equal(t, []string{"nosniff"}, h.Values("X-Content-Type-Options"))
	ids := h.Values(requestid.Header)
	require.Len(t, ids, 1)
	require.True(t, requestid.Valid(ids[0]), ids[0])
	var env apierror.Envelope
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &env), "%s", rec.Body)
	assert.Equal(t, code, env.Error.Code)
	assert.Equal(t, ids[0], env.Error.RequestID)
	return ids[0]
}
