package echo5

import (
	"errors"
	"fmt"
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

// Every XConfig is an echo.MiddlewareConfigurator, echo v5's interface for
// configurations that return their error instead of panicking.
var (
	_ echo.MiddlewareConfigurator = RequestIDConfig{}
	_ echo.MiddlewareConfigurator = RecoverConfig{}
	_ echo.MiddlewareConfigurator = AccessLogConfig{}
	_ echo.MiddlewareConfigurator = BodyLimitConfig{}
	_ echo.MiddlewareConfigurator = RateLimitConfig{}
	_ echo.MiddlewareConfigurator = KillSwitchConfig{}
	_ echo.MiddlewareConfigurator = IdempotencyConfig{}
)

// TestApierrorRendering checks that apierror errors, wrapped or not, render
// byte for byte with their status, message and details, and the Retry-After
// rules.
func TestApierrorRendering(t *testing.T) {
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
		{"rate limited 1500ms", apierror.RateLimited(1500 * time.Millisecond), 429,
			func(id string) string { return body(apierror.CodeRateLimited, id, `{"retryAfterMs":1500}`) }, "2"},
		{"rate limited 1ns", apierror.RateLimited(1), 429,
			func(id string) string { return body(apierror.CodeRateLimited, id, `{"retryAfterMs":1}`) }, "1"},
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
		{"typed nil apierror", (*apierror.Error)(nil), 500,
			func(id string) string { return body(apierror.CodeInternal, id, "") }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, _ := newEcho(t, Config{})
			e.GET("/x", func(*echo.Context) error { return c.err })
			rec := do(e, http.MethodGet, "/x", nil)
			env := requireEnvelope(t, rec, c.status, env0(c.status, c.err))
			assert.Equal(t, c.body(env.Error.RequestID), rec.Body.String())
			assert.Equal(t, c.retryAfter, rec.Header().Get("Retry-After"))
			if c.retryAfter == "" {
				assert.Empty(t, rec.Header().Values("Retry-After"))
			}
		})
	}
}

// env0 is the code expected for err: its own, INTERNAL for a typed nil.
func env0(status int, err error) string {
	if status == 500 {
		return string(apierror.CodeInternal)
	}
	return string(apierror.CodeOf(err))
}

