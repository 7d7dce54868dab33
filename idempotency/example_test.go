package idempotency_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/principal"
)

// A POST retried with the same Idempotency-Key replays the stored response;
// the handler runs once. A different body with the same key is refused.
func Example() {
	e := echo.New()
	if err := middleware.Install(e, middleware.Config{Logger: zap.NewNop()}); err != nil {
		panic(err)
	}
	// The service's authentication middleware records the caller; the key's
	// scope is its API key ID.
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			principal.Set(c, principal.Principal{KeyID: "key_1"})
			return next(c)
		}
	})
	runs := 0
	e.POST("/v1/orders", func(c echo.Context) error {
		runs++
		return c.JSON(http.StatusCreated, map[string]int{"order": runs})
	}, idempotency.Idempotency(idempotency.NewMemoryStore(0)))

	send := func(body string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/orders", strings.NewReader(body))
		req.Header.Set("Idempotency-Key", "order-2026-04-18-001")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code >= 400 {
			err := apierror.Decode(rec.Code, rec.Body.Bytes())
			d, _ := apierror.DetailsAs[apierror.IdempotencyConflictDetails](err)
			fmt.Println(rec.Code, apierror.CodeOf(err), d.OriginalRequestHash, d.CurrentRequestHash)
			return
		}
		fmt.Println(rec.Code, rec.Header().Get("Idempotent-Replayed"), strings.TrimSpace(rec.Body.String()))
	}
	send(`{"sku":"a"}`)
	send(`{"sku":"a"}`)
	send(`{"sku":"b"}`)
	fmt.Println("handler runs:", runs)
	// Output:
	// 201  {"order":1}
	// 201 true {"order":1}
	// 409 IDEMPOTENCY_CONFLICT sha256:f4426b073de4a06b701a1fd0ca3592ef231daf87d45e5782d93f3bd97423946a sha256:63c5c2d6aff3e404fe8635c8de622abc55af611cac39ee341ba9fd3ca0bcdc4c
	// handler runs: 1
}

// Fingerprint is what IDEMPOTENCY_CONFLICT reports, so a client can check
// which request a key was first used with: the method, the route template,
// the path parameters and the body.
func ExampleFingerprint() {
	const route = "/v1/projects/:projectId/content"
	body := []byte(`{"hook":"a"}`)
	fmt.Println(idempotency.Fingerprint(http.MethodPost, route, []idempotency.Param{{Name: "projectId", Value: "p1"}}, "", body))
	fmt.Println(idempotency.Fingerprint(http.MethodPost, route, []idempotency.Param{{Name: "projectId", Value: "p2"}}, "", body))
	fmt.Println(idempotency.Fingerprint(http.MethodPost, "/v1/orders", nil, "", []byte(`{"sku":"a"}`)))
	// Output:
	// sha256:ccba0ffaa90ecc0d355d18e0f26bd9e98e744d6ac1ce158f63c357daf1c9cedc
	// sha256:e7786c441599859efc5c7f4d858806d041ab696ceea0c444a2fb6fafa4af778a
	// sha256:f4426b073de4a06b701a1fd0ca3592ef231daf87d45e5782d93f3bd97423946a
}

// Every instance of a service shares one RedisStore keyspace, so a retry
// that reaches another instance replays too.
func ExampleNewRedisStore() {
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 []string{"localhost:6379"},
		ContextTimeoutEnabled: true, // so that StoreTimeout bounds network I/O
	})
	defer client.Close()

	e := echo.New()
	g := e.Group("/v1", idempotency.IdempotencyWithConfig(idempotency.IdempotencyConfig{
		Store:    idempotency.NewRedisStore(client, "partnerapi:idempotency:"),
		Required: true, // reject POST/PATCH without Idempotency-Key
	}))
	g.POST("/projects/:projectId/content", func(c echo.Context) error {
		return c.JSON(http.StatusCreated, map[string]string{"id": "cnt_1"})
	})
}
