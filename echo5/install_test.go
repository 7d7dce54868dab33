package echo5

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/requestid"
)

// wireResp is a response read whole from a real listener.
type wireResp struct {
	status int
	hdr    http.Header
	body   string
}

// call sends one request to srv.
func call(t *testing.T, srv *httptest.Server, method, path string, body io.Reader, hdr ...string) wireResp {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, body)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return wireResp{res.StatusCode, res.Header, string(b)}
}

// TestInstallOverRealListener drives an installed echo v5 through a real
// HTTP server and client: successes, router 404 and 405 (Allow kept),
// the 404 and 405 answered by a group's automatic 404 routes (Allow
// restored), panics, Retry-After, HEAD, and the body limit with and without
// Content-Length.
func TestInstallOverRealListener(t *testing.T) {
	e, logs := newEcho(t, Config{})
	e.GET("/ok", okHandler)
	e.HEAD("/gone", func(*echo.Context) error { return apierror.NotFound() })
	e.GET("/panic", func(*echo.Context) error { panic("boom") })
	e.GET("/limited", func(*echo.Context) error { return apierror.RateLimited(2500 * time.Millisecond) })
	e.POST("/items", bindHandlerCreated, BodyLimit(16))
	var groupRan int
	api := e.Group("/api", func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error { groupRan++; return next(c) }
	})
	api.GET("/things", okHandler)
	api.DELETE("/things/:id", okHandler)
	srv := httptest.NewServer(e)
	defer srv.Close()

	ids := map[string]bool{}
	check := func(r wireResp, status int, code apierror.Code, details string) {
		t.Helper()
		require.Equal(t, status, r.status, r.body)
		id := r.hdr.Get(HeaderRequestID)
		require.True(t, requestid.Valid(id), id)
		require.Len(t, r.hdr.Values(HeaderRequestID), 1)
		require.False(t, ids[id], "unique")
		ids[id] = true
		if code != "" {
			requireErrorHeaders(t, r.hdr)
			assert.Equal(t, body(code, id, details), r.body)
		}
	}

	check(call(t, srv, http.MethodGet, "/ok", nil), 200, "", "")
	r := call(t, srv, http.MethodGet, "/nowhere", nil)
	check(r, 404, apierror.CodeNotFound, "")
	assert.Empty(t, r.hdr.Values("Allow"))
	r = call(t, srv, http.MethodPut, "/ok", nil)
	check(r, 404, apierror.CodeNotFound, "")
	assert.Equal(t, "OPTIONS, GET", r.hdr.Get("Allow"))

	// The group's automatic 404 routes: its middleware runs on unknown
	// paths, and a method the path does not serve keeps its Allow.
	r = call(t, srv, http.MethodGet, "/api/nowhere", nil)
	check(r, 404, apierror.CodeNotFound, "")
	assert.Empty(t, r.hdr.Values("Allow"))
	assert.Equal(t, 1, groupRan, "echo ran the group's middleware for the 404")
	r = call(t, srv, http.MethodPost, "/api/things", nil)
	check(r, 404, apierror.CodeNotFound, "")
	assert.Equal(t, "OPTIONS, GET", r.hdr.Get("Allow"))
	r = call(t, srv, http.MethodGet, "/api/things/t_1", nil)
	check(r, 404, apierror.CodeNotFound, "")
	assert.Equal(t, "OPTIONS, DELETE", r.hdr.Get("Allow"), "on a parameterised route too")
	r = call(t, srv, http.MethodHead, "/api/things/t_1", nil)
	check(r, 404, "", "")
	assert.Empty(t, r.body)
	assert.Equal(t, "OPTIONS, DELETE", r.hdr.Get("Allow"))
	check(call(t, srv, http.MethodGet, "/api/things", nil), 200, "", "")

	check(call(t, srv, http.MethodGet, "/panic", nil), 500, apierror.CodeInternal, "")
	r = call(t, srv, http.MethodGet, "/limited", nil)
	check(r, 429, apierror.CodeRateLimited, `{"retryAfterMs":2500}`)
	assert.Equal(t, "3", r.hdr.Get("Retry-After"))
	r = call(t, srv, http.MethodHead, "/gone", nil)
	check(r, 404, "", "")
	assert.Empty(t, r.body)
	requireErrorHeaders(t, r.hdr)

	// Body limit: announced by Content-Length, and discovered while c.Bind
	// reads a chunked body of unknown length.
	check(call(t, srv, http.MethodPost, "/items", strings.NewReader(`{"name":"much too long a name"}`), "Content-Type", "application/json"),
		413, apierror.CodePayloadTooLarge, `{"maxBytes":16}`)
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte(`{"name":"much too long `))
		_, _ = pw.Write([]byte(`a name, sent in chunks"}`))
		_ = pw.Close()
	}()
	check(call(t, srv, http.MethodPost, "/items", pr, "Content-Type", "application/json"), 413, apierror.CodePayloadTooLarge, `{"maxBytes":16}`)
	r = call(t, srv, http.MethodPost, "/items", strings.NewReader(`{"n":3}`), "Content-Type", "application/json")
	check(r, 201, "", "")
	assert.JSONEq(t, `{"n":3,"name":""}`, r.body)

	// The panic was logged at error level with the stack.
	panics := logs.With("request failed", "route", "/panic")
	require.Len(t, panics, 1)
	assert.Equal(t, slog.LevelError, panics[0].Level)
	assert.Contains(t, panics[0].Fields["stack"], "install_test.go")
}

