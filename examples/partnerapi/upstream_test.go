package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/upstream"
)

// manualClock is a clock a test moves by hand: the server's (Config.now),
// shared by its breaker, platform clients and fetcher, and by the fake
// platform's rate-limit windows.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func newManualClock() *manualClock {
	return &manualClock{t: time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)}
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// publishTo publishes container id to platform with key.
func publishTo(t *testing.T, s *testServer, key, id, platform string) response {
	t.Helper()
	return s.do(t, request{method: "POST", path: "/v1/content/" + id + "/publish", key: key, body: `{"platform":"` + platform + `"}`})
}

// fetchMedia asks the demo to fetch rawURL for appID with key.
func fetchMedia(t *testing.T, s *testServer, key, appID, rawURL string) response {
	t.Helper()
	body, err := json.Marshal(map[string]string{"url": rawURL})
	require.NoError(t, err)
	return s.do(t, request{method: "POST", path: "/v1/apps/" + appID + "/media", key: key, body: string(body)})
}

// retryAfterSeconds returns details.retryAfterSeconds of a CIRCUIT_OPEN
// answer for resource, and checks that Retry-After says the same.
func retryAfterSeconds(t *testing.T, resp response, resource string) int {
	t.Helper()
	env := requireError(t, resp, 503, "CIRCUIT_OPEN")
	var d struct {
		Resource          string `json:"resource"`
		RetryAfterSeconds int    `json:"retryAfterSeconds"`
	}
	require.NoError(t, json.Unmarshal(env.Error.Details, &d))
	require.Equal(t, resource, d.Resource)
	require.GreaterOrEqual(t, d.RetryAfterSeconds, 1)
	require.Equal(t, strconv.Itoa(d.RetryAfterSeconds), resp.header.Get("Retry-After"))
	return d.RetryAfterSeconds
}

