package idempotency_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/principal"
)

// A POST retried with the same Idempotency-Key replays the stored response;
// the handler runs once. A different body with the same key is refused.
// This is what an adapter does with a Guard; services use the adapter of
// their framework (nethttp.Idempotency, middleware.Idempotency for echo v4).
func Example() {
	g, err := idempotency.New(idempotency.Config{})
	if err != nil {
		panic(err)
	}
	runs := 0
	createOrder := func(w http.ResponseWriter, r *http.Request) error {
		runs++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, err := fmt.Fprintf(w, `{"order":%d}`, runs)
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/orders", func(w http.ResponseWriter, r *http.Request) {
		// The service's authentication records the caller; the key's
		// scope is its API key ID.
		r = principal.Set(r, principal.Principal{KeyID: "key_1"})
		if err := g.Serve(w, r, "/v1/orders", nil, createOrder); err != nil {
			httperror.Default().Write(w, r, err)
		}
	})

	send := func(body string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/orders", strings.NewReader(body))
		req.Header.Set("Idempotency-Key", "order-2026-04-18-001")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code >= 400 {
			err := apierror.Decode(rec.Code, rec.Body.Bytes())
			d, _ := apierror.DetailsAs[apierror.IdempotencyConflictDetails](err)
			fmt.Println(rec.Code, apierror.CodeOf(err), d.OriginalRequestHash, d.CurrentRequestHash)
			return
		}
		fmt.Println(rec.Code, rec.Header().Get("Idempotent-Replayed"), rec.Body.String())
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

// While the first request with a key runs, a retry with the same key is
// refused with CONFLICT and Retry-After, without running the handler.
func ExampleGuard_Serve_inUse() {
	g, err := idempotency.New(idempotency.Config{KeyFunc: func(*http.Request) string { return "key_1" }})
	if err != nil {
		panic(err)
	}
	request := func() *http.Request {
		req := httptest.NewRequest(http.MethodPost, "/v1/orders", strings.NewReader(`{"sku":"a"}`))
		req.Header.Set("Idempotency-Key", "order-7")
		return req
	}
	first := httptest.NewRecorder()
	err = g.Serve(first, request(), "/v1/orders", nil, func(w http.ResponseWriter, r *http.Request) error {
		// The retry arrives while this handler runs.
		retry := httptest.NewRecorder()
		rerr := g.Serve(retry, request(), "/v1/orders", nil, func(http.ResponseWriter, *http.Request) error {
			panic("not reached: the key is in use")
		})
		fmt.Println("retry:", apierror.CodeOf(rerr), "Retry-After:", retry.Header().Get("Retry-After"))
		w.WriteHeader(http.StatusAccepted)
		return nil
	})
	fmt.Println("first:", first.Code, err)
	// Output:
	// retry: CONFLICT Retry-After: 1
	// first: 202 <nil>
}

// Store constructors validate their configuration instead of panicking.
func ExampleNewMemoryStore() {
	if _, err := idempotency.NewMemoryStore(idempotency.MemoryConfig{MaxEntries: -1}); err != nil {
		fmt.Println(err)
	}
	s, _ := idempotency.NewMemoryStore(idempotency.MemoryConfig{MaxEntries: 10_000})
	g, err := idempotency.New(idempotency.Config{Store: s})
	fmt.Println(g != nil, err)
	// Output:
	// idempotency: MemoryConfig.MaxEntries -1 is negative
	// true <nil>
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
