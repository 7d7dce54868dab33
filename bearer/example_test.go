package bearer_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/layershq/errkit/bearer"
	"github.com/layershq/errkit/nethttp"
	"github.com/layershq/errkit/principal"
)

// keys maps the SHA-256 of each API key to its caller, so that the lookup
// compares no secrets and the table holds none.
var keys = map[[32]byte]principal.Principal{
	sha256.Sum256([]byte("sk_test_123")): {KeyID: "key_1", OrganizationID: "org_1"},
}

func lookup(_ context.Context, token string) (principal.Principal, bool, error) {
	p, ok := keys[sha256.Sum256([]byte(token))]
	return p, ok, nil
}

// authenticate is net/http middleware: a refused credential is rendered as
// the envelope and the handler does not run.
func authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, err := bearer.Authenticate(r, lookup)
		if err != nil {
			nethttp.Error(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Authenticate as net/http middleware; echo adapters call it the same way
// with c.Request() and errkitmw.SetPrincipal / echo5.SetPrincipal.
func ExampleAuthenticate() {
	h := authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello", principal.KeyID(r))
	}))
	for _, auth := range [][]string{
		{"Bearer sk_test_123"},
		{"Bearer sk_test_123", "Bearer sk_test_123"},
		{"Bearer sk_test_999"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/v1/projects", nil)
		r.Header["Authorization"] = auth
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fmt.Print(rec.Code, " ")
		if rec.Code == http.StatusOK {
			fmt.Print(rec.Body.String())
		} else {
			fmt.Println(rec.Body.Len() > 0)
		}
	}
	// Output:
	// 200 hello key_1
	// 401 true
	// 401 true
}

// Token alone, for a service that resolves the key itself.
func ExampleToken() {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer a, Bearer b")
	_, err := bearer.Token(r)
	fmt.Println(err)
	// Output:
	// UNAUTHENTICATED: Send exactly one Authorization header with one credential.: bearer: more than one credential
}
