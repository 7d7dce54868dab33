package middleware

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"

	"github.com/layershq/errkit/apierror"
)

// TestInstallOverRealListener drives an installed echo through a real HTTP
// server and client.
func TestInstallOverRealListener(t *testing.T) {
	e, logs := newEcho(t, Config{})
	e.GET("/ok", okHandler)
	e.HEAD("/gone", func(echo.Context) error { return apierror.NotFound() })
	e.GET("/panic", func(echo.Context) error { panic("boom") })
	e.GET("/limited", func(echo.Context) error { return apierror.RateLimited(2500 * time.Millisecond) })
	e.POST("/items", func(c echo.Context) error {
		var v bindTarget
		if err := c.Bind(&v); err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, v)
	}, BodyLimit(16))
	srv := httptest.NewServer(e)
	defer srv.Close()
	client := srv.Client()

	type resp struct {
		status int
		hdr    http.Header
		body   string
	}
	call := func(method, path string, body io.Reader, contentType string) resp {
		req, err := http.NewRequest(method, srv.URL+path, body)
		require.NoError(t, err)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		res, err := client.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return resp{res.StatusCode, res.Header, string(b)}
	}
	ids := map[string]bool{}
	check := func(r resp, status int, code apierror.Code, details string) {
		t.Helper()
		require.Equal(t, status, r.status, r.body)
		id := r.hdr.Get(HeaderRequestID)
		require.True(t, ValidRequestID(id), id)
		require.False(t, ids[id], "unique")
		ids[id] = true
		if code != "" {
			assert.Equal(t, "application/json", r.hdr.Get("Content-Type"))
			assert.Equal(t, body(code, id, details), r.body)
		}
	}

	check(call(http.MethodGet, "/ok", nil, ""), 200, "", "")
	check(call(http.MethodGet, "/nowhere", nil, ""), 404, apierror.CodeNotFound, "")
	r := call(http.MethodPut, "/ok", nil, "")
	check(r, 404, apierror.CodeNotFound, "")
	assert.Equal(t, "OPTIONS, GET", r.hdr.Get("Allow"))
	check(call(http.MethodGet, "/panic", nil, ""), 500, apierror.CodeInternal, "")
	r = call(http.MethodGet, "/limited", nil, "")
	check(r, 429, apierror.CodeRateLimited, `{"retryAfterMs":2500}`)
	assert.Equal(t, "3", r.hdr.Get("Retry-After"))
	r = call(http.MethodHead, "/gone", nil, "")
	check(r, 404, "", "")
	assert.Empty(t, r.body)
	assert.Equal(t, "application/json", r.hdr.Get("Content-Type"))

	// Body limit: announced by Content-Length, and discovered while reading
	// a chunked body of unknown length.
	check(call(http.MethodPost, "/items", strings.NewReader(`{"name":"much too long a name"}`), "application/json"),
		413, apierror.CodePayloadTooLarge, `{"maxBytes":16}`)
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte(`{"name":"much too long `))
		_, _ = pw.Write([]byte(`a name, sent in chunks"}`))
		_ = pw.Close()
	}()
	check(call(http.MethodPost, "/items", pr, "application/json"), 413, apierror.CodePayloadTooLarge, `{"maxBytes":16}`)
	r = call(http.MethodPost, "/items", strings.NewReader(`{"n":3}`), "application/json")
	check(r, 201, "", "")
	assert.JSONEq(t, `{"n":3,"name":""}`, r.body)

	// The panic was logged at error level with the stack.
	panics := logs.FilterField(zapString(fieldRoute, "/panic")).All()
	require.Len(t, panics, 1)
	assert.Equal(t, zapcore.ErrorLevel, panics[0].Level)
	assert.Contains(t, panics[0].ContextMap()[fieldStack], "install_test.go")
}

// TestInstallPre checks the Pre option: middleware added later with e.Pre
// run inside errkit, so their panics are recovered and their errors carry
// the request's ID.
func TestInstallPre(t *testing.T) {
	for _, pre := range []bool{false, true} {
		e, logs := newEcho(t, Config{Pre: pre})
		var inPre string
		e.Pre(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				inPre = RequestIDFrom(c)
				if c.Request().URL.Path == "/pre-panic" {
					panic("in pre")
				}
				return next(c)
			}
		})
		e.GET("/ok", okHandler)
		rec := do(e, http.MethodGet, "/ok", nil)
		require.Equal(t, 200, rec.Code)
		if pre {
			assert.Equal(t, rec.Header().Get(HeaderRequestID), inPre)
			rec = do(e, http.MethodGet, "/pre-panic", nil)
			env := requireEnvelope(t, rec, 500, "INTERNAL")
			assert.Len(t, linesWith(logs, env.Error.RequestID), 1)
		} else {
			assert.Empty(t, inPre, "Pre middleware run before errkit's e.Use middleware")
			assert.Panics(t, func() { do(e, http.MethodGet, "/pre-panic", nil) })
		}
	}
}

// TestAccessLog checks the access-log line of a success, an error and a
// panic, and that errors are still rendered once.
func TestAccessLog(t *testing.T) {
	e, logs := newEcho(t, Config{AccessLog: &AccessLogConfig{}})
	e.GET("/items/:id", okHandler)
	e.GET("/fail", func(echo.Context) error { return apierror.Conflict("dup") })
	e.GET("/panic", func(echo.Context) error { panic(errors.New("boom")) })

	cases := []struct {
		target, route string
		status        int
		code          string
	}{
		{"/items/42", "/items/:id", 200, ""},
		{"/fail", "/fail", 409, "CONFLICT"},
		{"/panic", "/panic", 500, "INTERNAL"},
	}
	for _, c := range cases {
		rec := do(e, http.MethodGet, c.target, nil)
		require.Equal(t, c.status, rec.Code)
		id := rec.Header().Get(HeaderRequestID)
		access := logs.FilterMessage("request").FilterField(zapString(fieldRequestID, id)).All()
		require.Len(t, access, 1, c.target)
		m := access[0].ContextMap()
		assert.Equal(t, c.route, m[fieldRoute])
		assert.Equal(t, "GET", m[fieldMethod])
		assert.Equal(t, int64(c.status), m[fieldStatus])
		assert.Contains(t, m, fieldLatency)
		if c.code == "" {
			assert.NotContains(t, m, fieldCode)
		} else {
			assert.Equal(t, c.code, m[fieldCode])
			require.Len(t, logs.FilterMessage("request failed").FilterField(zapString(fieldRequestID, id)).All(), 1)
			var env envelope
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &env), "exactly one envelope: %s", rec.Body)
		}
	}
}