// TestPublishPlatformErrors publishes through the in-process fake platform
// with each platform's real error bodies: every failure is PLATFORM_ERROR
// with the platform's code and raw message, retryAfterMs from the platform's
// own window (Retry-After, Meta's X-Business-Use-Case-Usage, the App Store
// Server API's UNIX milliseconds) and null without one, a Retry-After header
// exactly when there is a window, and nothing of ours (token, URL) in the
// answer. The clock is the fake's too, so the windows are exact.
func TestPublishPlatformErrors(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		clock := newManualClock()
		cfg := unlimited
		cfg.now = clock.now
		cfg.BreakerFailures = 100 // this test is about the answers, not the breaker
		s := startServer(t, fw, cfg)
		fake := s.Server.platform
		require.NotNil(t, fake, "without PlatformBase the demo runs the fake platform")
		require.Regexp(t, `^http://127\.0\.0\.1:\d+$`, s.PlatformURL(), "on loopback")

		const (
			tiktokLimit = `"The API rate limit was exceeded. Please try again later."`
			appleLimit  = `"We've received too many requests for this API. Please wait and try again or slow down your request rate."`
		)
		tests := []struct {
			platform, tag string
			details       string // exact details of the PLATFORM_ERROR
			retryAfter    string // the Retry-After header, "" for none
		}{
			{"tiktok", "#ratelimited", `{"platform":"tiktok","platformCode":"rate_limit_exceeded","platformMessage":` + tiktokLimit + `,"retryAfterMs":30000}`, "30"},
			{"tiktok", "#throttled", `{"platform":"tiktok","platformCode":"rate_limit_exceeded","platformMessage":` + tiktokLimit + `,"retryAfterMs":null}`, ""},
			{"tiktok", "#down", `{"platform":"tiktok","platformCode":"internal_error","platformMessage":"Something went wrong. Please try again later.","retryAfterMs":null}`, ""},
			{"tiktok", "#badtoken", `{"platform":"tiktok","platformCode":"access_token_invalid","platformMessage":"The access token is invalid or not found in the request.","retryAfterMs":null}`, ""},
			{"meta", "#ratelimited", `{"platform":"meta","platformCode":"80001","platformMessage":"There have been too many calls to this Page account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.","retryAfterMs":60000}`, "60"},
			{"meta", "#throttled", `{"platform":"meta","platformCode":"4","platformMessage":"(#4) Application request limit reached","retryAfterMs":null}`, ""},
			{"meta", "#down", `{"platform":"meta","platformCode":"2","platformMessage":"An unexpected error has occurred. Please retry your request later.","retryAfterMs":null}`, ""},
			{"meta", "#badtoken", `{"platform":"meta","platformCode":"190","platformMessage":"Malformed access token [redacted]","retryAfterMs":null}`, ""},
			{"instagram", "#ratelimited", `{"platform":"instagram","platformCode":"80002","platformMessage":"There have been too many calls to this Instagram account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.","retryAfterMs":60000}`, "60"},
			{"instagram", "#badtoken", `{"platform":"instagram","platformCode":"190","platformMessage":"Malformed access token [redacted]","retryAfterMs":null}`, ""},
			{"apple", "#ratelimited", `{"platform":"apple","platformCode":"RATE_LIMIT_EXCEEDED","platformMessage":` + appleLimit + `,"retryAfterMs":30000}`, "30"},
			{"apple", "#throttled", `{"platform":"apple","platformCode":"RATE_LIMIT_EXCEEDED","platformMessage":` + appleLimit + `,"retryAfterMs":null}`, ""},
			{"apple", "#down", `{"platform":"apple","platformCode":"UNEXPECTED_ERROR","platformMessage":"An unexpected error occurred on the server side. If this issue continues, contact us at https://developer.apple.com/contact/.","retryAfterMs":null}`, ""},
			// The URL in Apple's message loses its query.
			{"apple", "#badtoken", `{"platform":"apple","platformCode":"NOT_AUTHORIZED","platformMessage":"Provide a properly configured and signed bearer token, and make sure that it has not expired. Learn more about Generating Tokens for API Requests https://developer.apple.com/go/","retryAfterMs":null}`, ""},
			{"appstore", "#ratelimited", `{"platform":"appstore","platformCode":"4290000","platformMessage":"Rate limit exceeded.","retryAfterMs":30000}`, "30"},
			{"appstore", "#throttled", `{"platform":"appstore","platformCode":"4290000","platformMessage":"Rate limit exceeded.","retryAfterMs":null}`, ""},
			{"appstore", "#down", `{"platform":"appstore","platformCode":"5000000","platformMessage":"An unknown error occurred.","retryAfterMs":null}`, ""},
			{"appstore", "#badtoken", `{"platform":"appstore","platformCode":"http_401","platformMessage":"Unauthorized","retryAfterMs":null}`, ""},
		}
		for _, tt := range tests {
			t.Run(tt.platform+" "+tt.tag, func(t *testing.T) {
				hook := "5 stretches for desk workers " + tt.tag
				id := createContent(t, s, "prj_auto", hook).ContainerID
				calls := len(fake.publishCalls())
				resp := publishTo(t, s, keyFull, id, tt.platform)
				env := requireError(t, resp, 502, "PLATFORM_ERROR")
				requireDetails(t, env, tt.details)
				require.Equal(t, "The platform API returned an error.", env.Error.Message)
				require.Equal(t, tt.retryAfter, resp.header.Get("Retry-After"))

				// Exactly one call reached the platform, as the demo makes it.
				got := fake.publishCalls()
				require.Len(t, got, calls+1)
				token := platformTokens[apierror.Platform(tt.platform)]
				require.Equal(t, fakeCall{Platform: apierror.Platform(tt.platform), Path: "/" + tt.platform + "/publish",
					Authorization: "Bearer " + token, ContainerID: id, Caption: hook}, got[calls])
				// Nothing of ours reaches the caller.
				require.NotContains(t, string(resp.body), token)
				require.NotContains(t, string(resp.body), s.PlatformURL())
			})
		}

		t.Run("the cause is logged under the request ID", func(t *testing.T) {
			id := createContent(t, s, "prj_auto", "logged #ratelimited").ContainerID
			resp := publishTo(t, s, keyFull, id, "tiktok")
			reqID := requireError(t, resp, 502, "PLATFORM_ERROR").Error.RequestID
			var cause string
			_, logged := waitFor(t, 5*time.Second, func() bool {
				for _, line := range s.logs.lines(t) {
					if line["requestId"] == reqID && line["msg"] == "request failed" {
						cause, _ = line["error"].(string)
						return true
					}
				}
				return false
			})
			require.True(t, logged, "no error line for %s", reqID)
			require.Contains(t, cause, "upstream: tiktok POST "+s.PlatformURL()+"/tiktok/publish: HTTP 429: rate_limit_exceeded (platform trace ")
			require.NotContains(t, cause, platformTokens[apierror.PlatformTikTok])
		})

		t.Run("published", func(t *testing.T) {
			id := createContent(t, s, "prj_auto", "3 ways to sleep better").ContainerID
			for _, tt := range []struct{ platform, postID string }{
				{"tiktok", `^v_pub_file~v2-1\.73000000000000000\d\d$`},
				{"meta", `^179000000000000\d\d$`},
				{"instagram", `^179000000000000\d\d$`},
				{"apple", `^5f1c2e9a-0d4b-4c7e-9a31-0000000000\d\d$`},
				{"appstore", `^20000000000000\d\d$`},
			} {
				resp := publishTo(t, s, keyFull, id, tt.platform)
				require.Equal(t, 200, resp.status, "%s: %s", tt.platform, resp.body)
				var out publishResponse
				decodeJSON(t, resp, &out)
				require.Equal(t, id, out.ContainerID)
				require.Equal(t, apierror.Platform(tt.platform), out.Platform)
				require.Regexp(t, tt.postID, out.PostID)
			}
		})
	})
}

