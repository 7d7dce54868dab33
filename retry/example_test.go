package retry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/retry"
)

// serve answers the n-th request (from 0) with handlers[n], the last one
// repeating, rendering errors as errkit's middleware does.
func serve(handlers ...func(w http.ResponseWriter) error) *httptest.Server {
	var n atomic.Int32
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		id := fmt.Sprintf("req_%d", i+1)
		w.Header().Set("X-Request-Id", id)
		if err := handlers[min(i, len(handlers)-1)](w); err != nil {
			e := apierror.From(err)
			if d, ok := e.RetryAfter(); ok {
				w.Header().Set("Retry-After", fmt.Sprint(apierror.RetryAfterSeconds(d)))
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(e.Status())
			_, _ = w.Write(e.Render(id))
		}
	}))
}

func okBody(body string) func(http.ResponseWriter) error {
	return func(w http.ResponseWriter) error { _, err := io.WriteString(w, body); return err }
}

// A rate-limited request is resent after exactly details.retryAfterMs, with
// the same Idempotency-Key, and the success comes back.
func ExampleClient_Do() {
	srv := serve(
		func(http.ResponseWriter) error { return apierror.RateLimited(5 * time.Millisecond) },
		okBody(`{"containerId":"cnt_1"}`),
	)
	defer srv.Close()

	c := &retry.Client{Transport: &retry.Transport{
		OnAttempt: func(a retry.Attempt) {
			fmt.Printf("attempt %d: %s %v (%s)\n", a.N, a.Decision, a.Wait, a.Reason)
		},
	}}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/projects/p1/content", strings.NewReader(`{"hook":"h"}`))
	resp, err := c.Do(context.Background(), req)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// attempt 1: retry 5ms (RATE_LIMITED: honour details.retryAfterMs exactly)
	// attempt 2: done 0s (success)
	// 200 {"containerId":"cnt_1"}
}

// An error the guidance says not to retry comes back at once, decoded, with
// its requestId and the attempt count.
func ExampleClient_Do_error() {
	srv := serve(func(http.ResponseWriter) error {
		return apierror.PlatformError("tiktok", "video_duration_exceeds_limit", "Video duration exceeds the max for this account.", 0)
	})
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/jobs/j1", nil)
	_, err := (&retry.Client{}).Do(context.Background(), req)

	fmt.Println(apierror.CodeOf(err), "after", retry.AttemptsOf(err), "attempt(s)")
	if e, ok := apierror.As(err); ok {
		fmt.Println("requestId:", e.RequestID())
	}
	if d, ok := apierror.DetailsAs[apierror.PlatformErrorDetails](err); ok {
		fmt.Println("platformCode:", d.PlatformCode)
	}
	// Output:
	// PLATFORM_ERROR after 1 attempt(s)
	// requestId: req_1
	// platformCode: video_duration_exceeds_limit
}

// Under a plain http.Client the Transport retries transparently and returns
// the final response as is: here a proxy's HTML 503 is retried with backoff.
func ExampleTransport() {
	srv := httptest.NewServer(http.HandlerFunc(func() http.HandlerFunc {
		var n atomic.Int32
		return func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, "<html>Service Unavailable</html>")
				return
			}
			_, _ = io.WriteString(w, "fine")
		}
	}()))
	defer srv.Close()

	hc := &http.Client{Transport: &retry.Transport{Policy: retry.Policy{BaseDelay: time.Millisecond}}}
	resp, err := hc.Get(srv.URL)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// 200 fine
}

// A server asking for a wait longer than Policy.MaxWait is not waited for:
// the error comes back at once instead of parking the goroutine for 3 days.
func ExamplePolicy_maxWait() {
	srv := serve(func(http.ResponseWriter) error { return apierror.RateLimited(72 * time.Hour) })
	defer srv.Close()

	c := &retry.Client{Transport: &retry.Transport{Policy: retry.Policy{MaxWait: time.Minute}}}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	start := time.Now()
	_, err := c.Do(context.Background(), req)
	fmt.Println(apierror.CodeOf(err), retry.AttemptsOf(err), time.Since(start) < time.Minute)
	// Output:
	// RATE_LIMITED 1 true
}
