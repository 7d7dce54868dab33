package middleware

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
)

// TestApierrorRendering checks that apierror errors, wrapped or not, render
// byte for byte with their status, message and details, and the Retry-After
// rules.
func TestApierrorRendering(t *testing.T) {
	ms := func(d time.Duration) time.Duration { return d }
	cases := []struct {
		name       string
		err        error
		status     int
		body       func(id string) string
		retryAfter string // "" = header absent
	}{
		{"wrapped approval required", fmt.Errorf("schedule: %w", apierror.ApprovalRequired("cnt_1", apierror.ApprovalPending)), 403,
			func(id string) string {
				return `{"error":{"code":"APPROVAL_REQUIRED","message":"Content container cnt_1 is not approved.","requestId":"` + id +
					`","details":{"containerId":"cnt_1","approvalStatus":"pending"}}}`
			}, ""},
		{"rate limited 1500ms", apierror.RateLimited(ms(1500 * time.Millisecond)), 429,
			func(id string) string { return body(apierror.CodeRateLimited, id, `{"retryAfterMs":1500}`) }, "2"},
		{"rate limited 1ns", apierror.RateLimited(1), 429,
			func(id string) string { return body(apierror.CodeRateLimited, id, `{"retryAfterMs":1}`) }, "1"},
		{"rate limited 3s exactly", apierror.RateLimited(3 * time.Second), 429,
			func(id string) string { return body(apierror.CodeRateLimited, id, `{"retryAfterMs":3000}`) }, "3"},
		{"circuit open", apierror.CircuitOpen("appstore", 90*time.Second), 503,
			func(id string) string {
				return body(apierror.CodeCircuitOpen, id, `{"resource":"appstore","retryAfterSeconds":90}`)
			}, "90"},
		{"platform error with retry", apierror.PlatformError(apierror.PlatformTikTok, "rate_limit", "slow down", 2500*time.Millisecond), 502,
			func(id string) string {
				return body(apierror.CodePlatformError, id, `{"platform":"tiktok","platformCode":"rate_limit","platformMessage":"slow down","retryAfterMs":2500}`)
			}, "3"},
		{"platform error without retry", apierror.PlatformError(apierror.PlatformMeta, "bad", "no", 0), 502,
			func(id string) string {
				return body(apierror.CodePlatformError, id, `{"platform":"meta","platformCode":"bad","platformMessage":"no","retryAfterMs":null}`)
			}, ""},
		{"internal with cause", apierror.Internal(errors.New("disk full")), 500,
			func(id string) string { return body(apierror.CodeInternal, id, "") }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, _ := newEcho(t, Config{})
			e.GET("/x", func(echo.Context) error { return c.err })
			rec := do(e, http.MethodGet, "/x", nil)
			env := requireEnvelope(t, rec, c.status, string(apierror.CodeOf(c.err)))
			assert.Equal(t, c.body(env.Error.RequestID), rec.Body.String())
			assert.Equal(t, c.retryAfter, rec.Header().Get("Retry-After"))
			if c.retryAfter == "" {
				assert.Empty(t, rec.Header().Values("Retry-After"))
			}
		})
	}
}

// TestHeadersSetEarlierAreKept checks that headers middleware set before
// returning an error survive (rate-limit headers, a kill switch's
// Retry-After), and that a handler's Content-Type is replaced.
func TestHeadersSetEarlierAreKept(t *testing.T) {
	e, _ := newEcho(t, Config{})
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("RateLimit-Limit", "100")
			h.Set("RateLimit-Remaining", "0")
			h.Set("Retry-After", "30")
			if c.Path() == "/ks" {
				return apierror.KillSwitch(apierror.ScopeGlobal)
			}
			return next(c)
		}
	})
	e.GET("/ks", okHandler)
	e.GET("/rl", func(c echo.Context) error {
		c.Response().Header().Set("Content-Type", "text/html")
		return apierror.RateLimited(1200 * time.Millisecond)
	})
	rec := do(e, http.MethodGet, "/ks", nil)
	requireEnvelope(t, rec, 503, "KILL_SWITCH")
	assert.Equal(t, "100", rec.Header().Get("RateLimit-Limit"))
	assert.Equal(t, "30", rec.Header().Get("Retry-After"), "the kill switch's Retry-After is kept")

	rec = do(e, http.MethodGet, "/rl", nil)
	requireEnvelope(t, rec, 429, "RATE_LIMITED")
	assert.Equal(t, "0", rec.Header().Get("RateLimit-Remaining"))
	assert.Equal(t, []string{"2"}, rec.Header().Values("Retry-After"), "RATE_LIMITED's Retry-After agrees with retryAfterMs")
	assert.Equal(t, []string{"application/json"}, rec.Header().Values("Content-Type"))
}