// TestPublishGates: the route's scope, its body and the approval rules of
// scheduling come before any call to the platform.
func TestPublishGates(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		s := startServer(t, fw, unlimited)
		fake := s.Server.platform
		pending := createContent(t, s, "prj_demo", "pending approval").ContainerID
		rejected := createContent(t, s, "prj_demo", "rejected").ContainerID
		require.Equal(t, 200, s.do(t, request{method: "POST", path: "/v1/content/" + rejected + "/reject", key: keyFull}).status)
		approved := createContent(t, s, "prj_auto", "approved").ContainerID
		path := func(id string) string { return "/v1/content/" + id + "/publish" }

		tests := []struct {
			name    string
			req     request
			status  int
			code    string
			details string
		}{
			{"no key", request{method: "POST", path: path(approved), body: `{"platform":"tiktok"}`}, 401, "UNAUTHENTICATED", ""},
			{"no content:write", request{method: "POST", path: path(approved), key: keyReadonly, body: `{"platform":"tiktok"}`}, 403, "FORBIDDEN_SCOPE", `{"requiredScope":"content:write"}`},
			{"no platform", request{method: "POST", path: path(approved), key: keyFull, body: `{}`}, 422, "VALIDATION", `{"issues":[{"path":"platform","message":"is required."}]}`},
			{"no body", request{method: "POST", path: path(approved), key: keyFull}, 422, "VALIDATION", `{"issues":[{"path":"platform","message":"is required."}]}`},
			{"unknown platform", request{method: "POST", path: path(approved), key: keyFull, body: `{"platform":"myspace"}`}, 422, "VALIDATION", `{"issues":[{"path":"platform","message":"must be one of tiktok, meta, apple, instagram, appstore."}]}`},
			{"platform of the wrong type", request{method: "POST", path: path(approved), key: keyFull, body: `{"platform":1}`}, 422, "VALIDATION", `{"issues":[{"path":"platform","message":"must be a string, got number."}]}`},
			{"missing container", request{method: "POST", path: path("cnt_nope"), key: keyFull, body: `{"platform":"tiktok"}`}, 404, "NOT_FOUND", ""},
			{"other org's container", request{method: "POST", path: path(approved), key: keyOther, body: `{"platform":"tiktok"}`}, 404, "NOT_FOUND", ""},
			{"pending approval", request{method: "POST", path: path(pending), key: keyFull, body: `{"platform":"tiktok"}`}, 403, "APPROVAL_REQUIRED", `{"containerId":"` + pending + `","approvalStatus":"pending"}`},
			{"rejected", request{method: "POST", path: path(rejected), key: keyFull, body: `{"platform":"meta"}`}, 409, "CONTENT_REJECTED", ""},
			{"GET", request{method: "GET", path: path(approved), key: keyFull}, 404, "NOT_FOUND", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				requireDetails(t, requireError(t, s.do(t, tt.req), tt.status, tt.code), tt.details)
			})
		}
		require.Empty(t, fake.publishCalls(), "no refused request reached the platform")

		// Approved, the pending container publishes.
		require.Equal(t, 200, s.do(t, request{method: "POST", path: "/v1/content/" + pending + "/approve", key: keyFull}).status)
		resp := publishTo(t, s, keyFull, pending, "tiktok")
		require.Equal(t, 200, resp.status, "body: %s", resp.body)
		require.Len(t, fake.publishCalls(), 1)
	})
}

