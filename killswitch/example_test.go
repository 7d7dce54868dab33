package killswitch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/killswitch"
	"github.com/layershq/errkit/principal"
)

// A single-instance service on plain net/http: a MemoryStore, the global
// check before authentication, the key/organization check after it, health
// and operator routes exempt. The guard middleware written out here is what
// nethttp.KillSwitch (and the echo middleware package's KillSwitch) does.
func Example() {
	ctx := context.Background()
	switches, err := killswitch.NewMemoryStore(killswitch.MemoryConfig{})
	if err != nil {
		panic(err)
	}
	skip := killswitch.SkipPaths("/healthz", "/admin/*")
	global, err := killswitch.New(killswitch.Config{Checker: switches, GlobalOnly: true, Skip: skip})
	if err != nil {
		panic(err)
	}
	perCaller, err := killswitch.New(killswitch.Config{Checker: switches, Skip: skip})
	if err != nil {
		panic(err)
	}
	errs, err := httperror.New(httperror.Config{Logger: slog.New(slog.DiscardHandler)}) // the service's error writer
	if err != nil {
		panic(err)
	}
	guard := func(g *killswitch.Guard, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := g.Check(w.Header(), r); err != nil {
				errs.Write(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	auth := func(next http.Handler) http.Handler { // the service's authentication
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, principal.Set(r, principal.Principal{KeyID: "key_1", OrganizationID: "org_1"}))
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "pong") })
	// ... the rate limiter goes after the per-caller guard ...
	srv := httptest.NewServer(guard(global, auth(guard(perCaller, mux))))
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
	_ = switches.On(ctx, killswitch.Switch{Scope: killswitch.ScopeGlobal, Reason: "incident 42", ExpectedDuration: 10 * time.Minute})
	call()
	_ = switches.Off(ctx, killswitch.ScopeGlobal, "")
	call()
	// Output:
	// 200  pong
	// 503  {"error":{"code":"KILL_SWITCH","message":"Your organization's access has been switched off. Contact Layers support.",...
	// 503 600 {"error":{"code":"KILL_SWITCH","message":"The Partner API is temporarily switched off. Retry later.",...
	// 200  pong
}

// Check decides; the caller renders the error it returns.
func ExampleGuard_Check() {
	at := time.Date(2026, 4, 18, 14, 0, 0, 0, time.UTC)
	switches, _ := killswitch.NewSnapshot([]killswitch.Switch{
		{Scope: killswitch.ScopeGlobal, At: at, ExpectedDuration: 90 * time.Second},
	})
	g, err := killswitch.New(killswitch.Config{
		Checker: switches,
		Now:     func() time.Time { return at.Add(30 * time.Second) },
	})
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	err = g.Check(h, httptest.NewRequest(http.MethodGet, "/v1/ping", nil))
	fmt.Println(err)
	fmt.Println("Retry-After:", h.Get("Retry-After"))
	// Output:
	// KILL_SWITCH: The Partner API is temporarily switched off. Retry later.
	// Retry-After: 60
}

// Operators flip switches over HTTP through the Admin handler, mounted
// below a prefix and protected by the service's authorizer.
func ExampleAdmin() {
	switches, _ := killswitch.NewMemoryStore(killswitch.MemoryConfig{})
	admin, err := killswitch.NewAdmin(killswitch.AdminConfig{
		Controller: switches,
		Authorize: func(r *http.Request) (string, error) {
			if r.Header.Get("Authorization") != "Bearer operator-token" {
				return "", errors.New("not an operator")
			}
			return "alice", nil
		},
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/killswitch/", http.StripPrefix("/admin/killswitch", admin))
	srv := httptest.NewServer(mux)
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

	res, err = http.Get(srv.URL + "/admin/killswitch/") // no credentials
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println(res.StatusCode)
	// Output:
	// 200 true key leaked key alice
	// 401
}
