package otelerrkit_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/github.com/labstack/echo/otelecho"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/layershq/errkit/apierror"
	errkitmw "github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/otelerrkit"
)

// TestSpansEchoTracingMiddleware wires errkit on echo v4 next to an echo
// tracing middleware as docs/observability.md says (registered before
// Install, so that its span is in the context errkit stamps): OTel
// contrib's otelecho, which like labstack's echo-otel hands a returned
// error to echo's error handler itself and returns it again. On its span:
// the request ID always, error.type the code, status Error for 5xx only;
// and each error counted once, however often it is handed over.
func TestSpansEchoTracingMiddleware(t *testing.T) {
	tm := newTelemetry(t, otelerrkit.Config{})
	logs := &syncBuffer{}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	e.Use(otelecho.Middleware("errkit-test", otelecho.WithTracerProvider(tm.tp)))
	require.NoError(t, errkitmw.Install(e, errkitmw.Config{
		Logger: slog.New(otelerrkit.LogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		Events: tm.hook,
	}))
	e.GET("/ok", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	e.GET("/things/:id", func(echo.Context) error { return apierror.NotFound() })
	e.GET("/internal", func(echo.Context) error {
		return fmt.Errorf("charge: dial postgres://billing:%s@db: refused", secret)
	})
	e.GET("/upstream", func(echo.Context) error { return apierror.CircuitOpen("appstore", 30*time.Second) })
	ts := httptest.NewServer(e)
	t.Cleanup(ts.Close)
	s := &server{url: ts.URL, tm: tm}

	tests := []struct {
		name       string
		path       string
		status     int
		errorType  string // "" for none
		spanStatus codes.Code
		series     string // the errors counter's series, "" for none
	}{
		{name: "success", path: "/ok", status: 200, spanStatus: codes.Unset},
		{name: "4xx leaves the status unset", path: "/things/1", status: 404, errorType: "NOT_FOUND", spanStatus: codes.Unset,
			series: "error.type=NOT_FOUND,http.request.method=GET,http.response.status_code=404,http.route=/things/:id"},
		{name: "INTERNAL", path: "/internal", status: 500, errorType: "INTERNAL", spanStatus: codes.Error,
			series: "error.type=INTERNAL,http.request.method=GET,http.response.status_code=500,http.route=/internal"},
		{name: "other 5xx", path: "/upstream", status: 503, errorType: "CIRCUIT_OPEN", spanStatus: codes.Error,
			series: "error.type=CIRCUIT_OPEN,http.request.method=GET,http.response.status_code=503,http.route=/upstream"},
	}
	want := map[string]int64{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, id := s.get(t, tt.path)
			require.Equal(t, tt.status, status)
			require.Eventually(t, func() bool { _, ok := tm.spanWith(id); return ok }, 5*time.Second, time.Millisecond,
				"otelecho's span with errkit.request_id %s", id)
			sp, _ := tm.spanWith(id)
			assert.Equal(t, tt.errorType, attr(sp, otelerrkit.ErrorTypeKey))
			assert.Equal(t, tt.spanStatus, sp.Status().Code)
			for _, key := range []attribute.Key{otelerrkit.ErrorTypeKey, otelerrkit.RequestIDKey} {
				assert.NotContains(t, attr(sp, key), secret, key)
			}
			var logged []string // the request IDs of the error lines
			for _, l := range logs.lines(t) {
				if l["msg"] != "request succeeded" {
					logged = append(logged, fmt.Sprint(l["requestId"]))
				}
			}
			logs.reset()
			if tt.series == "" {
				assert.Empty(t, logged)
			} else {
				assert.Equal(t, []string{id}, logged, "one line, under the request's ID")
			}
			if tt.series != "" {
				want[tt.series]++
			}
			assert.Equal(t, nilIfEmpty(want), nilIfEmpty(tm.counts(t, otelerrkit.MetricErrors)), "each error counted once")
		})
	}
}

// TestEchoTracingMiddlewareRecordsTheCause pins the hazard
// docs/observability.md warns of: otelecho writes err.Error() of what the
// chain returned on its span as echo.error, which for an INTERNAL is the
// cause errkit keeps out of responses and, by default, out of its own span
// attributes. A service using such middleware must sanitise that attribute
// itself (or not export it).
func TestEchoTracingMiddlewareRecordsTheCause(t *testing.T) {
	tm := newTelemetry(t, otelerrkit.Config{})
	e := echo.New()
	e.Logger.SetOutput(io.Discard)
	e.Use(otelecho.Middleware("errkit-test", otelecho.WithTracerProvider(tm.tp)))
	require.NoError(t, errkitmw.Install(e, errkitmw.Config{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Events: tm.hook}))
	cause := errors.New("dial postgres://billing:" + secret + "@db")
	e.GET("/internal", func(echo.Context) error { return cause })
	ts := httptest.NewServer(e)
	t.Cleanup(ts.Close)
	s := &server{url: ts.URL, tm: tm}

	_, id := s.get(t, "/internal") // get asserts the response body holds no secret
	require.Eventually(t, func() bool { _, ok := tm.spanWith(id); return ok }, 5*time.Second, time.Millisecond)
	sp, _ := tm.spanWith(id)
	assert.Equal(t, "INTERNAL", attr(sp, otelerrkit.ErrorTypeKey))
	assert.Contains(t, attr(sp, "echo.error"), secret, "otelecho's own attribute holds the cause")
}

// nilIfEmpty returns nil for an empty map, so that "no series yet" and
// "none expected" compare equal.
func nilIfEmpty(m map[string]int64) map[string]int64 {
	if len(m) == 0 {
		return nil
	}
	return m
}