// TestCircuitBreaker trips the TikTok circuit with failures (5xx answers and
// timeouts), on a clock the test moves: CIRCUIT_OPEN with the exact time
// left, falling as time passes and not extended by refused calls, other
// platforms unaffected; after the cooldown a failed probe re-opens it for a
// full cooldown and a good probe closes it.
func TestCircuitBreaker(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		clock := newManualClock()
		cfg := unlimited
		cfg.now = clock.now
		cfg.BreakerFailures = 2
		cfg.BreakerCooldown = 10 * time.Second
		cfg.platformTimeout = time.Second
		s := startServer(t, fw, cfg)
		fake := s.Server.platform
		down := createContent(t, s, "prj_auto", "5 stretches #down").ContainerID
		slow := createContent(t, s, "prj_auto", "5 stretches #slow").ContainerID
		ok := createContent(t, s, "prj_auto", "5 stretches").ContainerID
		calls := func() int { return len(fake.publishCalls()) }

		requireError(t, publishTo(t, s, keyFull, down, "tiktok"), 502, "PLATFORM_ERROR")
		start := time.Now()
		timedOut := requireError(t, publishTo(t, s, keyFull, slow, "tiktok"), 502, "PLATFORM_ERROR")
		require.GreaterOrEqual(t, time.Since(start), time.Second, "the timeout is the platform client's")
		requireDetails(t, timedOut, `{"platform":"tiktok","platformCode":"timeout","platformMessage":"The platform did not answer in time.","retryAfterMs":null}`)
		require.Equal(t, 2, calls())

		// Open: refused at once, nothing sent, the full cooldown left.
		require.Equal(t, 10, retryAfterSeconds(t, publishTo(t, s, keyFull, ok, "tiktok"), "tiktok-publish"))
		require.Equal(t, 10, retryAfterSeconds(t, publishTo(t, s, keyFull, down, "tiktok"), "tiktok-publish"))
		require.Equal(t, 2, calls())
		// Another platform's circuit is its own.
		require.Equal(t, 200, publishTo(t, s, keyFull, ok, "meta").status)
		require.Equal(t, 3, calls())

		clock.advance(3500 * time.Millisecond)
		require.Equal(t, 7, retryAfterSeconds(t, publishTo(t, s, keyFull, ok, "tiktok"), "tiktok-publish"))
		require.Equal(t, 7, retryAfterSeconds(t, publishTo(t, s, keyFull, ok, "tiktok"), "tiktok-publish"), "a refused call does not extend the cooldown")
		clock.advance(6 * time.Second)
		require.Equal(t, 1, retryAfterSeconds(t, publishTo(t, s, keyFull, ok, "tiktok"), "tiktok-publish"))
		require.Equal(t, 3, calls())

		// Half-open: the probe fails and re-opens it for a full cooldown.
		clock.advance(500 * time.Millisecond)
		requireError(t, publishTo(t, s, keyFull, down, "tiktok"), 502, "PLATFORM_ERROR")
		require.Equal(t, 4, calls())
		require.Equal(t, 10, retryAfterSeconds(t, publishTo(t, s, keyFull, ok, "tiktok"), "tiktok-publish"))

		// A good probe closes it: failures are answered again, counted anew.
		clock.advance(10 * time.Second)
		require.Equal(t, 200, publishTo(t, s, keyFull, ok, "tiktok").status)
		require.Equal(t, 5, calls())
		require.Equal(t, upstream.Closed, s.Server.upstreams.clients[apierror.PlatformTikTok].Circuit().State())
		requireError(t, publishTo(t, s, keyFull, down, "tiktok"), 502, "PLATFORM_ERROR")
		require.Equal(t, 200, publishTo(t, s, keyFull, ok, "tiktok").status, "one failure after a success does not open it")
		require.Equal(t, 7, calls())
	})
}

// TestCircuitBreakerFleet runs two instances on one real Redis, on the
// real clock: a circuit opened on A by its failures answers CIRCUIT_OPEN on
// B within a second, with the same remaining time to within a second,
// falling; after the cooldown a good probe on B closes it on both. It runs
// the fleets TestFleet runs.
func TestCircuitBreakerFleet(t *testing.T) {
	inst := redistest.Server(t)
	type fleet struct{ a, b string }
	fleets := []fleet{{"echo4", "echo5"}, {"echo4", "nethttp"}, {"echo5", "nethttp"}}
	for _, fw := range testFrameworks {
		fleets = append(fleets, fleet{fw, fw})
	}
	for _, f := range fleets {
		name := f.a
		if f.b != f.a {
			name = f.a + "+" + f.b
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testCircuitBreakerFleet(t, inst, f.a, f.b)
		})
	}
}