// TestCommittedResponse checks that an error after the response was
// committed writes nothing and is logged.
func TestCommittedResponse(t *testing.T) {
	e, logs := newEcho(t, Config{})
	e.GET("/x", func(c echo.Context) error {
		_ = c.String(http.StatusOK, "partial")
		return errors.New("failed after writing")
	})
	rec := do(e, http.MethodGet, "/x", nil)
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "partial", rec.Body.String())
	id := rec.Header().Get(HeaderRequestID)
	lines := linesWith(logs, id)
	require.Len(t, lines, 1)
	assert.Equal(t, "request failed after the response was committed", lines[0].Message)
	assert.Equal(t, slog.LevelError, lines[0].Level)
	assert.Equal(t, "failed after writing", lines[0].Fields["error"])
	assert.Equal(t, "INTERNAL", lines[0].Fields["code"])
}

// TestHandledOnce checks that an error handed to c.Error by a middleware
// and returned as well (echo's RequestLogger with HandleError, or a wrapper)
// is rendered and logged once.
func TestHandledOnce(t *testing.T) {
	for name, mw := range map[string]echo.MiddlewareFunc{
		"echo RequestLogger HandleError": echomw.RequestLoggerWithConfig(echomw.RequestLoggerConfig{
			HandleError: true, LogStatus: true,
			LogValuesFunc: func(echo.Context, echomw.RequestLoggerValues) error { return nil },
		}),
		"c.Error then wrap": func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				err := next(c)
				if err != nil {
					c.Error(err)
					return fmt.Errorf("logged: %w", err)
				}
				return nil
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			e, logs := newEcho(t, Config{})
			e.Use(mw)
			e.GET("/x", func(echo.Context) error { return errors.New("boom") })
			rec := do(e, http.MethodGet, "/x", nil)
			env := requireEnvelope(t, rec, 500, "INTERNAL")
			assert.Equal(t, body(apierror.CodeInternal, env.Error.RequestID, ""), rec.Body.String(), "one body")
			assert.Len(t, logs.All(), 1, "one log line")
		})
	}
}

// TestLogLevelsAndFields checks the log line of each class of error.
func TestLogLevelsAndFields(t *testing.T) {
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	cases := []struct {
		name      string
		cfg       ErrorHandlerConfig
		err       error
		level     slog.Level
		withError bool // the error field is there (it adds to code and status)
	}{
		{"internal at error", DefaultErrorHandlerConfig, errors.New("boom"), slog.LevelError, true},
		{"workflow start failed at error", DefaultErrorHandlerConfig, apierror.WorkflowStartFailed(errors.New("temporal down")), slog.LevelError, true},
		{"4xx at debug by default", DefaultErrorHandlerConfig, apierror.NotFound(), slog.LevelDebug, false},
		{"wrapped 4xx keeps its error", DefaultErrorHandlerConfig, fmt.Errorf("project p_123: %w", apierror.NotFound()), slog.LevelDebug, true},
		{"4xx with a cause keeps its error", DefaultErrorHandlerConfig, apierror.NotFound().WithCause(errors.New("sql: no rows")), slog.LevelDebug, true},
		{"echo 4xx keeps its error", DefaultErrorHandlerConfig, echo.NewHTTPError(http.StatusConflict, "dup").SetInternal(apierror.Conflict("dup")), slog.LevelDebug, true},
		{"4xx at the configured level", ErrorHandlerConfig{ClientErrorLevel: slog.LevelInfo}, apierror.NotFound(), slog.LevelInfo, false},
		{"4xx at a LevelVar", ErrorHandlerConfig{ClientErrorLevel: level}, apierror.NotFound(), slog.LevelWarn, false},
		{"upstream 5xx at warn by default", DefaultErrorHandlerConfig, apierror.KillSwitch(apierror.ScopeKey), slog.LevelWarn, false},
		{"upstream 5xx at the configured level", ErrorHandlerConfig{UpstreamErrorLevel: slog.LevelError}, apierror.ScrapeFailed(""), slog.LevelError, false},
		{"upstream 5xx at info when asked", ErrorHandlerConfig{UpstreamErrorLevel: slog.LevelInfo}, apierror.ScrapeFailed(""), slog.LevelInfo, false},
		{"a partial config keeps the other defaults", ErrorHandlerConfig{MaxBodyBytes: 1 << 20}, apierror.KillSwitch(apierror.ScopeKey), slog.LevelWarn, false},
		{"zero config: upstream 5xx at warn", ErrorHandlerConfig{}, apierror.CircuitOpen("scraper", 3*time.Second), slog.LevelWarn, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, logs := newEcho(t, Config{ErrorHandler: c.cfg})
			e.POST("/projects/:id/publish", func(echo.Context) error { return c.err })
			rec := do(e, http.MethodPost, "/projects/p_123/publish", nil)
			env := requireEnvelope(t, rec, apierror.StatusOf(c.err), string(apierror.CodeOf(c.err)))
			id := env.Error.RequestID
			lines := linesWith(logs, id)
			require.Len(t, lines, 1)
			assert.Equal(t, c.level, lines[0].Level)
			assert.Equal(t, "request failed", lines[0].Message)
			want := map[string]any{
				"requestId": id,
				"code":      env.Error.Code,
				"status":    int64(rec.Code),
				"method":    "POST",
				"route":     "/projects/:id/publish",
			}
			if c.withError {
				want["error"] = c.err.Error()
			}
			assert.Equal(t, want, lines[0].Fields)
		})
	}

	// Disabled levels cost nothing and log nothing.
	logs := newLogSink(slog.LevelWarn)
	e, _ := newEcho(t, Config{Logger: logs.Logger()})
	e.GET("/x", func(echo.Context) error { return apierror.NotFound() })
	requireEnvelope(t, do(e, http.MethodGet, "/x", nil), 404, "NOT_FOUND")
	assert.Zero(t, logs.Len())
}

