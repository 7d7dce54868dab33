package middleware_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

	"github.com/layershq/errkit/apierror"
	errkitmw "github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/requestid"
)

// exampleLogger is a text logger on stdout without the time, with the
// request ID reduced to whether it is well formed and the latency hidden,
// so that the examples' output is deterministic.
func exampleLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey:
				return slog.Attr{}
			case "requestId":
				return slog.Bool("requestIdValid", requestid.Valid(a.Value.String()))
			case "latency":
				return slog.String("latency", "<latency>")
			}
			return a
		},
	}))
}

// Install wires request IDs, recovery and the error handler; handlers just
// return errors. errkit's package is imported as errkitmw, because echo's
// own middleware package has the same name.
func ExampleInstall() {
	e := echo.New()
	if err := errkitmw.Install(e, errkitmw.Config{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		panic(err)
	}
	e.Use(echomw.Secure()) // echo's own middleware, beside errkit's
	e.GET("/projects/:id", func(c echo.Context) error {
		errkitmw.LoggerFrom(c).Info("looking up project") // carries requestId
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
		id := rec.Header().Get(errkitmw.HeaderRequestID)
		fmt.Println(rec.Code, env.Error.Code, string(env.Error.Details),
			"Retry-After:", rec.Header().Get("Retry-After"),
			"id ok:", requestid.Valid(id) && id == env.Error.RequestID)
	}
	// Output:
	// 404 NOT_FOUND  Retry-After:  id ok: true
	// 429 RATE_LIMITED {"retryAfterMs":1500} Retry-After: 2 id ok: true
	// 404 NOT_FOUND  Retry-After:  id ok: true
}

// A handler's log lines carry the request ID a customer quotes.
func ExampleLoggerFrom() {
	e := echo.New()
	e.Use(errkitmw.RequestIDWithConfig(errkitmw.RequestIDConfig{Logger: exampleLogger()}))
	e.GET("/", func(c echo.Context) error {
		errkitmw.LoggerFrom(c).Info("charging card", slog.Int("cents", 250))
		id := errkitmw.RequestIDFrom(c)
		fmt.Println(len(id), id[:4], id == c.Response().Header().Get(errkitmw.HeaderRequestID))
		return c.NoContent(http.StatusNoContent)
	})
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	// Output:
	// level=INFO msg="charging card" requestIdValid=true cents=250
	// 30 req_ true
}

// With an access log, every request has one line with the route template,
// the final status and, for errors, the code.
func ExampleAccessLog() {
	e := echo.New()
	err := errkitmw.Install(e, errkitmw.Config{Logger: exampleLogger(), AccessLog: &errkitmw.AccessLogConfig{}})
	if err != nil {
		panic(err)
	}
	e.GET("/items/:id", func(c echo.Context) error {
		if c.Param("id") == "i_gone" {
			return apierror.NotFound() // logged at debug: below this logger's level
		}
		return c.String(http.StatusOK, "ok")
	})
	for _, target := range []string{"/items/i_1", "/items/i_gone"} {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, target, nil))
	}
	// Output:
	// level=INFO msg=request requestIdValid=true method=GET route=/items/:id status=200 latency=<latency>
	// level=INFO msg=request requestIdValid=true method=GET route=/items/:id status=404 latency=<latency> code=NOT_FOUND
}

// keyStore stands in for the service's API key store: secret key to
// principal.
var keyStore = map[string]principal.Principal{
	"lp_secret_1": {KeyID: "key_1", OrganizationID: "org_1", Scopes: []string{"content:read"}},
}

// authByKey is a service's authentication middleware for echo: it verifies
// the bearer key and records the caller with SetPrincipal, where errkit's
// rate limiter, kill switch and idempotency middleware find it.
func authByKey(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		secret, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		p, found := keyStore[secret]
		if !ok || !found {
			return apierror.Unauthenticated()
		}
		errkitmw.SetPrincipal(c, p)
		return next(c)
	}
}

func ExampleSetPrincipal() {
	e := echo.New()
	if err := errkitmw.Install(e, errkitmw.Config{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		panic(err)
	}
	e.GET("/v1/whoami", func(c echo.Context) error {
		p, _ := errkitmw.PrincipalFrom(c)
		// Code that only has the request's context finds it too.
		org := principal.OrganizationID(c.Request())
		return c.String(http.StatusOK, fmt.Sprintf("key=%s org=%s read=%t\n", p.KeyID, org, p.HasScope("content:read")))
	}, authByKey)

	for _, authz := range []string{"Bearer lp_secret_1", "Bearer lp_wrong"} {
		req := httptest.NewRequest(http.MethodGet, "/v1/whoami", nil)
		req.Header.Set(echo.HeaderAuthorization, authz)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		var env apierror.Envelope
		if json.Unmarshal(rec.Body.Bytes(), &env) == nil {
			fmt.Println(rec.Code, env.Error.Code)
			continue
		}
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// 200 key=key_1 org=org_1 read=true
	// 401 UNAUTHENTICATED
}