func testCircuitBreakerFleet(t *testing.T, inst *redistest.Instance, fa, fb string) {
	prefix := inst.Prefix(t)
	cfg := unlimited
	cfg.RedisURL = inst.URL()
	cfg.RedisPrefix = prefix
	cfg.BreakerFailures = 2
	cfg.BreakerCooldown = 3 * time.Second
	a, b := startServer(t, fa, cfg), startServer(t, fb, cfg)
	downA := createContent(t, a, "prj_auto", "failing #down").ContainerID
	okA := createContent(t, a, "prj_auto", "fine").ContainerID
	okB := createContent(t, b, "prj_auto", "fine").ContainerID

	for range 2 {
		requireError(t, publishTo(t, a, keyFull, downA, "tiktok"), 502, "PLATFORM_ERROR")
	}
	onA := retryAfterSeconds(t, publishTo(t, a, keyFull, okA, "tiktok"), "tiktok-publish")
	require.GreaterOrEqual(t, onA, 2)

	// B has never failed a call: it refuses because A opened the circuit.
	var resp response
	took, seen := waitFor(t, time.Second, func() bool {
		resp = publishTo(t, b, keyFull, okB, "tiktok")
		return resp.status == 503
	})
	require.True(t, seen, "B did not refuse within 1s of A opening the circuit: %s", resp.body)
	t.Logf("B refused %v after A opened the circuit", took)
	onB := retryAfterSeconds(t, resp, "tiktok-publish")
	nowA := retryAfterSeconds(t, publishTo(t, a, keyFull, okA, "tiktok"), "tiktok-publish")
	require.InDelta(t, nowA, onB, 1, "A says %ds, B %ds", nowA, onB)
	require.Empty(t, b.Server.platform.publishCalls(), "B sent nothing while the circuit was open")

	// The open state is in Redis, under the demo's prefix convention.
	rc := inst.Client(t)
	open, err := rc.HExists(context.Background(), prefix+"upstream:circuits", "tiktok:tiktok-publish").Result()
	require.NoError(t, err)
	require.True(t, open)

	// Falling on B, and still refused: the cooldown is not over.
	_, fell := waitFor(t, 3*time.Second, func() bool {
		return retryAfterSeconds(t, publishTo(t, b, keyFull, okB, "tiktok"), "tiktok-publish") < onB
	})
	require.True(t, fell, "retryAfterSeconds on B never fell below %d", onB)
	require.Empty(t, b.Server.platform.publishCalls())

	// After the cooldown B's good probe closes the circuit, for A too.
	_, closed := waitFor(t, 5*time.Second, func() bool {
		r := publishTo(t, b, keyFull, okB, "tiktok")
		if r.status == 503 {
			retryAfterSeconds(t, r, "tiktok-publish")
			return false
		}
		require.Equal(t, 200, r.status, "body: %s", r.body)
		return true
	})
	require.True(t, closed, "B's probe never closed the circuit")
	require.Len(t, b.Server.platform.publishCalls(), 1, "one probe reached the platform")
	circuitA := a.Server.upstreams.clients[apierror.PlatformTikTok].Circuit()
	require.Eventually(t, func() bool { return circuitA.State() == upstream.Closed }, time.Second, 10*time.Millisecond,
		"A did not learn within 1s that B's probe closed the circuit")
	require.Equal(t, 200, publishTo(t, a, keyFull, okA, "tiktok").status)
	open, err = rc.HExists(context.Background(), prefix+"upstream:circuits", "tiktok:tiktok-publish").Result()
	require.NoError(t, err)
	require.False(t, open)
}

