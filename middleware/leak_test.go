package middleware

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/requestid"
)

// TestSecretsNeverLeak returns or panics with server-side secrets in every
// form the issue lists: no response body or header contains the secret, and
// the error-level log line has it together with the request ID.
func TestSecretsNeverLeak(t *testing.T) {
	const secret = "hunter2"
	cases := []struct {
		name    string
		handler echo.HandlerFunc
		stack   bool
	}{
		{"plain error", func(echo.Context) error {
			return fmt.Errorf("pq: password=%s host=db.internal", secret)
		}, false},
		{"wrapped error", func(echo.Context) error {
			return fmt.Errorf("loading user: %w", fmt.Errorf("query: %w", errors.New("pq: password="+secret)))
		}, false},
		{"echo HTTPError 500 with internal error", func(echo.Context) error {
			return echo.NewHTTPError(http.StatusInternalServerError, "secret "+secret).SetInternal(errors.New("dsn password=" + secret))
		}, false},
		{"echo HTTPError 503 with message", func(echo.Context) error {
			return echo.NewHTTPError(http.StatusServiceUnavailable, "redis at 10.0.0.3 password "+secret)
		}, false},
		{"echo HTTPError 400 with internal error", func(echo.Context) error {
			return echo.NewHTTPError(http.StatusBadRequest, "config parse: "+secret).SetInternal(errors.New(secret))
		}, false},
		{"apierror.Internal with cause", func(echo.Context) error {
			return apierror.Internal(errors.New("token=" + secret)).WithMessage("token " + secret)
		}, false},
		{"panic with a string", func(echo.Context) error { panic("connecting with password " + secret) }, true},
		{"panic with an error", func(echo.Context) error { panic(fmt.Errorf("password=%s", secret)) }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, logs := newEcho(t, Config{AccessLog: &AccessLogConfig{}})
			e.GET("/x", c.handler)
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
				assert.Contains(t, stack, "leak_test.go", "the stack points at the panicking handler")
			}
			assert.False(t, strings.Contains(rec.Body.String(), "goroutine"))
		})
	}
}
