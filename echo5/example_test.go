package echo5_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/echo5"
	"github.com/layershq/errkit/killswitch"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/ratelimit"
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

// A handler's log lines carry the request ID a customer quotes.
func ExampleLoggerFrom() {
	e := echo.New()
	e.Use(echo5.RequestIDWithConfig(echo5.RequestIDConfig{Logger: exampleLogger()}))
	e.GET("/", func(c *echo.Context) error {
		echo5.LoggerFrom(c).Info("charging card", slog.Int("cents", 250))
		id := echo5.RequestIDFrom(c)
		fmt.Println(len(id), id[:4], id == c.Response().Header().Get(echo5.HeaderRequestID))
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
	err := echo5.Install(e, echo5.Config{Logger: exampleLogger(), AccessLog: &echo5.AccessLogConfig{}})
	if err != nil {
		panic(err)
	}
	e.GET("/items/:id", func(c *echo.Context) error {
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
	"lp_secret_2": {KeyID: "key_2", OrganizationID: "org_2"},
}

// authByKey is a service's authentication middleware for echo v5: it
// verifies the bearer key and records the caller with SetPrincipal, where
// errkit's rate limiter, kill switch and idempotency middleware find it.
func authByKey(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		secret, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		p, found := keyStore[secret]
		if !ok || !found {
			return apierror.Unauthenticated()
		}
		echo5.SetPrincipal(c, p)
		return next(c)
	}
}

// get serves a GET of target with the bearer secret and prints the status
// and either the error code or the body.
func get(e *echo.Echo, target, secret string, headers ...string) {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set(echo.HeaderAuthorization, "Bearer "+secret)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	var env apierror.Envelope
	out := strings.TrimSpace(rec.Body.String())
	if json.Unmarshal(rec.Body.Bytes(), &env) == nil && env.Error.Code != "" {
		out = string(env.Error.Code)
	}
	for _, h := range headers {
		out += " " + h + "=" + rec.Header().Get(h)
	}
	fmt.Println(rec.Code, out)
}

func ExampleSetPrincipal() {
	e := echo.New()
	if err := echo5.Install(e, echo5.Config{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		panic(err)
	}
	e.GET("/v1/whoami", func(c *echo.Context) error {
		p, _ := echo5.PrincipalFrom(c)
		// Code that only has the request's context finds it too.
		org := principal.OrganizationID(c.Request())
		return c.String(http.StatusOK, fmt.Sprintf("key=%s org=%s read=%t", p.KeyID, org, p.HasScope("content:read")))
	}, authByKey)

	get(e, "/v1/whoami", "lp_secret_1")
	get(e, "/v1/whoami", "lp_wrong")
	// Output:
	// 200 key=key_1 org=org_1 read=true
	// 401 UNAUTHENTICATED
}

// The rate limiter runs after authentication, per API key and route class;
// a denied request is RATE_LIMITED with Retry-After and the RateLimit
// headers.
func ExampleRateLimit() {
	store, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{
		SweepInterval: -1,                                          // no background goroutine
		Clock:         func() time.Duration { return time.Minute }, // time stands still here
	})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	limiter, err := ratelimit.New(ratelimit.Config{
		Store:   store,
		Classes: map[string]ratelimit.Rate{ratelimit.ClassRead: {PerSecond: 0.5, Burst: 1}, ratelimit.ClassWrite: {PerSecond: 1, Burst: 1}},
	})
	if err != nil {
		panic(err)
	}
	e := echo.New()
	if err := echo5.Install(e, echo5.Config{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		panic(err)
	}
	e.GET("/v1/content", func(c *echo.Context) error { return c.String(http.StatusOK, "content") },
		authByKey, echo5.RateLimit(limiter))

	get(e, "/v1/content", "lp_secret_1", "RateLimit")
	get(e, "/v1/content", "lp_secret_1", "RateLimit", "Retry-After")
	get(e, "/v1/content", "lp_secret_2", "RateLimit")
	// Output:
	// 200 content RateLimit="read";r=0;t=2
	// 429 RATE_LIMITED RateLimit="read";r=0;t=2 Retry-After=2
	// 200 content RateLimit="read";r=0;t=2
}

// The kill switches: a guard checks every request after authentication,
// and the operator API on a group flips them (here with the store directly).
func ExampleRegisterAdmin() {
	switches, err := killswitch.NewMemoryStore(killswitch.MemoryConfig{})
	if err != nil {
		panic(err)
	}
	guard, err := killswitch.New(killswitch.Config{Checker: switches})
	if err != nil {
		panic(err)
	}
	admin, err := killswitch.NewAdmin(killswitch.AdminConfig{
		Controller: switches,
		Authorize: func(r *http.Request) (string, error) {
			if r.Header.Get(echo.HeaderAuthorization) != "Bearer op_secret" {
				return "", errors.New("not an operator")
			}
			return "alice", nil
		},
	})
	if err != nil {
		panic(err)
	}
	e := echo.New()
	if err := echo5.Install(e, echo5.Config{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		panic(err)
	}
	e.GET("/v1/content", func(c *echo.Context) error { return c.String(http.StatusOK, "content") },
		authByKey, echo5.KillSwitch(guard))
	if err := echo5.RegisterAdmin(e.Group("/admin/killswitch"), admin); err != nil {
		panic(err)
	}

	get(e, "/v1/content", "lp_secret_1")
	if err := switches.On(context.Background(), killswitch.Switch{Scope: killswitch.ScopeKey, ID: "key_1", Reason: "leaked"}); err != nil {
		panic(err)
	}
	get(e, "/v1/content", "lp_secret_1")
	get(e, "/v1/content", "lp_secret_2")
	get(e, "/admin/killswitch", "lp_secret_1") // not an operator
	// Output:
	// 200 content
	// 503 KILL_SWITCH
	// 200 content
	// 401 UNAUTHENTICATED
}