// TestMedia fetches through the demo's fetcher from the fake media host on
// loopback (FetchAllowLoopback): a file, and every failure: SCRAPE_FAILED
// for a 404, an expired S3- or GCS-style signature (refused before any
// request), an object store's expired-signature 403 and a timeout, with a
// message naming the URL without query or userinfo; PAYLOAD_TOO_LARGE with
// details.maxBytes over the cap, announced or streamed.
func TestMedia(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		cfg := unlimited
		cfg.FetchAllowLoopback = true
		cfg.fetchMaxBytes = 1024
		cfg.fetchTimeout = time.Second
		s := startServer(t, fw, cfg)
		fake := s.Server.platform
		host := s.PlatformURL() // http://127.0.0.1:port
		port := strings.TrimPrefix(host, "http://127.0.0.1:")

		const amzSigned = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20200101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20200101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=5ecr3t5ig"
		const googSigned = "X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=demo%40example.iam.gserviceaccount.com%2F20200101%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20200101T000000Z&X-Goog-Expires=600&X-Goog-SignedHeaders=host&X-Goog-Signature=5ecr3t5ig"
		tests := []struct {
			name    string
			url     string
			status  int
			code    string
			message string // the exact message of an error
			details string
			reached bool // the media host got the request
		}{
			{name: "404", url: host + "/media/missing.png?token=5ecr3t5ig", status: 502, code: "SCRAPE_FAILED",
				message: "Fetching " + host + "/media/missing.png returned HTTP 404.", reached: true},
			{name: "404 with userinfo", url: "http://user:5ecr3t5ig@127.0.0.1:" + port + "/media/missing.png", status: 502, code: "SCRAPE_FAILED",
				message: "Fetching " + host + "/media/missing.png returned HTTP 404.", reached: true},
			{name: "expired S3 signature", url: host + "/media/demo.png?" + amzSigned, status: 502, code: "SCRAPE_FAILED",
				message: "Fetching " + host + "/media/demo.png failed: its signature has expired. Sign URLs for at least 15 minutes."},
			{name: "expired GCS signature", url: host + "/media/demo.png?" + googSigned, status: 502, code: "SCRAPE_FAILED",
				message: "Fetching " + host + "/media/demo.png failed: its signature has expired. Sign URLs for at least 15 minutes."},
			{name: "expired at the object store", url: host + "/media/expired.png?X-Amz-Signature=5ecr3t5ig", status: 502, code: "SCRAPE_FAILED",
				message: "Fetching " + host + "/media/expired.png failed: its signature has expired. Sign URLs for at least 15 minutes.", reached: true},
			{name: "timeout", url: host + "/media/slow.png?sig=5ecr3t5ig", status: 502, code: "SCRAPE_FAILED",
				message: "Fetching " + host + "/media/slow.png timed out.", reached: true},
			{name: "not http", url: "ftp://127.0.0.1:" + port + "/media/demo.png?sig=5ecr3t5ig", status: 502, code: "SCRAPE_FAILED",
				message: "Fetching ftp://127.0.0.1:" + port + "/media/demo.png failed: it is not an absolute http or https URL."},
			{name: "over the cap, announced", url: host + "/media/bytes/1025", status: 413, code: "PAYLOAD_TOO_LARGE",
				message: "The file at " + host + "/media/bytes/1025 is larger than the limit of 1024 bytes.", details: `{"maxBytes":1024}`, reached: true},
			{name: "over the cap, streamed", url: host + "/media/stream/1048576", status: 413, code: "PAYLOAD_TOO_LARGE",
				message: "The file at " + host + "/media/stream/1048576 is larger than the limit of 1024 bytes.", details: `{"maxBytes":1024}`, reached: true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := fake.mediaRequests()
				resp := fetchMedia(t, s, keyFull, "app_demo", tt.url)
				env := requireError(t, resp, tt.status, tt.code)
				require.Equal(t, tt.message, env.Error.Message)
				requireDetails(t, env, tt.details)
				require.NotContains(t, string(resp.body), "5ecr3t5ig")
				want := before
				if tt.reached {
					want++
				}
				require.Equal(t, want, fake.mediaRequests())
			})
		}

		t.Run("fetched", func(t *testing.T) {
			for _, tt := range []struct{ name, url, from, contentType string }{
				{"png", host + "/media/demo.png?X-Amz-Signature=5ecr3t5ig", host + "/media/demo.png", "image/png"},
				{"exactly the cap", host + "/media/stream/1024", host + "/media/stream/1024", "application/octet-stream"},
				// Allowed loopback is loopback in any form.
				{"127.1", "http://127.1:" + port + "/media/demo.png", "http://127.1:" + port + "/media/demo.png", "image/png"},
				{"2130706433", "http://2130706433:" + port + "/media/demo.png", "http://2130706433:" + port + "/media/demo.png", "image/png"},
			} {
				resp := fetchMedia(t, s, keyFull, "app_demo", tt.url)
				require.Equal(t, 200, resp.status, "%s: %s", tt.name, resp.body)
				var out mediaResponse
				decodeJSON(t, resp, &out)
				require.Equal(t, "app_demo", out.AppID)
				require.Equal(t, tt.from, out.URL)
				require.Equal(t, tt.contentType, out.ContentType)
				require.Regexp(t, `^sha256:[0-9a-f]{64}$`, out.SHA256)
				if tt.contentType == "image/png" {
					require.Equal(t, len(fakePNG), out.Bytes)
				} else {
					require.Equal(t, 1024, out.Bytes)
				}
			}
		})

		t.Run("gates", func(t *testing.T) {
			before := fake.mediaRequests()
			ok := host + "/media/demo.png"
			for _, tt := range []struct {
				name    string
				resp    response
				status  int
				code    string
				details string
			}{
				{"no key", s.do(t, request{method: "POST", path: "/v1/apps/app_demo/media", body: `{"url":"` + ok + `"}`}), 401, "UNAUTHENTICATED", ""},
				{"another organization's app", fetchMedia(t, s, keyFull, "app_other", ok), 404, "NOT_FOUND", ""},
				{"a missing app", fetchMedia(t, s, keyFull, "app_nope", ok), 404, "NOT_FOUND", ""},
				{"no content:write", fetchMedia(t, s, keyReadonly, "app_demo", ok), 403, "FORBIDDEN_SCOPE", `{"requiredScope":"content:write"}`},
				{"no url", s.do(t, request{method: "POST", path: "/v1/apps/app_demo/media", key: keyFull, body: `{}`}), 422, "VALIDATION", `{"issues":[{"path":"url","message":"is required."}]}`},
				{"blank url", fetchMedia(t, s, keyFull, "app_demo", "  "), 422, "VALIDATION", `{"issues":[{"path":"url","message":"must not be empty."}]}`},
			} {
				requireDetails(t, requireError(t, tt.resp, tt.status, tt.code), tt.details)
			}
			require.Equal(t, before, fake.mediaRequests(), "no refused request was fetched")
			// The owner fetches its own app's media.
			resp := fetchMedia(t, s, keyOther, "app_other", ok)
			require.Equal(t, 200, resp.status, "body: %s", resp.body)
		})
	})
}

