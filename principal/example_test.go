package principal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/layershq/errkit/principal"
)

// keys stands in for the service's API key store: secret key to principal.
var keys = map[string]principal.Principal{
	"lp_secret_1": {KeyID: "key_1", OrganizationID: "org_1", Scopes: []string{"content:read"}},
}

// auth is a service's authentication middleware: it verifies the bearer key
// and records the caller with principal.Set. The secret key itself is never
// stored in the Principal.
func auth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		secret, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		p, found := keys[secret]
		if !ok || !found {
			return c.String(http.StatusUnauthorized, "unauthenticated\n")
		}
		principal.Set(c, p)
		return next(c)
	}
}

func ExampleSet() {
	e := echo.New()
	e.Use(auth)
	e.GET("/v1/whoami", func(c echo.Context) error {
		p, ok := principal.From(c)
		if !ok {
			return c.String(http.StatusUnauthorized, "unauthenticated\n")
		}
		return c.String(http.StatusOK, fmt.Sprintf("key=%s org=%s read=%t write=%t\n",
			p.KeyID, p.OrganizationID, p.HasScope("content:read"), p.HasScope("content:write")))
	})

	for _, authz := range []string{"Bearer lp_secret_1", "Bearer lp_wrong"} {
		req := httptest.NewRequest(http.MethodGet, "/v1/whoami", nil)
		req.Header.Set(echo.HeaderAuthorization, authz)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
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
	e := echo.New()
	e.Use(auth)
	e.GET("/v1/content", func(c echo.Context) error {
		// The principal travels with the request's context, and with any
		// context derived from it.
		ctx, cancel := context.WithCancel(c.Request().Context())
		defer cancel()
		return c.String(http.StatusOK, "org="+orgOf(ctx)+"\n")
	})

	req := httptest.NewRequest(http.MethodGet, "/v1/content", nil)
	req.Header.Set(echo.HeaderAuthorization, "Bearer lp_secret_1")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	fmt.Print(rec.Body.String())

	// Without principal.Set there is no caller.
	fmt.Println("org=" + orgOf(context.Background()))
	// Output:
	// org=org_1
	// org=anonymous
}