// TestErrorHandlerConfigErrors checks configuration mistakes.
func TestErrorHandlerConfigErrors(t *testing.T) {
	_, err := NewErrorHandler(ErrorHandlerConfig{MaxBodyBytes: -1})
	require.ErrorContains(t, err, "MaxBodyBytes")
	_, err = NewErrorHandler(ErrorHandlerConfig{DefaultRetryAfter: -time.Second})
	require.ErrorContains(t, err, "DefaultRetryAfter")
	_, err = RecoverConfig{StackSize: -1}.ToMiddleware()
	require.ErrorContains(t, err, "StackSize")
	_, err = BodyLimitConfig{}.ToMiddleware()
	require.ErrorContains(t, err, "MaxBytes")
	assert.Panics(t, func() { RecoverWithConfig(RecoverConfig{StackSize: -1}) })
	assert.Panics(t, func() { BodyLimit(0) })
	require.Error(t, Install(nil, Config{}))
	e := echo.New()
	require.Error(t, Install(e, Config{ErrorHandler: ErrorHandlerConfig{MaxBodyBytes: -1}}))
	require.Error(t, Install(e, Config{Recover: RecoverConfig{StackSize: -2}}))
	// Nothing was installed by the failed calls.
	rec := do(e, http.MethodGet, "/x", nil)
	assert.Empty(t, rec.Header().Get(HeaderRequestID))
}

// TestNewErrorHandlerStandalone uses the error handler without Install and
// without the RequestID middleware.
func TestNewErrorHandlerStandalone(t *testing.T) {
	logs := newLogSink(slog.LevelDebug)
	h, err := NewErrorHandler(ErrorHandlerConfig{Logger: logs.Logger()})
	require.NoError(t, err)
	e := echo.New()
	e.HTTPErrorHandler = h
	e.GET("/x", func(echo.Context) error { return apierror.Conflict("taken") })
	rec := do(e, http.MethodGet, "/x", nil)
	env := requireEnvelope(t, rec, 409, "CONFLICT")
	assert.Len(t, linesWith(logs, env.Error.RequestID), 1)
}

// TestHTTPErrorHandler: the default handler renders like NewErrorHandler's
// (its log goes to the default logger, on stderr).
func TestHTTPErrorHandler(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = HTTPErrorHandler
	e.Use(RequestID())
	e.GET("/x", func(echo.Context) error { return apierror.Conflict("taken") })
	rec := do(e, http.MethodGet, "/x", nil)
	env := requireEnvelope(t, rec, 409, "CONFLICT")
	assert.Equal(t, body(apierror.CodeConflict, env.Error.RequestID, `{"reason":"taken"}`), rec.Body.String())
	rec = do(e, http.MethodGet, "/nowhere", nil)
	env = requireEnvelope(t, rec, 404, "NOT_FOUND")
	assert.Equal(t, body(apierror.CodeNotFound, env.Error.RequestID, ""), rec.Body.String())
}

// claimsNotFound is an error whose As method claims to be NOT_FOUND.
type claimsNotFound struct{}

func (claimsNotFound) Error() string { return "custom" }
func (claimsNotFound) As(target any) bool {
	if p, ok := target.(**apierror.Error); ok {
		*p = apierror.NotFound()
		return true
	}
	return false
}

// TestErrorChains checks the chain walk against errors.As semantics:
// errors.Join trees, As methods, and the priority of a panic.
func TestErrorChains(t *testing.T) {
	cases := []struct {
		name string
		err  error
		code apierror.Code
	}{
		{"joined", errors.Join(errors.New("first"), fmt.Errorf("w: %w", apierror.Conflict("dup"))), apierror.CodeConflict},
		{"joined, first wins", errors.Join(apierror.NotFound(), apierror.Conflict("dup")), apierror.CodeNotFound},
		{"As method", fmt.Errorf("w: %w", claimsNotFound{}), apierror.CodeNotFound},
		{"panic beats apierror", fmt.Errorf("w: %w", &httperror.PanicError{Value: apierror.NotFound()}), apierror.CodeInternal},
		{"joined HTTPError", errors.Join(errors.New("x"), echo.ErrNotFound), apierror.CodeNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, _ := newEcho(t, Config{})
			e.GET("/x", func(echo.Context) error { return c.err })
			requireEnvelope(t, do(e, http.MethodGet, "/x", nil), apierrorStatus(c.code), string(c.code))
		})
	}
}

func apierrorStatus(c apierror.Code) int { s, _ := apierror.Lookup(c); return s.Status }