// TestHeadersSetEarlierAreKept checks that headers middleware set before
// returning an error survive (rate-limit headers, a kill switch's
// Retry-After), and that a handler's Content-Type is replaced.
func TestHeadersSetEarlierAreKept(t *testing.T) {
	e, _ := newEcho(t, Config{})
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
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
	e.GET("/rl", func(c *echo.Context) error {
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

// wrappingWriter is a middleware's response writer around echo's: it
// unwraps to it, as echo v5 asks of writers set with c.SetResponse.
type wrappingWriter struct{ http.ResponseWriter }

func (w *wrappingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestCommittedResponse checks that an error after the response was
// committed writes nothing and is logged, also when the committed response
// is reached through a wrapping writer (echo.UnwrapResponse).
func TestCommittedResponse(t *testing.T) {
	wrap := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			res := c.Response()
			c.SetResponse(&wrappingWriter{res})
			defer c.SetResponse(res)
			return next(c)
		}
	}
	for name, mws := range map[string][]echo.MiddlewareFunc{"echo's response": nil, "a wrapping writer": {wrap}} {
		t.Run(name, func(t *testing.T) {
			e, logs := newEcho(t, Config{})
			e.Use(mws...)
			e.GET("/x", func(c *echo.Context) error {
				_ = c.String(http.StatusOK, "partial")
				// The wrapping writer is still in place when the error
				// reaches errkit's handler from inside the middleware.
				e.HTTPErrorHandler(c, errors.New("failed while writing"))
				return errors.New("failed after writing")
			})
			rec := do(e, http.MethodGet, "/x", nil)
			assert.Equal(t, 200, rec.Code)
			assert.Equal(t, "partial", rec.Body.String())
			id := rec.Header().Get(HeaderRequestID)
			lines := linesWith(logs, id)
			require.Len(t, lines, 2)
			for i, cause := range []string{"failed while writing", "failed after writing"} {
				assert.Equal(t, "request failed after the response was committed", lines[i].Message)
				assert.Equal(t, slog.LevelError, lines[i].Level)
				assert.Equal(t, cause, lines[i].Fields["error"])
				assert.Equal(t, "INTERNAL", lines[i].Fields["code"])
			}
		})
	}
}

// TestHandledOnce checks that an error handed to the error handler by a
// middleware and returned as well (echo v5's RequestLogger with
// HandleError, AccessLog, or a wrapper) is rendered and logged once,
// panics from echo's Recover included.
func TestHandledOnce(t *testing.T) {
	requestLogger := middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		HandleError: true, LogStatus: true,
		LogValuesFunc: func(*echo.Context, middleware.RequestLoggerValues) error { return nil },
	})
	for name, mws := range map[string][]echo.MiddlewareFunc{
		"echo RequestLogger HandleError":      {requestLogger},
		"echo RequestLogger and echo Recover": {requestLogger, middleware.Recover()},
		"handle then wrap": {func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c *echo.Context) error {
				err := next(c)
				if err != nil {
					c.Echo().HTTPErrorHandler(c, err)
					return fmt.Errorf("logged: %w", err)
				}
				return nil
			}
		}, middleware.Recover()},
	} {
		for _, path := range []string{"/error", "/panic"} {
			t.Run(name+path, func(t *testing.T) {
				e, logs := newEcho(t, Config{})
				e.Use(mws...)
				e.GET("/error", func(*echo.Context) error { return errors.New("boom") })
				e.GET("/panic", func(*echo.Context) error { panic("boom") })
				rec := do(e, http.MethodGet, path, nil)
				env := requireEnvelope(t, rec, 500, "INTERNAL")
				assert.Equal(t, body(apierror.CodeInternal, env.Error.RequestID, ""), rec.Body.String(), "one body")
				assert.Len(t, logs.All(), 1, "one log line")
			})
		}
	}
}

