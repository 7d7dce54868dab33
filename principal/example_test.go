package principal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/layershq/errkit/principal"
)

// keys stands in for the service's API key store: secret key to principal.
var keys = map[string]principal.Principal{
	"lp_secret_1": {KeyID: "key_1", OrganizationID: "org_1", Scopes: []string{"content:read"}},
}

// auth is a service's authentication middleware for net/http: it verifies
// the bearer key and hands the request principal.Set returns to the next
// handler. The secret key itself is never stored in the Principal.
func auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		p, found := keys[secret]
		if !ok || !found {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, principal.Set(r, p))
	})
}

func ExampleSet() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/whoami", func(w http.ResponseWriter, r *http.Request) {
		p, ok := principal.From(r)
		if !ok {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "key=%s org=%s read=%t write=%t\n",
			p.KeyID, p.OrganizationID, p.HasScope("content:read"), p.HasScope("content:write"))
	})
	h := auth(mux)

	for _, authz := range []string{"Bearer lp_secret_1", "Bearer lp_wrong"} {
		req := httptest.NewRequest(http.MethodGet, "/v1/whoami", nil)
		req.Header.Set("Authorization", authz)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// 200 key=key_1 org=org_1 read=true write=false
	// 401 unauthenticated
}

// orgOf is code that only has a context.Context (a repository, a job
// enqueuer): it reads the caller with principal.FromContext.
func orgOf(ctx context.Context) string {
	p, ok := principal.FromContext(ctx)
	if !ok {
		return "anonymous"
	}
	return p.OrganizationID
}

func ExampleFromContext() {
	h := auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The principal travels with the request's context, and with any
		// context derived from it.
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		fmt.Fprintln(w, "org="+orgOf(ctx))
	}))

	req := httptest.NewRequest(http.MethodGet, "/v1/content", nil)
	req.Header.Set("Authorization", "Bearer lp_secret_1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Print(rec.Body.String())

	// Without principal.Set there is no caller.
	fmt.Println("org=" + orgOf(context.Background()))
	// Output:
	// org=org_1
	// org=anonymous
}

// A background job acts for the caller that enqueued it: NewContext puts
// the principal in the job's context.
func ExampleNewContext() {
	ctx := principal.NewContext(context.Background(), keys["lp_secret_1"])
	fmt.Println("org=" + orgOf(ctx))
	// Output: org=org_1
}
