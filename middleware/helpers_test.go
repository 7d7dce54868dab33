package middleware

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// newEcho returns an echo with errkit installed and a zap observer that
// records every line at debug level and above.
func newEcho(t testing.TB, cfg Config) (*echo.Echo, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	if cfg.Logger == nil {
		cfg.Logger = zap.New(core)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	require.NoError(t, Install(e, cfg))
	return e, logs
}

// do serves one request through e.
func do(e *echo.Echo, method, target string, body io.Reader, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
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

// requireEnvelope checks that rec is an error response with code and
// status, a well-formed X-Request-Id equal to the body's requestId and JSON
// content type, and returns the decoded body.
func requireEnvelope(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) envelope {
	t.Helper()
	require.Equal(t, status, rec.Code, "body: %s", rec.Body.String())
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var env envelope
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &env), rec.Body.String())
	assert.Equal(t, code, env.Error.Code)
	id := rec.Header().Get(HeaderRequestID)
	assert.True(t, ValidRequestID(id), "X-Request-Id %q", id)
	assert.Equal(t, id, env.Error.RequestID)
	assert.Len(t, rec.Header().Values(HeaderRequestID), 1)
	return env
}

// requireNoSecret fails when any header or the body of rec contains secret.
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
func linesWith(logs *observer.ObservedLogs, id string) []observer.LoggedEntry {
	return logs.Filter(func(le observer.LoggedEntry) bool {
		return le.ContextMap()[fieldRequestID] == id
	}).All()
}

// joinLog renders entries as text for substring assertions.
func joinLog(entries []observer.LoggedEntry) string {
	var b strings.Builder
	for _, le := range entries {
		b.WriteString(le.Message)
		for k, v := range le.ContextMap() {
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

var jsonNewDecoder = json.NewDecoder

func httptestRequest() *http.Request { return httptest.NewRequest(http.MethodGet, "/x", nil) }

func serve(e *echo.Echo, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func zapString(k, v string) zap.Field { return zap.String(k, v) }
