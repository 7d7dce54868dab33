package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/ratelimit"
)

// A memory store answers decisions: two requests fit in a burst of two, the
// third is told when to come back.
func ExampleNewMemoryStore() {
	var now time.Duration // a fake clock keeps the example deterministic
	store, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Clock: func() time.Duration { return now }})
	if err != nil {
		panic(err)
	}
	defer store.Close()

	read := ratelimit.Class{Name: "read", Rate: ratelimit.Rate{PerSecond: 1, Burst: 2}}
	for range 3 {
		d, err := store.Allow(context.Background(), "key_123", read, 1)
		if err != nil {
			panic(err) // a store failure, never a denial
		}
		fmt.Printf("allowed=%v remaining=%d retryAfter=%v\n", d.Allowed, d.Remaining, d.RetryAfter)
	}
	now += time.Second
	d, _ := store.Allow(context.Background(), "key_123", read, 1)
	fmt.Printf("after 1s: allowed=%v\n", d.Allowed)
	// Output:
	// allowed=true remaining=1 retryAfter=0s
	// allowed=true remaining=0 retryAfter=0s
	// allowed=false remaining=0 retryAfter=1s
	// after 1s: allowed=true
}

// The middleware goes after authentication (which records the key ID with
// principal.Set) and answers RATE_LIMITED through the errkit error handler.
func ExampleRateLimitWithConfig() {
	store, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
	if err != nil {
		panic(err)
	}
	defer store.Close()

	e := echo.New()
	if err := middleware.Install(e, middleware.Config{Logger: zap.NewNop()}); err != nil {
		panic(err)
	}
	auth := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			principal.Set(c, principal.Principal{KeyID: "key_123"}) // your API key check
			return next(c)
		}
	}
	e.Use(auth, ratelimit.RateLimitWithConfig(ratelimit.RateLimitConfig{
		Store: store,
		Classes: map[string]ratelimit.Rate{
			ratelimit.ClassRead:  {PerSecond: 10, Burst: 1},
			ratelimit.ClassWrite: {PerSecond: 1, Burst: 1},
			"upload":             {PerSecond: 0.2, Burst: 1},
		},
		Routes: map[string]string{"POST /v1/uploads": "upload", "/health": ""},
	}))
	e.GET("/v1/things/:id", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })

	for range 2 {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/things/1", nil))
		fmt.Printf("%d %s %s retry-after=%q\n", rec.Code,
			rec.Header().Get("RateLimit-Policy"), rec.Header().Get("RateLimit"), rec.Header().Get("Retry-After"))
	}
	// Output:
	// 200 "read";q=1;w=1 "read";r=0;t=1 retry-after=""
	// 429 "read";q=1;w=1 "read";r=0;t=1 retry-after="1"
}

// A fleet shares buckets through Redis; the client must honour context
// deadlines so the per-call timeout holds.
func ExampleNewRedisStore() {
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 []string{"127.0.0.1:6379"},
		ContextTimeoutEnabled: true,
	})
	defer client.Close()
	store, err := ratelimit.NewRedisStore(client, ratelimit.RedisConfig{Timeout: 50 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	_ = ratelimit.RateLimitWithConfig(ratelimit.RateLimitConfig{Store: store, FailClosed: false})
}
