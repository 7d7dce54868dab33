package clientip_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/layershq/errkit/bearer"
	"github.com/layershq/errkit/clientip"
	"github.com/layershq/errkit/nethttp"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/ratelimit"
)

// A second limiter, keyed by client IP, runs in front of authentication:
// every request that reaches authentication spends a token of its IP, so
// anonymous requests and failed authentication are throttled with
// RATE_LIMITED and Retry-After before any key lookup runs. The per-key
// limiter still runs after authentication. The IP rate must sit above the
// busiest legitimate client behind one address (a partner's NAT).
func ExampleResolver_Key() {
	trusted, _ := clientip.ParsePrefixes("10.0.0.0/8")                 // the load balancers
	ips, err := clientip.New(clientip.Config{TrustedProxies: trusted}) // IPv6 clients keyed by their /64
	if err != nil {
		panic(err)
	}
	perIP, err := ratelimit.New(ratelimit.Config{
		KeyFunc:   ips.Key,
		ClassFunc: func(*http.Request) string { return "ip" },
		Classes:   map[string]ratelimit.Rate{"ip": {PerSecond: 0.01, Burst: 3}}, // a demo rate
	})
	if err != nil {
		panic(err)
	}
	lookup := func(context.Context, string) (principal.Principal, bool, error) {
		return principal.Principal{}, false, nil // every key is wrong
	}
	authenticate := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r, err := bearer.Authenticate(r, lookup)
			if err != nil {
				nethttp.Error(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	h := nethttp.RateLimit(perIP)(authenticate(http.NotFoundHandler()))

	for i := range 5 {
		r := httptest.NewRequest(http.MethodGet, "/v1/projects", nil)
		r.RemoteAddr = "203.0.113.9:40000"                          // a client on the internet, no proxy
		r.Header.Set("X-Forwarded-For", fmt.Sprintf("1.1.1.%d", i)) // spoofed: not read
		r.Header.Set("Authorization", "Bearer guess"+fmt.Sprint(i))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		code := rec.Body.String()[strings.Index(rec.Body.String(), `"code":"`)+8:]
		code = code[:strings.IndexByte(code, '"')]
		fmt.Println(rec.Code, code, rec.Header().Get("Retry-After") != "")
	}
	// Output:
	// 401 UNAUTHENTICATED false
	// 401 UNAUTHENTICATED false
	// 401 UNAUTHENTICATED false
	// 429 RATE_LIMITED true
	// 429 RATE_LIMITED true
}

// Behind a trusted proxy, the client is the rightmost address the proxies
// did not add; whatever the client put in front is skipped.
func ExampleResolver_Addr() {
	trusted, _ := clientip.ParsePrefixes("10.0.0.0/8")
	ips, _ := clientip.New(clientip.Config{TrustedProxies: trusted})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.0.0.2:8080"                                     // the load balancer
	r.Header.Set("X-Forwarded-For", "6.6.6.6, 198.51.100.4, 10.0.0.1") // spoof, client, ingress
	a, _ := ips.Addr(r)
	fmt.Println(a)
	// Output:
	// 198.51.100.4
}