// TestPanicStackError: echo v5's own Recover returns a
// *middleware.PanicStackError whose Error text holds the stack. errkit
// renders it as INTERNAL whatever the panic value, logs the value and the
// stack (under "stack", not inside "error") and sends neither.
func TestPanicStackError(t *testing.T) {
	const secret = "sk_live_panic"
	for _, v := range []any{"boom " + secret, errors.New("boom " + secret), apierror.Conflict("dup").WithCause(errors.New(secret))} {
		t.Run(fmt.Sprintf("%T", v), func(t *testing.T) {
			e, logs := newEcho(t, Config{})
			e.GET("/x", func(*echo.Context) error { panic(v) }, middleware.Recover())
			rec := do(e, http.MethodGet, "/x", nil)
			env := requireEnvelope(t, rec, 500, "INTERNAL")
			assert.Equal(t, body(apierror.CodeInternal, env.Error.RequestID, ""), rec.Body.String())
			requireNoSecret(t, rec.Header(), rec.Body.String(), secret)
			assert.NotContains(t, rec.Body.String(), "goroutine")
			lines := linesWith(logs, env.Error.RequestID)
			require.Len(t, lines, 1)
			assert.Equal(t, slog.LevelError, lines[0].Level)
			assert.Contains(t, lines[0].Fields["error"], "panic: ")
			assert.Contains(t, lines[0].Fields["error"], secret, "the panic value is logged")
			assert.NotContains(t, lines[0].Fields["error"], "goroutine", "the stack is not inside the error text")
			assert.Contains(t, lines[0].Fields["stack"], "errorhandler_test.go", "the stack points at the panicking handler")
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
		{"echo 4xx keeps its error", DefaultErrorHandlerConfig, echo.NewHTTPError(http.StatusConflict, "dup").Wrap(apierror.Conflict("dup")), slog.LevelDebug, true},
		{"echo sentinel keeps its error", DefaultErrorHandlerConfig, echo.ErrUnauthorized, slog.LevelDebug, true},
		{"4xx at the configured level", ErrorHandlerConfig{ClientErrorLevel: slog.LevelInfo}, apierror.NotFound(), slog.LevelInfo, false},
		{"4xx at a LevelVar", ErrorHandlerConfig{ClientErrorLevel: level}, apierror.NotFound(), slog.LevelWarn, false},
		{"upstream 5xx at warn by default", DefaultErrorHandlerConfig, apierror.KillSwitch(apierror.ScopeKey), slog.LevelWarn, false},
		{"upstream 5xx at the configured level", ErrorHandlerConfig{UpstreamErrorLevel: slog.LevelError}, apierror.ScrapeFailed(""), slog.LevelError, false},
		{"a partial config keeps the other defaults", ErrorHandlerConfig{MaxBodyBytes: 1 << 20}, apierror.KillSwitch(apierror.ScopeKey), slog.LevelWarn, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, logs := newEcho(t, Config{ErrorHandler: c.cfg})
			e.POST("/projects/:id/publish", func(*echo.Context) error { return c.err })
			rec := do(e, http.MethodPost, "/projects/p_123/publish", nil)
			var env envelope
			switch code := apierror.CodeOf(c.err); {
			case errors.Is(c.err, echo.ErrUnauthorized):
				env = requireEnvelope(t, rec, 401, "UNAUTHENTICATED")
			default:
				env = requireEnvelope(t, rec, apierror.StatusOf(c.err), string(code))
			}
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
	e.GET("/x", func(*echo.Context) error { return apierror.NotFound() })
	requireEnvelope(t, do(e, http.MethodGet, "/x", nil), 404, "NOT_FOUND")
	assert.Zero(t, logs.Len())
}

// TestErrorHandlerConfigErrors checks configuration mistakes: ToMiddleware
// and NewErrorHandler return them, XWithConfig panics with them, Install
// returns them and installs nothing.
func TestErrorHandlerConfigErrors(t *testing.T) {
	_, err := NewErrorHandler(ErrorHandlerConfig{MaxBodyBytes: -1})
	require.ErrorContains(t, err, "MaxBodyBytes")
	_, err = NewErrorHandler(ErrorHandlerConfig{DefaultRetryAfter: -time.Second})
	require.ErrorContains(t, err, "DefaultRetryAfter")
	_, err = RecoverConfig{StackSize: -1}.ToMiddleware()
	require.EqualError(t, err, "errkit/echo5: RecoverConfig.StackSize is negative (-1)")
	_, err = BodyLimitConfig{}.ToMiddleware()
	require.EqualError(t, err, "errkit/echo5: BodyLimitConfig.MaxBytes must be positive, got 0")
	assert.Panics(t, func() { RecoverWithConfig(RecoverConfig{StackSize: -1}) })
	assert.Panics(t, func() { BodyLimit(0) })
	assert.Panics(t, func() { BodyLimitWithConfig(BodyLimitConfig{MaxBytes: -3}) })
	require.EqualError(t, Install(nil, Config{}), "errkit/echo5: Install: nil *echo.Echo")
	e := echo.New()
	require.Error(t, Install(e, Config{ErrorHandler: ErrorHandlerConfig{MaxBodyBytes: -1}}))
	require.Error(t, Install(e, Config{Recover: RecoverConfig{StackSize: -2}}))
	// Nothing was installed by the failed calls.
	rec := do(e, http.MethodGet, "/x", nil)
	assert.Empty(t, rec.Header().Get(HeaderRequestID))
	assert.NotEqual(t, "application/json", rec.Header().Get("Content-Type")+"x", "echo's own handler answered")
}

// TestNewErrorHandlerStandalone uses the error handler without Install and
// without the RequestID middleware: every error response still has an ID.
func TestNewErrorHandlerStandalone(t *testing.T) {
	logs := newLogSink(slog.LevelDebug)
	h, err := NewErrorHandler(ErrorHandlerConfig{Logger: logs.Logger()})
	require.NoError(t, err)
	e := echo.New()
	e.HTTPErrorHandler = h
	e.GET("/x", func(*echo.Context) error { return apierror.Conflict("taken") })
	rec := do(e, http.MethodGet, "/x", nil)
	env := requireEnvelope(t, rec, 409, "CONFLICT")
	assert.Len(t, linesWith(logs, env.Error.RequestID), 1)
	rec = do(e, http.MethodPut, "/x", nil)
	requireEnvelope(t, rec, 404, "NOT_FOUND")
	assert.Equal(t, "OPTIONS, GET", rec.Header().Get("Allow"))
	h(e.NewContext(httptestRequest(), httptest.NewRecorder()), nil) // a nil error is ignored
	assert.Equal(t, 2, logs.Len())
}

// TestHTTPErrorHandler: the default handler renders like NewErrorHandler's
// (its log goes to the default logger, on stderr).
func TestHTTPErrorHandler(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = HTTPErrorHandler
	e.Use(RequestID())
	e.GET("/x", func(*echo.Context) error { return apierror.Conflict("taken") })
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
		{"PanicError beats apierror", fmt.Errorf("w: %w", &httperror.PanicError{Value: apierror.NotFound()}), apierror.CodeInternal},
		{"PanicStackError beats apierror", fmt.Errorf("w: %w", &middleware.PanicStackError{Err: apierror.NotFound()}), apierror.CodeInternal},
		{"PanicStackError without an error", &middleware.PanicStackError{}, apierror.CodeInternal},
		{"joined sentinel", errors.Join(errors.New("x"), echo.ErrNotFound), apierror.CodeNotFound},
		{"sentinel behind an apierror", apierror.Conflict("dup").WithCause(echo.ErrNotFound), apierror.CodeConflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, _ := newEcho(t, Config{})
			e.GET("/x", func(*echo.Context) error { return c.err })
			requireEnvelope(t, do(e, http.MethodGet, "/x", nil), apierrorStatus(c.code), string(c.code))
		})
	}
}

// TestStatusSeenByEchoV5 checks what the issue promises: errkit's errors
// implement StatusCode, so echo v5's RequestLogger (and
// echo.ResolveResponseStatus, which it calls) sees the contract's status of
// a returned error before, and without, the error handler running.
func TestStatusSeenByEchoV5(t *testing.T) {
	type seen struct {
		status           int
		handlerHadRunYet bool
	}
	cases := []struct {
		name   string
		err    error
		status int
	}{
		{"rate limited", apierror.RateLimited(3 * time.Second), http.StatusTooManyRequests},
		{"wrapped rate limited", fmt.Errorf("limiter: %w", apierror.RateLimited(time.Second)), http.StatusTooManyRequests},
		{"kill switch", apierror.KillSwitch(apierror.ScopeGlobal), http.StatusServiceUnavailable},
		{"validation", apierror.Validation(apierror.Issue{Path: "a", Message: "b"}), http.StatusUnprocessableEntity},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var handled bool
			var got []seen
			e := echo.New()
			e.HTTPErrorHandler = func(c *echo.Context, err error) { handled = true; HTTPErrorHandler(c, err) }
			e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
				LogStatus: true, // HandleError false: the error handler runs after the line
				LogValuesFunc: func(_ *echo.Context, v middleware.RequestLoggerValues) error {
					got = append(got, seen{v.Status, handled})
					return nil
				},
			}))
			e.GET("/x", func(*echo.Context) error { return c.err })
			rec := do(e, http.MethodGet, "/x", nil)
			assert.Equal(t, []seen{{c.status, false}}, got, "RequestLogger logged the contract's status before the error handler ran")
			assert.True(t, handled)
			assert.Equal(t, c.status, rec.Code)

			_, status := echo.ResolveResponseStatus(httptest.NewRecorder(), c.err)
			assert.Equal(t, c.status, status)
			assert.Equal(t, c.status, echo.StatusCode(c.err))
		})
	}
}

