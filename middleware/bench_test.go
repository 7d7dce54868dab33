package middleware

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/requestid"
)

// benchWriter is a ResponseWriter that discards the body and reuses its
// header map, so the benchmarks measure echo and the middleware rather than
// the recorder.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) WriteHeader(s int)           { w.status = s }

// benchLogger is a production-style slog JSON logger at info level writing
// to io.Discard: logging is paid for, as in production.
func benchLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// benchIssues is the VALIDATION error of the error-path benchmarks.
func benchIssues() []apierror.Issue {
	return []apierror.Issue{
		{Path: "name", Message: "is required."},
		{Path: "items[0].quantity", Message: "must be positive."},
		{Path: "email", Message: "is not an email address."},
	}
}

// benchServers builds the three setups of the issue: (a) bare echo, (b)
// echo's Recover + RequestID with the default error handler, (c) errkit's
// Install. Each has the routes /ok (200), /validation (3 issues: for (a)
// and (b) the same envelope built with echo.Map, for (c) apierror),
// /validation-flat (a and b only: a flat echo.Map without requestId) and
// /internal (a plain error).
func benchServers(b *testing.B) map[string]*echo.Echo {
	routes := func(e *echo.Echo, validation, flat echo.HandlerFunc) *echo.Echo {
		e.GET("/ok", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
		e.GET("/validation", validation)
		e.GET("/validation-flat", flat)
		e.GET("/internal", func(c echo.Context) error { return errors.New("pq: connection refused") })
		return e
	}
	// The same envelope as errkit's, written the echo way: an HTTPError
	// whose message is the body, with the request ID echo's RequestID
	// middleware put on the response.
	echoValidation := func(c echo.Context) error {
		issues := make([]echo.Map, 0, 3)
		for _, is := range benchIssues() {
			issues = append(issues, echo.Map{"path": is.Path, "message": is.Message})
		}
		return echo.NewHTTPError(http.StatusUnprocessableEntity, echo.Map{"error": echo.Map{
			"code":      "VALIDATION",
			"message":   "The request failed validation.",
			"requestId": c.Response().Header().Get(echo.HeaderXRequestID),
			"details":   echo.Map{"issues": issues},
		}})
	}
	// The lighter echo way: a flat message, no requestId, no nesting.
	echoValidationFlat := func(c echo.Context) error {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, echo.Map{
			"code": "VALIDATION", "message": "The request failed validation.", "issues": benchIssues(),
		})
	}
	errkitValidation := func(c echo.Context) error { return apierror.Validation(benchIssues()...) }

	bare := echo.New()
	std := echo.New()
	std.Use(echomw.Recover(), echomw.RequestID())
	kit := echo.New()
	if err := Install(kit, Config{Logger: benchLogger()}); err != nil {
		b.Fatal(err)
	}
	return map[string]*echo.Echo{
		"a=bare":   routes(bare, echoValidation, echoValidationFlat),
		"b=echo":   routes(std, echoValidation, echoValidationFlat),
		"c=errkit": routes(kit, errkitValidation, errkitValidation),
	}
}

// BenchmarkServe measures one request through each setup, in parallel, on
// the success path (ok) and the error paths (validation, internal).
func BenchmarkServe(b *testing.B) {
	servers := benchServers(b)
	for _, path := range []string{"ok", "validation", "validation-flat", "internal"} {
		for _, name := range []string{"a=bare", "b=echo", "c=errkit"} {
			if path == "validation-flat" && name == "c=errkit" {
				continue
			}
			e := servers[name]
			b.Run(path+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					req := httptest.NewRequest(http.MethodGet, "/"+path, nil)
					w := &benchWriter{h: make(http.Header, 4)}
					for pb.Next() {
						clear(w.h)
						e.ServeHTTP(w, req)
					}
				})
			})
		}
	}
}

// floorState is the least a middleware can allocate to put a value in the
// request's context.Context: one object that is the context, holds the
// value and the *http.Request copy that carries it (what errkit's request
// state does, without the logger and error fields).
type floorState struct {
	context.Context
	id  [requestid.Len]byte
	req http.Request
}

// BenchmarkServeFloor measures, beside bare echo, what any middleware costs
// on the success path (echo builds its closure per request) and what the
// least request-context stamp costs (one allocation holding the context
// and the request copy, c.SetRequest): the floor under errkit's (c) of
// BenchmarkServe, which does that plus the ID and the header.
func BenchmarkServeFloor(b *testing.B) {
	mk := func(mw echo.MiddlewareFunc) *echo.Echo {
		e := echo.New()
		if mw != nil {
			e.Use(mw)
		}
		e.GET("/ok", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
		return e
	}
	cases := []struct {
		name string
		e    *echo.Echo
	}{
		{"bare", mk(nil)},
		{"noop-middleware", mk(func(next echo.HandlerFunc) echo.HandlerFunc { return func(c echo.Context) error { return next(c) } })},
		{"request-context", mk(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				r := c.Request()
				s := &floorState{Context: r.Context()}
				s.req = *r.WithContext(s)
				c.SetRequest(&s.req)
				return next(c)
			}
		})},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest(http.MethodGet, "/ok", nil)
				w := &benchWriter{h: make(http.Header, 4)}
				for pb.Next() {
					clear(w.h)
					tc.e.ServeHTTP(w, req)
				}
			})
		})
	}
}
