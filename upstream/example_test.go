package upstream_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/upstream"
)

// A Client turns TikTok's rate-limit answer into PLATFORM_ERROR with the
// platform's code, message and retry window.
func ExampleClient() {
	tiktok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"data":{},"error":{"code":"rate_limit_exceeded","message":"The API rate limit was exceeded. Please try again later.","log_id":"20260418140000"}}`)
	}))
	defer tiktok.Close()

	breaker, err := upstream.NewBreaker(upstream.BreakerConfig{Failures: 5, Cooldown: 30 * time.Second})
	if err != nil {
		panic(err)
	}
	defer breaker.Close()
	client, err := upstream.NewClient(upstream.ClientConfig{
		Platform: apierror.PlatformTikTok,
		Resource: "tiktok-publish",
		Breaker:  breaker,
	})
	if err != nil {
		panic(err)
	}

	req, err := http.NewRequest(http.MethodPost, tiktok.URL+"/v2/post/publish/video/init/", strings.NewReader(`{}`))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "Bearer act.example")
	_, err = client.Do(req) // a handler returns err: the error writer renders it
	e := apierror.From(err)
	fmt.Println(e.Code(), e.Status())
	fmt.Println(string(e.RawDetails()))
	// Output:
	// PLATFORM_ERROR 502
	// {"platform":"tiktok","platformCode":"rate_limit_exceeded","platformMessage":"The API rate limit was exceeded. Please try again later.","retryAfterMs":2000}
}

// manualClock is a Clock an example moves by hand.
type manualClock struct{ now time.Time }

func (c *manualClock) Now() time.Time { return c.now }

// A circuit opens after two failures, refuses with the time left, and
// closes after a good probe.
func ExampleBreaker() {
	clock := &manualClock{now: time.Date(2026, 4, 18, 14, 0, 0, 0, time.UTC)}
	breaker, err := upstream.NewBreaker(upstream.BreakerConfig{
		Failures: 2,
		Cooldown: 30 * time.Second,
		Clock:    clock,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	defer breaker.Close()
	circuit, err := breaker.Circuit(apierror.PlatformAppStore, "appstore-scrape")
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		p, _ := circuit.Allow(ctx)
		p.Done(upstream.Failed)
	}
	_, err = circuit.Allow(ctx)
	fmt.Println(string(apierror.From(err).Render("req_1")))

	clock.now = clock.now.Add(12 * time.Second)
	_, err = circuit.Allow(ctx)
	d, _ := apierror.DetailsAs[apierror.CircuitOpenDetails](err)
	fmt.Println("retryAfterSeconds:", d.RetryAfterSeconds)

	clock.now = clock.now.Add(18 * time.Second)
	probe, err := circuit.Allow(ctx)
	fmt.Println("probe:", err == nil && probe.Probe())
	probe.Done(upstream.Succeeded)
	fmt.Println(circuit.State())
	// Output:
	// {"error":{"code":"CIRCUIT_OPEN","message":"A circuit breaker on a platform integration is open.","requestId":"req_1","details":{"resource":"appstore-scrape","retryAfterSeconds":30}}}
	// retryAfterSeconds: 18
	// probe: true
	// closed
}

// A Fetcher refuses cloud metadata and expired signed URLs before it
// connects anywhere; the message never shows the query string.
func ExampleFetcher() {
	f, err := upstream.NewFetcher(upstream.FetcherConfig{MaxBytes: 50 << 20})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for _, u := range []string{
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"http://2130706433/admin?token=abc",
		"https://media.s3.amazonaws.com/app-preview.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20200101T000000Z&X-Amz-Expires=900&X-Amz-Signature=abc",
	} {
		_, err := f.Fetch(ctx, u)
		e := apierror.From(err)
		fmt.Println(e.Code(), e.Message())
	}
	// Output:
	// SCRAPE_FAILED Fetching http://169.254.169.254/latest/meta-data/iam/security-credentials/ was refused: it does not point to a public internet address.
	// SCRAPE_FAILED Fetching http://2130706433/admin was refused: it does not point to a public internet address.
	// SCRAPE_FAILED Fetching https://media.s3.amazonaws.com/app-preview.mp4 failed: its signature has expired. Sign URLs for at least 15 minutes.
}

// Tests fetch from httptest servers with the loopback opt-in.
func ExampleFetcherConfig_allowLoopback() {
	media := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = io.WriteString(w, "\x89PNG")
	}))
	defer media.Close()
	f, err := upstream.NewFetcher(upstream.FetcherConfig{AllowLoopback: true, MaxBytes: 1 << 20})
	if err != nil {
		panic(err)
	}
	m, err := f.Fetch(context.Background(), media.URL+"/icon.png")
	if err != nil {
		panic(err)
	}
	fmt.Println(m.ContentType, len(m.Data))
	// Output:
	// image/png 4
}

func ExampleRedactURL() {
	fmt.Println(upstream.RedactURL("https://uploader:pw@cdn.example.com/media/a.mp4?X-Amz-Signature=abc#t=1"))
	// Output:
	// https://cdn.example.com/media/a.mp4
}