// TestSecretsNeverLeak returns or panics with server-side secrets in every
// form echo v5 has: no response body or header contains the secret, the
// access line does not either, and the error line has it together with the
// request ID.
func TestSecretsNeverLeak(t *testing.T) {
	const secret = "hunter2"
	cases := []struct {
		name    string
		handler echo.HandlerFunc
		mw      []echo.MiddlewareFunc
		stack   bool
	}{
		{"plain error", func(*echo.Context) error {
			return fmt.Errorf("pq: password=%s host=db.internal", secret)
		}, nil, false},
		{"wrapped error", func(*echo.Context) error {
			return fmt.Errorf("loading user: %w", fmt.Errorf("query: %w", errors.New("pq: password="+secret)))
		}, nil, false},
		{"HTTPError 500 with a wrapped error", func(*echo.Context) error {
			return echo.NewHTTPError(http.StatusInternalServerError, "secret "+secret).Wrap(errors.New("dsn password=" + secret))
		}, nil, false},
		{"HTTPError 503 with a message", func(*echo.Context) error {
			return echo.NewHTTPError(http.StatusServiceUnavailable, "redis at 10.0.0.3 password "+secret)
		}, nil, false},
		{"HTTPError 400 with a wrapped error", func(*echo.Context) error {
			return echo.NewHTTPError(http.StatusBadRequest, "config parse: "+secret).Wrap(errors.New(secret))
		}, nil, false},
		{"sentinel Wrap", func(*echo.Context) error {
			return echo.ErrBadGateway.Wrap(errors.New("upstream token " + secret))
		}, nil, false},
		{"BindingError with a secret value", func(*echo.Context) error {
			return echo.NewBindingError("limit", []string{secret}, "query param "+secret, errors.New("parse "+secret))
		}, nil, false},
		{"apierror.Internal with cause", func(*echo.Context) error {
			return apierror.Internal(errors.New("token=" + secret)).WithMessage("token " + secret)
		}, nil, false},
		{"panic with a string", func(*echo.Context) error { panic("connecting with password " + secret) }, nil, true},
		{"panic with an error", func(*echo.Context) error { panic(fmt.Errorf("password=%s", secret)) }, nil, true},
		{"echo Recover: PanicStackError", func(*echo.Context) error { panic("password " + secret) }, []echo.MiddlewareFunc{middleware.Recover()}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, logs := newEcho(t, Config{AccessLog: &AccessLogConfig{}})
			e.GET("/x", c.handler, c.mw...)
			rec := do(e, http.MethodGet, "/x", nil)
			requireNoSecret(t, rec.Header(), rec.Body.String(), secret)
			id := rec.Header().Get(HeaderRequestID)
			require.True(t, requestid.Valid(id))
			access := logs.With("request", "requestId", id)
			require.Len(t, access, 1)
			assert.NotContains(t, joinLog(access), secret, "the access line has no cause")
			lines := logs.With("request failed", "requestId", id)
			require.Len(t, lines, 1)
			require.Len(t, linesWith(logs, id), 2, "the error line and the access line")
			assert.Contains(t, joinLog(lines), secret, "the log keeps the cause")
			if rec.Code >= 500 {
				requireEnvelope(t, rec, 500, "INTERNAL")
				assert.Equal(t, body(apierror.CodeInternal, id, ""), rec.Body.String())
				assert.Equal(t, slog.LevelError, lines[0].Level)
			}
			stack, hasStack := lines[0].Fields["stack"].(string)
			assert.Equal(t, c.stack, hasStack)
			if c.stack {
				assert.Contains(t, stack, "errorhandler_test.go", "the stack points at the panicking handler")
			}
			assert.False(t, strings.Contains(rec.Body.String(), "goroutine"))
		})
	}
}