func bindHandlerCreated(c *echo.Context) error {
	var v bindTarget
	if err := c.Bind(&v); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, v)
}

// TestInstallLogger: without Config.Logger, errkit logs to echo's own
// e.Logger; Config.Logger wins over it.
func TestInstallLogger(t *testing.T) {
	echoLogs, own := newLogSink(slog.LevelDebug), newLogSink(slog.LevelDebug)
	for _, tc := range []struct {
		name      string
		cfg       Config
		want, not *logSink
	}{
		{"e.Logger by default", Config{AccessLog: &AccessLogConfig{}}, echoLogs, own},
		{"Config.Logger wins", Config{Logger: own.Logger(), AccessLog: &AccessLogConfig{}}, own, echoLogs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := echo.New()
			e.Logger = echoLogs.Logger()
			require.NoError(t, Install(e, tc.cfg))
			e.GET("/x", func(c *echo.Context) error {
				LoggerFrom(c).Info("in handler")
				return errors.New("boom")
			})
			before := tc.not.Len()
			id := do(e, http.MethodGet, "/x", nil).Header().Get(HeaderRequestID)
			lines := linesWith(tc.want, id)
			require.Len(t, lines, 3, "handler line, error line, access line")
			assert.Equal(t, []string{"in handler", "request failed", "request"}, []string{lines[0].Message, lines[1].Message, lines[2].Message})
			assert.Equal(t, before, tc.not.Len())
		})
	}
}

