package echo5

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/requestid"
)

// TestEveryResponseHasRequestID serves every kind of response and checks
// that each carries one well-formed X-Request-Id, equal to the body's
// requestId on errors, and that no two responses share an ID.
func TestEveryResponseHasRequestID(t *testing.T) {
	e, _ := newEcho(t, Config{})
	e.GET("/ok", okHandler)
	e.HEAD("/ok", okHandler)
	e.HEAD("/internal", func(*echo.Context) error { return errors.New("boom") })
	e.POST("/upload", func(c *echo.Context) error { return c.NoContent(http.StatusNoContent) }, BodyLimit(4))
	e.GET("/validation", func(*echo.Context) error { return apierror.Validation(apierror.Issue{Path: "a", Message: "b"}) })
	e.GET("/internal", func(*echo.Context) error { return errors.New("boom") })
	e.GET("/panic", func(*echo.Context) error { panic("boom") })
	e.GET("/ratelimited", func(*echo.Context) error { return apierror.RateLimited(1500 * time.Millisecond) })
	e.GET("/killswitch", func(*echo.Context) error { return apierror.KillSwitch(apierror.ScopeGlobal) })
	e.Group("/g", func(next echo.HandlerFunc) echo.HandlerFunc { return next }).GET("/a", okHandler)

	cases := []struct {
		name, method, target string
		body                 string
		status               int
		code                 string // "" for a success or a HEAD
	}{
		{"success", http.MethodGet, "/ok", "", 200, ""},
		{"HEAD success", http.MethodHead, "/ok", "", 200, ""},
		{"OPTIONS (echo's own answer)", http.MethodOptions, "/ok", "", 204, ""},
		{"validation", http.MethodGet, "/validation", "", 422, "VALIDATION"},
		{"internal", http.MethodGet, "/internal", "", 500, "INTERNAL"},
		{"panic", http.MethodGet, "/panic", "", 500, "INTERNAL"},
		{"router 404", http.MethodGet, "/nowhere", "", 404, "NOT_FOUND"},
		{"router 405", http.MethodPut, "/ok", "", 404, "NOT_FOUND"},
		{"group 404", http.MethodGet, "/g/nowhere", "", 404, "NOT_FOUND"},
		{"body limit 413", http.MethodPost, "/upload", "too large", 413, "PAYLOAD_TOO_LARGE"},
		{"rate limited 429", http.MethodGet, "/ratelimited", "", 429, "RATE_LIMITED"},
		{"kill switch 503", http.MethodGet, "/killswitch", "", 503, "KILL_SWITCH"},
		{"HEAD error", http.MethodHead, "/internal", "", 500, ""},
		{"HEAD 404", http.MethodHead, "/nowhere", "", 404, ""},
	}
	seen := map[string]string{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rd io.Reader
			if c.body != "" {
				rd = strings.NewReader(c.body)
			}
			rec := do(e, c.method, c.target, rd)
			id := rec.Header().Get(HeaderRequestID)
			require.True(t, requestid.Valid(id), "X-Request-Id %q", id)
			require.Len(t, rec.Header().Values(HeaderRequestID), 1)
			if prev, dup := seen[id]; dup {
				t.Fatalf("request ID %s reused by %q and %q", id, prev, c.name)
			}
			seen[id] = c.name
			if c.code != "" {
				requireEnvelope(t, rec, c.status, c.code)
			} else {
				require.Equal(t, c.status, rec.Code)
			}
			if c.method == http.MethodHead && c.status >= 400 {
				assert.Empty(t, rec.Body.String())
				requireErrorHeaders(t, rec.Header())
			}
		})
	}
}

// TestRequestIDInContexts checks the accessors: echo context, request
// context, a context derived from it, and after another middleware replaced
// the request's context.
func TestRequestIDInContexts(t *testing.T) {
	e, _ := newEcho(t, Config{})
	type seen struct{ echoID, ctxID, derivedID string }
	got := make(chan seen, 1)
	replaceCtx := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			type k struct{}
			r := c.Request()
			c.SetRequest(r.WithContext(context.WithValue(r.Context(), k{}, 1)))
			return next(c)
		}
	}
	e.GET("/x", func(c *echo.Context) error {
		derived, cancel := context.WithTimeout(c.Request().Context(), time.Minute)
		defer cancel()
		got <- seen{RequestIDFrom(c), requestid.FromContext(c.Request().Context()), requestid.FromContext(derived)}
		return c.NoContent(http.StatusNoContent)
	}, replaceCtx)
	rec := do(e, http.MethodGet, "/x", nil)
	id := rec.Header().Get(HeaderRequestID)
	require.True(t, requestid.Valid(id))
	assert.Equal(t, seen{id, id, id}, <-got)

	// Without the middleware the accessors return zero values.
	c := echo.New().NewContext(httptestRequest(), nil)
	assert.Empty(t, RequestIDFrom(c))
	assert.Same(t, requestid.DefaultLogger(), LoggerFrom(c))
	c.SetRequest(nil)
	assert.Empty(t, RequestIDFrom(c), "no request: no ID, no panic")
	assert.Same(t, requestid.DefaultLogger(), LoggerFrom(c))
}

