package killswitch_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/layershq/errkit/killswitch"
	errkitmw "github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/principal"
)

// A single-instance service: Memory source, the global check before
// authentication, the key/organization check after it, health and admin
// routes exempt.
func Example() {
	ctx := context.Background()
	switches := killswitch.NewMemory()

	e := echo.New()
	_ = errkitmw.Install(e, errkitmw.Config{Logger: zap.NewNop()})
	skip := killswitch.SkipPaths("/healthz", "/admin/*")
	global := killswitch.DefaultKillSwitchConfig
	global.Checker, global.Skipper, global.GlobalOnly = switches, skip, true
	e.Use(killswitch.KillSwitchWithConfig(global))
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc { // the service's auth
		return func(c echo.Context) error {
			principal.Set(c, principal.Principal{KeyID: "key_1", OrganizationID: "org_1"})
			return next(c)
		}
	})
	perCaller := killswitch.DefaultKillSwitchConfig
	perCaller.Checker, perCaller.Skipper = switches, skip
	e.Use(killswitch.KillSwitchWithConfig(perCaller))
	// ... the rate limiter goes here ...
	e.GET("/v1/ping", func(c echo.Context) error { return c.String(http.StatusOK, "pong") })

	srv := httptest.NewServer(e)
	defer srv.Close()
	call := func() {
		res, err := http.Get(srv.URL + "/v1/ping")
		if err != nil {
			panic(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		body := string(b)
		if i := strings.Index(body, `"requestId"`); i >= 0 { // varies per request
			body = body[:i] + "..."
		}
		fmt.Println(res.StatusCode, res.Header.Get("Retry-After"), body)
	}

	call()
	_ = switches.On(ctx, killswitch.Switch{Scope: killswitch.ScopeOrganization, ID: "org_1", Reason: "unpaid invoices", By: "ops"})
	call()
	_ = switches.Off(ctx, killswitch.ScopeOrganization, "org_1")
	call()
	// Output:
	// 200  pong
	// 503  {"error":{"code":"KILL_SWITCH","message":"Your organization's access has been switched off. Contact Layers support.",...
	// 200  pong
}

// Operators flip switches over HTTP through a group the service mounts and
// protects.
func ExampleRegisterAdmin() {
	switches := killswitch.NewMemory()
	e := echo.New()
	_ = errkitmw.Install(e, errkitmw.Config{Logger: zap.NewNop()})
	err := killswitch.RegisterAdmin(e.Group("/admin/killswitch"), switches, func(c echo.Context) (string, error) {
		if c.Request().Header.Get("Authorization") != "Bearer operator-token" {
			return "", fmt.Errorf("not an operator")
		}
		return "alice", nil
	})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(e)
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/admin/killswitch/key/key_9", strings.NewReader(`{"reason":"leaked key"}`))
	req.Header.Set("Authorization", "Bearer operator-token")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	sw, on := switches.Check("key_9", "org_1")
	fmt.Println(res.StatusCode, on, sw.Scope, sw.Reason, sw.By)
	// Output:
	// 200 true key leaked key alice
}

// A fleet shares its switches through Redis. (Compiled, not run: it needs
// a Redis server.)
func ExampleNewRedis() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	client := redis.NewClient(&redis.Options{Addr: "redis:6379"})
	src, err := killswitch.NewRedis(ctx, killswitch.RedisConfig{
		Client:  client,
		Prefix:  "partner-api:killswitch:",
		Startup: killswitch.StartOpen, // the default; StartClosed refuses everything until loaded
	})
	if err != nil {
		panic(err) // configuration mistakes only; an unreachable Redis is not an error
	}
	defer src.Close()

	e := echo.New()
	e.Use(killswitch.KillSwitch(src))
	e.GET("/readyz", func(c echo.Context) error {
		if src.Stale() { // report, do not fail: the last known state is still enforced
			return c.String(http.StatusOK, "kill switches stale since "+src.LastSync().String())
		}
		return c.String(http.StatusOK, "ok")
	})
	// An operator flips the organization off on one instance; every
	// instance enforces it within a pub/sub round trip.
	_ = src.On(ctx, killswitch.Switch{Scope: killswitch.ScopeOrganization, ID: "org_1", Reason: "fraud", By: "alice"})
}