// TestInstallPre checks the Pre option: middleware added later with e.Pre
// run inside errkit, so their panics are recovered and their errors carry
// the request's ID.
func TestInstallPre(t *testing.T) {
	for _, pre := range []bool{false, true} {
		t.Run(fmt.Sprint("Pre=", pre), func(t *testing.T) {
			e, logs := newEcho(t, Config{Pre: pre})
			var inPre string
			e.Pre(func(next echo.HandlerFunc) echo.HandlerFunc {
				return func(c *echo.Context) error {
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
		})
	}
}

// TestAccessLog checks the access-log line of a success, an error, a panic
// and router and group 404s, and that errors are still rendered once.
func TestAccessLog(t *testing.T) {
	e, logs := newEcho(t, Config{AccessLog: &AccessLogConfig{}})
	e.GET("/items/:id", okHandler)
	e.GET("/fail", func(*echo.Context) error { return apierror.Conflict("dup") })
	e.GET("/panic", func(*echo.Context) error { panic(errors.New("boom")) })
	e.GET("/echo-panic", func(*echo.Context) error { panic(errors.New("boom")) }, middleware.Recover())
	e.GET("/written", func(c *echo.Context) error { return c.NoContent(http.StatusAccepted) })
	e.Group("/g", func(next echo.HandlerFunc) echo.HandlerFunc { return next }).GET("/a", okHandler)

	cases := []struct {
		method, target, route string
		status                int
		code                  string
	}{
		{http.MethodGet, "/items/42", "/items/:id", 200, ""},
		{http.MethodGet, "/written", "/written", 202, ""},
		{http.MethodGet, "/fail", "/fail", 409, "CONFLICT"},
		{http.MethodGet, "/panic", "/panic", 500, "INTERNAL"},
		{http.MethodGet, "/echo-panic", "/echo-panic", 500, "INTERNAL"},
		{http.MethodGet, "/nowhere", "", 404, "NOT_FOUND"},
		{http.MethodPut, "/items/42", "/items/:id", 404, "NOT_FOUND"},
		{http.MethodGet, "/g/nowhere", "/g/*", 404, "NOT_FOUND"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.target, func(t *testing.T) {
			rec := do(e, c.method, c.target, nil)
			require.Equal(t, c.status, rec.Code)
			id := rec.Header().Get(HeaderRequestID)
			access := logs.With("request", "requestId", id)
			require.Len(t, access, 1, c.target)
			m := access[0].Fields
			assert.Equal(t, slog.LevelInfo, access[0].Level)
			assert.Equal(t, c.route, m["route"])
			assert.Equal(t, c.method, m["method"])
			assert.Equal(t, int64(c.status), m["status"])
			assert.IsType(t, time.Duration(0), m["latency"])
			if c.code == "" {
				assert.NotContains(t, m, "code")
				return
			}
			assert.Equal(t, c.code, m["code"])
			require.Len(t, logs.With("request failed", "requestId", id), 1)
			env := requireEnvelope(t, rec, c.status, c.code)
			assert.Equal(t, body(apierror.Code(c.code), id, env.detailsOrEmpty()), rec.Body.String(), "exactly one envelope")
		})
	}
}

// TestAccessLogReturnsError: AccessLog has the error rendered (so that its
// line has the final status and code), then returns the error, so that an
// outer middleware still sees it; the response is rendered exactly once
// and the error logged once, with Install and with the middleware used on
// their own.
func TestAccessLogReturnsError(t *testing.T) {
	type seen struct {
		err    error
		status int // the response status when the error reached the outer middleware
	}
	outer := func(got *seen) echo.MiddlewareFunc {
		return func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c *echo.Context) error {
				err := next(c)
				res, _ := echo.UnwrapResponse(c.Response())
				*got = seen{err, res.Status}
				return err
			}
		}
	}
	errBoom := errors.New("boom")
	setups := map[string]func(t *testing.T, got *seen) (*echo.Echo, *logSink){
		"Install": func(t *testing.T, got *seen) (*echo.Echo, *logSink) {
			e, logs := newEcho(t, Config{AccessLog: &AccessLogConfig{}})
			e.Pre(outer(got)) // e.Pre runs outside Install's e.Use middleware
			return e, logs
		},
		"standalone": func(t *testing.T, got *seen) (*echo.Echo, *logSink) {
			logs := newLogSink(slog.LevelDebug)
			h, err := NewErrorHandler(ErrorHandlerConfig{Logger: logs.Logger()})
			require.NoError(t, err)
			e := echo.New()
			e.HTTPErrorHandler = h
			e.Use(outer(got), RequestID(), AccessLogWithConfig(AccessLogConfig{Logger: logs.Logger()}), Recover())
			return e, logs
		},
	}
	for name, setup := range setups {
		t.Run(name, func(t *testing.T) {
			var got seen
			e, logs := setup(t, &got)
			e.GET("/ok", okHandler)
			e.GET("/fail", func(*echo.Context) error { return fmt.Errorf("saving: %w", apierror.Conflict("dup")) })
			e.GET("/internal", func(*echo.Context) error { return errBoom })
			e.GET("/panic", func(*echo.Context) error { panic("boom") })

			rec := do(e, http.MethodGet, "/ok", nil)
			require.Equal(t, 200, rec.Code)
			assert.NoError(t, got.err)

			for _, c := range []struct {
				target string
				status int
				code   apierror.Code
				is     func(error) bool
			}{
				{"/fail", 409, apierror.CodeConflict, func(err error) bool { return apierror.HasCode(err, apierror.CodeConflict) }},
				{"/internal", 500, apierror.CodeInternal, func(err error) bool { return errors.Is(err, errBoom) }},
				{"/panic", 500, apierror.CodeInternal, func(err error) bool {
					var pe *httperror.PanicError
					return errors.As(err, &pe) && pe.Value == "boom"
				}},
				{"/nowhere", 404, apierror.CodeNotFound, func(err error) bool { return errors.Is(err, echo.ErrNotFound) }},
			} {
				got = seen{}
				rec := do(e, http.MethodGet, c.target, nil)
				env := requireEnvelope(t, rec, c.status, string(c.code))
				id := env.Error.RequestID
				require.Error(t, got.err, "the outer middleware sees the error")
				assert.True(t, c.is(got.err), "%v", got.err)
				assert.Equal(t, c.status, got.status, "already rendered when it reaches the outer middleware")
				assert.Equal(t, body(c.code, id, env.detailsOrEmpty()), rec.Body.String(), "rendered exactly once")
				assert.Len(t, logs.With("request failed", "requestId", id), 1, "logged once")
				access := logs.With("request", "requestId", id)
				require.Len(t, access, 1)
				assert.Equal(t, int64(c.status), access[0].Fields["status"])
				assert.Equal(t, string(c.code), access[0].Fields["code"])
			}
		})
	}
}

// TestAccessLogConfig: the skipper, the level, and the logger Install
// passes down.
func TestAccessLogConfig(t *testing.T) {
	e, logs := newEcho(t, Config{AccessLog: &AccessLogConfig{
		Level:   slog.LevelDebug,
		Skipper: func(c *echo.Context) bool { return c.Path() == "/healthz" },
	}})
	e.GET("/healthz", okHandler)
	e.GET("/x", okHandler)
	id := do(e, http.MethodGet, "/x", nil).Header().Get(HeaderRequestID)
	access := logs.With("request", "requestId", id)
	require.Len(t, access, 1)
	assert.Equal(t, slog.LevelDebug, access[0].Level)
	id = do(e, http.MethodGet, "/healthz", nil).Header().Get(HeaderRequestID)
	assert.Empty(t, linesWith(logs, id), "skipped")

	// A level the logger does not enable writes nothing.
	quiet := newLogSink(slog.LevelInfo)
	e, _ = newEcho(t, Config{Logger: quiet.Logger(), AccessLog: &AccessLogConfig{Level: slog.LevelDebug}})
	e.GET("/x", okHandler)
	require.Equal(t, 200, do(e, http.MethodGet, "/x", nil).Code)
	assert.Zero(t, quiet.Len())

	// AccessLog() is the default configuration (lines on stderr, through
	// requestid.DefaultLogger()); it still has errors rendered once.
	e, logs = newEcho(t, Config{})
	e.GET("/x", func(*echo.Context) error { return apierror.Conflict("dup") }, AccessLog())
	rec := do(e, http.MethodGet, "/x", nil)
	env := requireEnvelope(t, rec, 409, "CONFLICT")
	assert.Equal(t, body(apierror.CodeConflict, env.Error.RequestID, `{"reason":"dup"}`), rec.Body.String())
	assert.Len(t, logs.With("request failed", "requestId", env.Error.RequestID), 1)

	// The access log's own logger wins over Install's.
	own := newLogSink(slog.LevelDebug)
	e, logs = newEcho(t, Config{AccessLog: &AccessLogConfig{Logger: own.Logger()}})
	e.GET("/x", okHandler)
	require.Equal(t, 200, do(e, http.MethodGet, "/x", nil).Code)
	assert.Len(t, own.All(), 1)
	assert.Zero(t, logs.Len())
}

// TestAutoHandleHEAD: with echo v5's RouterConfig.AutoHandleHEAD, a HEAD
// request runs the GET route on echo's head writer; its error is still
// the envelope's status and headers without a body (also when a route
// middleware has it rendered inside the head writer), and a success keeps
// echo's Content-Length.
func TestAutoHandleHEAD(t *testing.T) {
	logs := newLogSink(slog.LevelDebug)
	e := echo.NewWithConfig(echo.Config{Router: echo.NewRouter(echo.RouterConfig{AutoHandleHEAD: true})})
	require.NoError(t, Install(e, Config{Logger: logs.Logger(), AccessLog: &AccessLogConfig{}}))
	e.GET("/ok", okHandler)
	e.GET("/gone", func(*echo.Context) error { return apierror.NotFound() })
	e.GET("/limited", func(*echo.Context) error { return apierror.RateLimited(1500 * time.Millisecond) },
		middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{ // renders inside echo's head writer
			HandleError:   true,
			LogValuesFunc: func(*echo.Context, middleware.RequestLoggerValues) error { return nil },
		}))
	srv := httptest.NewServer(e)
	defer srv.Close()

	r := call(t, srv, http.MethodHead, "/ok", nil)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, "2", r.hdr.Get("Content-Length"))
	assert.True(t, requestid.Valid(r.hdr.Get(HeaderRequestID)))

	r = call(t, srv, http.MethodHead, "/gone", nil)
	assert.Equal(t, 404, r.status)
	assert.Empty(t, r.body)
	requireErrorHeaders(t, r.hdr)

	r = call(t, srv, http.MethodHead, "/limited", nil)
	assert.Equal(t, 429, r.status)
	assert.Empty(t, r.body)
	requireErrorHeaders(t, r.hdr)
	assert.Equal(t, "2", r.hdr.Get("Retry-After"))
	id := r.hdr.Get(HeaderRequestID)
	assert.Len(t, logs.With("request failed", "requestId", id), 1, "rendered once")
	access := logs.With("request", "requestId", id)
	require.Len(t, access, 1)
	assert.Equal(t, int64(429), access[0].Fields["status"])
}
