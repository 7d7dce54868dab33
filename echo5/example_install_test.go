package echo5_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/echo5"
)

// getProject is an echo v5 handler: it returns errors, and errkit's error
// handler renders them as the contract's envelope.
func getProject(c *echo.Context) error {
	echo5.LoggerFrom(c).Info("looking up project") // the line carries requestId
	switch c.Param("id") {
	case "p_1":
		return c.JSON(http.StatusOK, map[string]string{"id": "p_1"})
	case "p_busy":
		return apierror.RateLimited(1500 * time.Millisecond)
	}
	return apierror.NotFound()
}

// Install wires request IDs, recovery and the error handler into echo v5;
// handlers return errors. errkit's package echo5 needs no import alias
// beside echo's own middleware package.
func ExampleInstall() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil)) // the service's logger
	e := echo.New()
	if err := echo5.Install(e, echo5.Config{Logger: logger}); err != nil {
		panic(err)
	}
	e.Use(middleware.Secure()) // echo's own middleware, beside errkit's
	e.GET("/projects/:id", getProject)

	for _, r := range []struct{ method, target string }{
		{http.MethodGet, "/projects/p_1"},
		{http.MethodGet, "/projects/p_2"},
		{http.MethodGet, "/projects/p_busy"},
		{http.MethodDelete, "/projects/p_1"},
	} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(r.method, r.target, nil))
		id := rec.Header().Get(echo5.HeaderRequestID)
		fmt.Println(rec.Code, "Retry-After:"+rec.Header().Get("Retry-After"), "Allow:"+rec.Header().Get("Allow"))
		fmt.Println(strings.TrimSpace(strings.ReplaceAll(rec.Body.String(), id, "<X-Request-Id>")))
	}
	// Output:
	// 200 Retry-After: Allow:
	// {"id":"p_1"}
	// 404 Retry-After: Allow:
	// {"error":{"code":"NOT_FOUND","message":"The resource does not exist.","requestId":"<X-Request-Id>"}}
	// 429 Retry-After:2 Allow:
	// {"error":{"code":"RATE_LIMITED","message":"Rate limit exceeded. Retry after the time given in Retry-After.","requestId":"<X-Request-Id>","details":{"retryAfterMs":1500}}}
	// 404 Retry-After: Allow:OPTIONS, GET
	// {"error":{"code":"NOT_FOUND","message":"The resource does not exist.","requestId":"<X-Request-Id>"}}
}