// TestMediaRefusesPrivateAddresses: without FetchAllowLoopback the fetcher
// refuses loopback in every numeric form a resolver accepts, and the other
// private networks, before connecting (the fake media host on 127.0.0.1 is
// never reached, and nothing else is dialled: numeric hosts are judged as
// the addresses they are).
func TestMediaRefusesPrivateAddresses(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		s := startServer(t, fw, unlimited)
		fake := s.Server.platform
		port := strings.TrimPrefix(s.PlatformURL(), "http://127.0.0.1:")
		for _, host := range []string{
			"127.0.0.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1", "127.1", "127.0.1", "127.0.0.1.",
			"127.255.255.254", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
			"10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "[fd00::1]", "[fe80::1]", "0.0.0.0",
		} {
			t.Run(host, func(t *testing.T) {
				u := "http://" + host + ":" + port + "/media/demo.png?token=5ecr3t5ig"
				resp := fetchMedia(t, s, keyFull, "app_demo", u)
				env := requireError(t, resp, 502, "SCRAPE_FAILED")
				require.Equal(t, "Fetching http://"+host+":"+port+"/media/demo.png was refused: it does not point to a public internet address.", env.Error.Message)
				requireDetails(t, env, "")
			})
		}
		require.Zero(t, fake.mediaRequests())
	})
}

