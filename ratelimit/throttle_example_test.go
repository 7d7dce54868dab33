package ratelimit_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/layershq/errkit/bearer"
	"github.com/layershq/errkit/clientip"
	"github.com/layershq/errkit/nethttp"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/ratelimit"
)

// A Throttle around authentication, in net/http middleware: Check before
// the key lookup, Fail after a failed one, Done after a successful one
// (without it the attempt ends with the request). A client that spends its
// failure budget (here 3) is answered 429 with Retry-After for every
// request, its right key included, until the budget refills; requests
// that never fail are never counted.
func ExampleThrottle() {
	var now time.Duration // a fake clock keeps the example deterministic
	clock := func() time.Duration { return now }
	store, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Clock: clock}) // or a redisstore.Store, for a fleet
	if err != nil {
		panic(err)
	}
	defer store.Close()
	ips, err := clientip.New(clientip.Config{}) // TrustedProxies: your load balancers
	if err != nil {
		panic(err)
	}
	throttle, err := ratelimit.NewThrottle(ratelimit.ThrottleConfig{
		Store:   store,
		KeyFunc: ips.Key,
		Rate:    ratelimit.Rate{PerSecond: 0.1, Burst: 3},
		Now:     func() time.Time { return time.Unix(0, 0).Add(clock()) },
	})
	if err != nil {
		panic(err)
	}

	right := sha256.Sum256([]byte("sk_live_right"))
	lookup := func(_ context.Context, token string) (principal.Principal, bool, error) {
		return principal.Principal{KeyID: "key_1"}, sha256.Sum256([]byte(token)) == right, nil
	}
	authenticate := func(next http.Handler) http.Handler {
		return nethttp.Handler(func(w http.ResponseWriter, r *http.Request) error {
			if err := throttle.Check(w.Header(), r); err != nil {
				return err // blocked: 429 before any lookup
			}
			r, err := bearer.Authenticate(r, lookup)
			if err != nil {
				if terr := throttle.Fail(w.Header(), r); terr != nil {
					return terr // the budget is spent: 429, not 401
				}
				return err // 401
			}
			throttle.Done(r) // authenticated: no longer an attempt in flight
			next.ServeHTTP(w, r)
			return nil
		})
	}
	h := authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello ", principal.KeyID(r))
	}))

	for _, key := range []string{"sk_live_right", "guess1", "guess2", "guess3", "guess4", "sk_live_right"} {
		r := httptest.NewRequest(http.MethodGet, "/v1/projects", nil)
		r.RemoteAddr = "203.0.113.9:40000"
		r.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fmt.Printf("%s %d Retry-After=%q\n", key, rec.Code, rec.Header().Get("Retry-After"))
	}
	now += 10 * time.Second // one failure's worth of budget refills
	r := httptest.NewRequest(http.MethodGet, "/v1/projects", nil)
	r.RemoteAddr = "203.0.113.9:40000"
	r.Header.Set("Authorization", "Bearer sk_live_right")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	fmt.Println("after 10s:", rec.Code, rec.Body.String())
	// Output:
	// sk_live_right 200 Retry-After=""
	// guess1 401 Retry-After=""
	// guess2 401 Retry-After=""
	// guess3 401 Retry-After=""
	// guess4 429 Retry-After="10"
	// sk_live_right 429 Retry-After="10"
	// after 10s: 200 hello key_1
}
