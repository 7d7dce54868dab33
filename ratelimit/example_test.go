package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

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

// A Limiter is what the errkit adapters (nethttp.RateLimit, and
// middleware.RateLimit for echo) call after authentication has recorded the
// key ID with principal.Set: Limit sets the RateLimit headers on the
// response header and returns the error to answer a denied request with
// (429 RATE_LIMITED, with Retry-After set to match).
func ExampleLimiter_Limit() {
	var now time.Duration // a fake clock keeps the example deterministic
	store, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Clock: func() time.Duration { return now }})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	l, err := ratelimit.New(ratelimit.Config{
		Store: store,
		Classes: map[string]ratelimit.Rate{
			ratelimit.ClassRead:  {PerSecond: 10, Burst: 1},
			ratelimit.ClassWrite: {PerSecond: 1, Burst: 1},
			"upload":             {PerSecond: 0.2, Burst: 1},
		},
		Routes: map[string]string{"POST /v1/uploads": "upload", "/health": ""},
	})
	if err != nil {
		panic(err)
	}

	for range 2 {
		r := httptest.NewRequest(http.MethodGet, "/v1/things/1", nil)
		r = principal.Set(r, principal.Principal{KeyID: "key_123"}) // your API key check
		h := http.Header{}                                          // the response's header
		err := l.Limit(h, r, "/v1/things/{id}")                     // the route template
		fmt.Printf("%s %s retry-after=%q err=%v\n",
			h.Get("RateLimit-Policy"), h.Get("RateLimit"), h.Get("Retry-After"), err)
	}
	// Output:
	// "read";q=1;w=1 "read";r=0;t=1 retry-after="" err=<nil>
	// "read";q=1;w=1 "read";r=0;t=1 retry-after="1" err=RATE_LIMITED: Rate limit exceeded. Retry after the time given in Retry-After.
}
