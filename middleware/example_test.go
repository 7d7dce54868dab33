package middleware_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/middleware"
)

// Install wires request IDs, recovery and the error handler; handlers just
// return errors.
func ExampleInstall() {
	e := echo.New()
	if err := middleware.Install(e, middleware.Config{Logger: zap.NewNop()}); err != nil {
		panic(err)
	}
	e.GET("/projects/:id", func(c echo.Context) error {
		middleware.LoggerFrom(c).Info("looking up project") // carries requestId
		if c.Param("id") == "p_busy" {
			return apierror.RateLimited(1500 * time.Millisecond)
		}
		return apierror.NotFound()
	})

	for _, target := range []string{"/projects/p_1", "/projects/p_busy", "/nowhere"} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		var env apierror.Envelope
		_ = json.Unmarshal(rec.Body.Bytes(), &env)
		id := rec.Header().Get(middleware.HeaderRequestID)
		fmt.Println(rec.Code, env.Error.Code, string(env.Error.Details),
			"Retry-After:", rec.Header().Get("Retry-After"),
			"id ok:", middleware.ValidRequestID(id) && id == env.Error.RequestID)
	}
	// Output:
	// 404 NOT_FOUND  Retry-After:  id ok: true
	// 429 RATE_LIMITED {"retryAfterMs":1500} Retry-After: 2 id ok: true
	// 404 NOT_FOUND  Retry-After:  id ok: true
}

// A handler's log lines carry the request ID a customer quotes.
func ExampleLoggerFrom() {
	e := echo.New()
	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{Logger: zap.NewExample()}))
	e.GET("/", func(c echo.Context) error {
		id := middleware.RequestIDFrom(c)
		fmt.Println(len(id), id[:4])
		return c.NoContent(http.StatusNoContent)
	})
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	// Output: 30 req_
}
