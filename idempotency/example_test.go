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
	// 409 IDEMPOTENCY_CONFLICT sha256:c8358d135317281c8e036ff1a3fb3405ab892de77e35c7dee85c1f8125868d05 sha256:91cfee0e4449da21e6fa177df0868dc214af8c77bbdc42bcc75162a31438298e
	// handler runs: 1
}

// Fingerprint is what IDEMPOTENCY_CONFLICT reports, so a client can check
// which request a key was first used with: the method, the route template,
// the path parameters and the body.
func ExampleFingerprint() {
	const route = "/v1/projects/:projectId/content"
	body := []byte(`{"hook":"a"}`)
	fmt.Println(idempotency.Fingerprint(http.MethodPost, route, []idempotency.Param{{Name: "projectId", Value: "p1"}}, body))
	fmt.Println(idempotency.Fingerprint(http.MethodPost, route, []idempotency.Param{{Name: "projectId", Value: "p2"}}, body))
	fmt.Println(idempotency.Fingerprint(http.MethodPost, "/v1/orders", nil, []byte(`{"sku":"a"}`)))
	// Output:
	// sha256:214ef04c1937ba78ff221b119b11f44797d9a08c052b261a702815e75ade0ee3
	// sha256:0c5876780850889469fe14c82e50ccfa55be3153f4306af4fa11ae283944e76e
	// sha256:c8358d135317281c8e036ff1a3fb3405ab892de77e35c7dee85c1f8125868d05
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