// TestLoggerFrom checks that the request logger carries requestId, is built
// once and is shared by LoggerFrom and requestid.Logger, and that echo's
// own c.Logger() is left alone.
func TestLoggerFrom(t *testing.T) {
	logs := newLogSink(slog.LevelDebug)
	echoLogs := newLogSink(slog.LevelDebug)
	e := echo.New()
	e.Logger = echoLogs.Logger()
	e.Use(RequestIDWithConfig(RequestIDConfig{Logger: logs.Logger().With(slog.String("svc", "api"))}))
	e.GET("/x", func(c *echo.Context) error {
		l := LoggerFrom(c)
		assert.Same(t, l, LoggerFrom(c))
		assert.Same(t, l, requestid.Logger(c.Request().Context()))
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() { defer wg.Done(); assert.Same(t, l, LoggerFrom(c)) }()
		}
		wg.Wait()
		l.Info("charging card")
		assert.Same(t, e.Logger, c.Logger())
		return c.NoContent(http.StatusNoContent)
	})
	rec := do(e, http.MethodGet, "/x", nil)
	id := rec.Header().Get(HeaderRequestID)
	lines := logs.Filter(func(le logEntry) bool { return le.Message == "charging card" })
	require.Len(t, lines, 1)
	assert.Equal(t, slog.LevelInfo, lines[0].Level)
	assert.Equal(t, map[string]any{"requestId": id, "svc": "api"}, lines[0].Fields)
	assert.Zero(t, echoLogs.Len())
}

// TestInboundRequestID feeds hostile and valid X-Request-Id values with
// TrustInbound off and on: only a single well-formed req_<ULID> is ever
// accepted, and a rejected value is neither echoed nor logged.
func TestInboundRequestID(t *testing.T) {
	valid := requestid.New()
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
		{"two values", []string{valid, requestid.New()}, false},
		{"empty", []string{""}, false},
	}
	for _, trust := range []bool{false, true} {
		for _, c := range cases {
			t.Run(c.name+map[bool]string{false: "/trust off", true: "/trust on"}[trust], func(t *testing.T) {
				e, logs := newEcho(t, Config{RequestID: RequestIDConfig{TrustInbound: trust}})
				e.GET("/x", func(c *echo.Context) error {
					LoggerFrom(c).Info("handler line")
					return errors.New("boom")
				})
				req := httptestRequest()
				req.Header[HeaderRequestID] = c.values
				rec := serve(e, req)
				env := requireEnvelope(t, rec, 500, "INTERNAL")
				id := env.Error.RequestID
				if trust && c.ok {
					assert.Equal(t, c.values[0], id)
					return
				}
				for _, v := range c.values {
					assert.NotEqual(t, v, id)
					if v == "" {
						continue
					}
					requireNoSecret(t, rec.Header(), rec.Body.String(), v)
					assert.NotContains(t, joinLog(logs.All()), v)
				}
				assert.Len(t, linesWith(logs, id), 2, "handler line and error line carry the fresh ID")
			})
		}
	}
}

// TestRequestIDSkipper checks that a skipped request gets no ID in its
// context and that its error response still gets a fresh, consistent one.
func TestRequestIDSkipper(t *testing.T) {
	e, logs := newEcho(t, Config{RequestID: RequestIDConfig{Skipper: func(*echo.Context) bool { return true }}})
	var inHandler string
	e.GET("/x", func(c *echo.Context) error { inHandler = RequestIDFrom(c); return errors.New("boom") })
	rec := do(e, http.MethodGet, "/x", nil)
	env := requireEnvelope(t, rec, 500, "INTERNAL")
	assert.Empty(t, inHandler)
	assert.Len(t, linesWith(logs, env.Error.RequestID), 1)
}

// TestRequestIDStandalone checks RequestID used on its own, with echo's
// default error handler: the header is still set, echo's own RequestLogger
// logs it, and an inbound one is not echoed (unlike echo's RequestID).
func TestRequestIDStandalone(t *testing.T) {
	var logged []string
	e := echo.New()
	e.Pre(RequestID())
	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogRequestID: true,
		LogValuesFunc: func(_ *echo.Context, v middleware.RequestLoggerValues) error {
			logged = append(logged, v.RequestID)
			return nil
		},
	}))
	e.GET("/x", okHandler)
	rec := do(e, http.MethodGet, "/nowhere", nil, HeaderRequestID, "spoofed")
	assert.Equal(t, 404, rec.Code)
	id := rec.Header().Get(HeaderRequestID)
	assert.True(t, requestid.Valid(id))
	assert.Equal(t, requestid.Header, HeaderRequestID)
	require.Len(t, logged, 1)
	assert.Equal(t, "spoofed", logged[0], "echo's RequestLogger prefers the inbound header; errkit's ID is on the response")
	rec = do(e, http.MethodGet, "/x", nil)
	assert.Equal(t, rec.Header().Get(HeaderRequestID), logged[1], "without an inbound header it logs errkit's ID")
}