// TestUpstreamConfig refuses bad upstream settings before serving: from Go
// and from the command line, where nothing is printed.
func TestUpstreamConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		err  string
	}{
		{"negative failures", Config{BreakerFailures: -1}, "breaker failures -1 (-breaker-failures): want 1 or more, or 0 for the default"},
		{"negative cooldown", Config{BreakerCooldown: -time.Second}, "breaker cooldown -1s (-breaker-cooldown): want a positive duration, or 0 for the default"},
		{"not a URL", Config{PlatformBase: "127.0.0.1:9"}, `platform base "127.0.0.1:9" (-platform-base): want an absolute http:// or https:// URL without query, fragment or userinfo`},
		{"not http", Config{PlatformBase: "ftp://127.0.0.1:9"}, `platform base "ftp://127.0.0.1:9" (-platform-base)`},
		{"query", Config{PlatformBase: "http://127.0.0.1:9/?k=v"}, `platform base "http://127.0.0.1:9/?k=v" (-platform-base)`},
		{"userinfo", Config{PlatformBase: "http://u:p@127.0.0.1:9"}, `platform base "http://u:p@127.0.0.1:9" (-platform-base)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			require.ErrorContains(t, err, tt.err)
		})
	}
	for _, args := range [][]string{
		{"-breaker-failures", "-1"},
		{"-breaker-failures", "two"},
		{"-breaker-cooldown", "-1s"},
		{"-breaker-cooldown", "30"},
		{"-platform-base", "ftp://127.0.0.1:9"},
		{"-fetch-allow-loopback=maybe"},
	} {
		var out bytes.Buffer
		require.Error(t, run(args, &out), "%v", args)
		require.Empty(t, out.String(), "%v printed a banner", args)
	}
}

// TestPlatformBase sends the platform calls to a platform of the test's
// (-platform-base): every call goes to base + "/" + platform + "/publish",
// with a trailing slash of the base dropped, and the demo starts no fake of
// its own.
func TestPlatformBase(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		fake := newFakePlatform(nil)
		hs := httptest.NewServer(fake)
		t.Cleanup(hs.Close)
		t.Cleanup(fake.close)
		cfg := unlimited
		cfg.PlatformBase = hs.URL + "/"
		s := startServer(t, fw, cfg)
		require.Nil(t, s.Server.platform)
		require.Empty(t, s.PlatformURL())

		id := createContent(t, s, "prj_auto", "published elsewhere").ContainerID
		for _, p := range platforms {
			resp := publishTo(t, s, keyFull, id, string(p))
			require.Equal(t, 200, resp.status, "%s: %s", p, resp.body)
		}
		var paths []string
		for _, c := range fake.publishCalls() {
			paths = append(paths, c.Path)
		}
		require.Equal(t, []string{"/tiktok/publish", "/meta/publish", "/apple/publish", "/instagram/publish", "/appstore/publish"}, paths)
	})
}

// TestBinaryUpstreamFlags runs the real command with the four upstream
// flags and checks that each one reaches the server: -platform-base (the
// calls reach the test's fake), -breaker-failures and -breaker-cooldown (one
// failure opens the circuit for a minute), -fetch-allow-loopback (media on
// loopback is fetched).
func TestBinaryUpstreamFlags(t *testing.T) {
	fake := newFakePlatform(nil)
	hs := httptest.NewServer(fake)
	t.Cleanup(hs.Close)
	t.Cleanup(fake.close)

	bin, err := buildBinary()
	require.NoError(t, err, "go build")
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	b := &binary{cmd: exec.Command(bin, "-addr", addr, "-access-log=false", "-platform-base", hs.URL,
		"-breaker-failures", "1", "-breaker-cooldown", "1m", "-fetch-allow-loopback"),
		exited: make(chan error, 1), base: "http://" + addr}
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, &b.stderr
	require.NoError(t, b.cmd.Start())
	go func() { b.exited <- b.cmd.Wait() }()
	t.Cleanup(func() {
		if b.cmd.ProcessState == nil {
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
	})
	_, up := waitFor(t, 10*time.Second, func() bool {
		resp, err := http.Get(b.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	require.True(t, up, "server did not come up; stderr:\n%s", b.stderr.String())
	s := &testServer{URL: b.base}

	id := createContent(t, s, "prj_auto", "flags #down").ContainerID
	requireError(t, publishTo(t, s, keyFull, id, "tiktok"), 502, "PLATFORM_ERROR")
	require.Len(t, fake.publishCalls(), 1, "-platform-base: the call reached the test's platform")
	require.Equal(t, 60, retryAfterSeconds(t, publishTo(t, s, keyFull, id, "tiktok"), "tiktok-publish"),
		"-breaker-failures 1 -breaker-cooldown 1m")
	media := fetchMedia(t, s, keyFull, "app_demo", hs.URL+"/media/demo.png")
	require.Equal(t, 200, media.status, "-fetch-allow-loopback: %s", media.body)

	require.NoError(t, b.cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-b.exited:
		require.NoError(t, err, "exit status; stderr:\n%s", b.stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("no exit 10s after SIGINT; stderr:\n%s", b.stderr.String())
	}
}

// TestFakePlatformTags pins how a caption selects the fake's behaviour:
// the first known hashtag, case-insensitive, punctuation after it ignored.
func TestFakePlatformTags(t *testing.T) {
	for caption, want := range map[string]fakeBehaviour{
		"3 ways to sleep better":               fakePublished,
		"#down":                                fakeDown,
		"sleep better #Ratelimited!":           fakeRateLimited,
		"#ratelimited-once, then fine":         fakeRateLimitedOnce,
		"#throttled #down":                     fakeThrottled,
		"#slow.":                               fakeSlow,
		"a #badtoken":                          fakeBadToken,
		"#downtime is not a tag":               fakePublished,
		"not#down":                             fakePublished,
		"x\t\n #down":                          fakeDown,
		strings.Repeat("word ", 100) + "#slow": fakeSlow,
	} {
		require.Equal(t, want, fakeBehaviourOf(caption), "%q", caption)
	}
	// Every tag the fake documents selects a behaviour of its own.
	seen := map[fakeBehaviour]bool{}
	for tag, b := range fakeTags {
		require.Equal(t, b, fakeBehaviourOf("x "+tag), tag)
		require.False(t, seen[b], "two tags for one behaviour")
		seen[b] = true
	}
	require.Len(t, seen, int(fakeBadToken))

	// The App Store Server API's Retry-After is a UNIX time in ms.
	now := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	status, h, body := fakeAnswer(apierror.PlatformAppStore, fakeRateLimited, 1, "t", now)
	require.Equal(t, 429, status)
	require.Equal(t, strconv.FormatInt(now.Add(fakeRetryAfter).UnixMilli(), 10), h.Get("Retry-After"))
	require.JSONEq(t, `{"errorCode":4290000,"errorMessage":"Rate limit exceeded."}`, body)
}
