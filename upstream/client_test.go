package upstream_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/upstream"
)

// Credentials of ours that must never reach a response.
const (
	secretToken = "tok_SECRET_abcdef123456"
	secretQuery = "qs_SECRET_987654321"
)

// fakePlatform is a platform API on loopback that answers every call with
// the current reply and counts the calls.
type fakePlatform struct {
	srv   *httptest.Server
	hits  atomic.Int64
	reply atomic.Pointer[reply]
}

type reply struct {
	status int
	header map[string]string
	body   string
	// block, when set, holds the answer until it is closed.
	block chan struct{}
	// arrived, when set, receives a value when a call arrives.
	arrived chan struct{}
}

func newFakePlatform(t *testing.T) *fakePlatform {
	t.Helper()
	p := &fakePlatform{}
	p.reply.Store(&reply{status: 200, body: `{}`})
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		rep := p.reply.Load()
		if rep.arrived != nil {
			select {
			case rep.arrived <- struct{}{}:
			default:
			}
		}
		if rep.block != nil {
			select {
			case <-rep.block:
			case <-r.Context().Done():
				return
			}
		}
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakePlatform) answer(r reply) { p.reply.Store(&r) }

// service is a Partner API endpoint on loopback that publishes through the
// Client and renders its errors with httperror's writer, as the demo does.
type service struct {
	srv  *httptest.Server
	logs *logBuffer
}

func newService(t *testing.T, c *upstream.Client, platformURL string) *service {
	t.Helper()
	s := &service{logs: &logBuffer{}}
	w, err := httperror.New(httperror.Config{Logger: s.logs.logger()})
	require.NoError(t, err)
	s.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost,
			platformURL+"/v2/post/publish/video/init/?access_token="+secretQuery, strings.NewReader(`{}`))
		if err != nil {
			w.Write(rw, r, err)
			return
		}
		req.Header.Set("Authorization", "Bearer "+secretToken)
		resp, err := c.Do(req)
		if err != nil {
			w.Write(rw, r, err)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			w.Write(rw, r, err)
			return
		}
		rw.WriteHeader(http.StatusOK)
		_, _ = rw.Write(body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// call sends one request to the service and returns status, headers and
// body.
func (s *service) call(t *testing.T) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Post(s.srv.URL, "application/json", strings.NewReader(`{"platform":"tiktok"}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

func newClient(t *testing.T, cfg upstream.ClientConfig) *upstream.Client {
	t.Helper()
	c, err := upstream.NewClient(cfg)
	require.NoError(t, err)
	return c
}

func platformErrorJSON(id, platform, code, msg, retryAfterMs string) string {
	return `{"error":{"code":"PLATFORM_ERROR","message":"The platform API returned an error.","requestId":"` + id +
		`","details":{"platform":"` + platform + `","platformCode":"` + code + `","platformMessage":"` + msg + `","retryAfterMs":` + retryAfterMs + `}}}`
}

// TestClientPlatformErrors sends each platform's real error bodies through
// a Client to a service and checks the bytes the service's caller gets.
func TestClientPlatformErrors(t *testing.T) {
	clock := newClock()
	for _, tc := range []struct {
		name       string
		platform   apierror.Platform
		reply      reply
		code, msg  string
		retryMs    string // "null" or a number
		retryAfter string // the service's Retry-After header, "" for none
	}{
		{"tiktok rate limit with Retry-After seconds", apierror.PlatformTikTok,
			reply{status: 429, header: map[string]string{"Retry-After": "3", "Content-Type": "application/json"},
				body: `{"data":{},"error":{"code":"rate_limit_exceeded","message":"The API rate limit was exceeded. Please try again later.","log_id":"202604181400001234"}}`},
			"rate_limit_exceeded", "The API rate limit was exceeded. Please try again later.", "3000", "3"},
		{"tiktok invalid params without a window", apierror.PlatformTikTok,
			reply{status: 400, body: `{"data":{},"error":{"code":"invalid_params","message":"The video duration exceeds the limit.","log_id":"x1"}}`},
			"invalid_params", "The video duration exceeds the limit.", "null", ""},
		{"tiktok 200 with an error body", apierror.PlatformTikTok,
			reply{status: 200, header: map[string]string{"Content-Type": "application/json; charset=UTF-8"},
				body: `{"data":{},"error":{"code":"spam_risk_too_many_posts","message":"The daily post cap was reached.","log_id":"x2"}}`},
			"spam_risk_too_many_posts", "The daily post cap was reached.", "null", ""},
		{"meta oauth with subcode", apierror.PlatformMeta,
			reply{status: 400, body: `{"error":{"message":"Error validating access token: Session has expired.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbCdEf123"}}`},
			"190/463", "Error validating access token: Session has expired.", "null", ""},
		{"meta throttled with X-Business-Use-Case-Usage", apierror.PlatformMeta,
			reply{status: 400, header: map[string]string{"X-Business-Use-Case-Usage": `{"112233":[{"type":"pages","call_count":100,"total_cputime":30,"total_time":40,"estimated_time_to_regain_access":2}]}`},
				body: `{"error":{"message":"(#80001) There have been too many calls to this Page account.","type":"OAuthException","code":80001,"fbtrace_id":"Zz9"}}`},
			"80001", "(#80001) There have been too many calls to this Page account.", "120000", "120"},
		{"meta 500 with Retry-After", apierror.PlatformMeta,
			reply{status: 500, header: map[string]string{"Retry-After": "1"}, body: `{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","code":2,"fbtrace_id":"Q1"}}`},
			"2", "An unexpected error has occurred. Please retry your request later.", "1000", "1"},
		{"instagram container error", apierror.PlatformInstagram,
			reply{status: 400, body: `{"error":{"message":"The image size is too large.","type":"OAuthException","code":36000,"error_subcode":2207004,"is_transient":false,"fbtrace_id":"A6L"}}`},
			"36000/2207004", "The image size is too large.", "null", ""},
		{"app store connect rate limit with an HTTP-date", apierror.PlatformApple,
			reply{status: 429, header: map[string]string{"Retry-After": t0.Add(90 * time.Second).Format(http.TimeFormat), "X-Rate-Limit": "user-hour-lim:3500;user-hour-rem:0;"},
				body: `{"errors":[{"id":"5e7a3f0c-1b2d","status":"429","code":"RATE_LIMIT_EXCEEDED","title":"The request rate limit has been reached.","detail":"We've received too many requests for this API. Please wait and try again or slow down your request rate."}]}`},
			"RATE_LIMIT_EXCEEDED", "We've received too many requests for this API. Please wait and try again or slow down your request rate.", "90000", "90"},
		{"app store connect not found, title only", apierror.PlatformApple,
			reply{status: 404, body: `{"errors":[{"id":"e1","status":"404","code":"NOT_FOUND","title":"The specified resource does not exist"}]}`},
			"NOT_FOUND", "The specified resource does not exist", "null", ""},
		{"app store server rate limit with UNIX-ms Retry-After", apierror.PlatformAppStore,
			reply{status: 429, header: map[string]string{"Retry-After": "1776520812500"}, // t0 + 12.5 s
				body: `{"errorCode":4290000,"errorMessage":"Rate limit exceeded."}`},
			"4290000", "Rate limit exceeded.", "12500", "13"},
		{"app store server transaction not found", apierror.PlatformAppStore,
			reply{status: 404, body: `{"errorCode":4040010,"errorMessage":"Transaction id not found."}`},
			"4040010", "Transaction id not found.", "null", ""},
		{"a proxy's HTML 502", apierror.PlatformTikTok,
			reply{status: 502, header: map[string]string{"Content-Type": "text/html"}, body: `<html><body><h1>502 Bad Gateway</h1></body></html>`},
			"http_502", "Bad Gateway", "null", ""},
		{"an empty 503 with Retry-After", apierror.PlatformInstagram,
			reply{status: 503, header: map[string]string{"Retry-After": "7"}},
			"http_503", "Service Unavailable", "7000", "7"},
		{"tiktok body with code ok on an error status", apierror.PlatformTikTok,
			reply{status: 500, body: `{"data":{},"error":{"code":"ok","message":"","log_id":"x"}}`},
			"http_500", "Internal Server Error", "null", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			platform := newFakePlatform(t)
			platform.answer(tc.reply)
			svc := newService(t, newClient(t, upstream.ClientConfig{Platform: tc.platform, Clock: clock}), platform.srv.URL)
			status, h, body := svc.call(t)
			assert.Equal(t, http.StatusBadGateway, status)
			assert.Equal(t, platformErrorJSON(h.Get("X-Request-Id"), string(tc.platform), tc.code, tc.msg, tc.retryMs), body)
			assert.Equal(t, tc.retryAfter, h.Get("Retry-After"))
			assert.Equal(t, int64(1), platform.hits.Load())

			// The cause is logged with the request ID, without our secrets.
			lines := svc.logs.matching(t, "request failed")
			require.Len(t, lines, 1)
			assert.Equal(t, h.Get("X-Request-Id"), lines[0]["requestId"])
			logged, _ := lines[0]["error"].(string)
			assert.Contains(t, logged, "upstream: "+string(tc.platform)+" POST "+platform.srv.URL+"/v2/post/publish/video/init/: HTTP ")
			assert.NotContains(t, logged, secretQuery)
			assert.NotContains(t, logged, secretToken)
		})
	}
}

// TestClientSuccess: a 2xx is the platform's response, body intact (a
// TikTok body with "code":"ok" included), and resets the failure count.
func TestClientSuccess(t *testing.T) {
	platform := newFakePlatform(t)
	ok := `{"data":{"publish_id":"v_pub_123"},"error":{"code":"ok","message":"","log_id":"202604181400"}}`
	platform.answer(reply{status: 200, header: map[string]string{"Content-Type": "application/json"}, body: ok})
	b := newBreaker(t, upstream.BreakerConfig{Failures: 2, Clock: newClock()})
	c := newClient(t, upstream.ClientConfig{Platform: apierror.PlatformTikTok, Resource: res, Breaker: b})
	svc := newService(t, c, platform.srv.URL)
	for i := 0; i < 3; i++ {
		status, _, body := svc.call(t)
		assert.Equal(t, 200, status)
		assert.Equal(t, ok, body)
	}
	big := `{"data":{"items":"` + strings.Repeat("x", 100<<10) + `"},"error":{"code":"ok"}}`
	platform.answer(reply{status: 200, header: map[string]string{"Content-Type": "application/json"}, body: big})
	status, _, body := svc.call(t)
	assert.Equal(t, 200, status)
	assert.Equal(t, big, body, "a body longer than MaxErrorBody is passed through unread")
	assert.Equal(t, upstream.Closed, c.Circuit().State())
}

// TestClientSanitizesMessage: a platform that echoes our credentials, a
// URL with a token, control characters and a huge message gets none of
// them past the Client.
func TestClientSanitizesMessage(t *testing.T) {
	platform := newFakePlatform(t)
	echo := "Invalid token Bearer " + secretToken + " for https://graph.example.com/v19.0/me?access_token=" + secretQuery +
		"&x=1\r\n\x1b[31mred\x1b[0m\u202eevil\u202c\ttab " + strings.Repeat("é", 400)
	platform.answer(reply{status: 400, body: `{"error":{"message":` + jsonQuote(echo) + `,"type":"OAuthException","code":190,"fbtrace_id":"` + secretToken + `"}}`})
	svc := newService(t, newClient(t, upstream.ClientConfig{Platform: apierror.PlatformMeta, MaxMessageLength: 120}), platform.srv.URL)
	_, _, body := svc.call(t)
	assert.NotContains(t, body, secretToken)
	assert.NotContains(t, body, secretQuery)
	assert.NotContains(t, body, "access_token")
	d, ok := apierror.DetailsAs[apierror.PlatformErrorDetails](apierror.Decode(502, []byte(body)))
	require.True(t, ok, body)
	assert.LessOrEqual(t, len(d.PlatformMessage), 120)
	assert.True(t, strings.HasPrefix(d.PlatformMessage, "Invalid token [redacted] for https://graph.example.com/v19.0/me [31mred [0m evil tab éé"), d.PlatformMessage)
	assert.True(t, strings.HasSuffix(d.PlatformMessage, "…"))
	for _, r := range d.PlatformMessage {
		assert.False(t, r < 0x20 || r == 0x7f || r == '\u202e', "control character %U", r)
	}
	logged := svc.logs.matching(t, "request failed")
	require.Len(t, logged, 1)
	assert.NotContains(t, logged[0]["error"], secretToken, "not even the trace ID when it echoes a secret")
}

func jsonQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TestClientTransportFailures: no response is PLATFORM_ERROR too: an
// unreachable platform, one that does not answer within Timeout, and a
// caller that cancels (which does not count against the platform).
func TestClientTransportFailures(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		gone := httptest.NewServer(http.NotFoundHandler())
		url := gone.URL
		gone.Close() // nothing listens there any more
		b := newBreaker(t, upstream.BreakerConfig{Failures: 1, Clock: newClock()})
		svc := newService(t, newClient(t, upstream.ClientConfig{Platform: apierror.PlatformTikTok, Breaker: b}), url)
		status, h, body := svc.call(t)
		assert.Equal(t, 502, status)
		assert.Equal(t, platformErrorJSON(h.Get("X-Request-Id"), "tiktok", "unreachable", "The platform could not be reached.", "null"), body)
		logged := svc.logs.matching(t, "request failed")
		require.Len(t, logged, 1)
		assert.Contains(t, logged[0]["error"], "connection refused", "%v", logged[0])
		status, _, _ = svc.call(t)
		assert.Equal(t, 503, status, "an unreachable platform counts as a failure")
	})
	t.Run("timeout", func(t *testing.T) {
		platform := newFakePlatform(t)
		block := make(chan struct{})
		t.Cleanup(func() { close(block) })
		platform.answer(reply{status: 200, block: block})
		svc := newService(t, newClient(t, upstream.ClientConfig{Platform: apierror.PlatformAppStore, Timeout: 50 * time.Millisecond}), platform.srv.URL)
		status, h, body := svc.call(t)
		assert.Equal(t, 502, status)
		assert.Equal(t, platformErrorJSON(h.Get("X-Request-Id"), "appstore", "timeout", "The platform did not answer in time.", "null"), body)
	})
	t.Run("caller canceled", func(t *testing.T) {
		platform := newFakePlatform(t)
		block := make(chan struct{})
		t.Cleanup(func() { close(block) })
		arrived := make(chan struct{}, 1)
		platform.answer(reply{status: 200, block: block, arrived: arrived})
		b := newBreaker(t, upstream.BreakerConfig{Failures: 1, Clock: newClock()})
		c := newClient(t, upstream.ClientConfig{Platform: apierror.PlatformMeta, Breaker: b})
		ctx, cancel := context.WithCancel(context.Background())
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, platform.srv.URL+"/me", nil)
		require.NoError(t, err)
		go func() {
			<-arrived // cancel once the platform has the request
			cancel()
		}()
		resp, err := c.Do(req)
		assert.Nil(t, resp)
		d, ok := apierror.DetailsAs[apierror.PlatformErrorDetails](err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, upstream.CodeCanceled, d.PlatformCode)
		assert.Equal(t, upstream.Closed, c.Circuit().State(), "the caller giving up is no verdict on the platform")
	})
}

// TestClientBreaker: after N failures the Client fails fast with
// CIRCUIT_OPEN (Retry-After matching retryAfterSeconds) without calling
// the platform, and a good probe closes it.
func TestClientBreaker(t *testing.T) {
	clock := newClock()
	platform := newFakePlatform(t)
	platform.answer(reply{status: 503, body: `{"data":{},"error":{"code":"internal_error","message":"Something went wrong.","log_id":"l"}}`})
	b := newBreaker(t, upstream.BreakerConfig{Failures: 3, Cooldown: 20 * time.Second, Clock: clock})
	svc := newService(t, newClient(t, upstream.ClientConfig{Platform: apierror.PlatformTikTok, Resource: res, Breaker: b}), platform.srv.URL)
	for i := 0; i < 3; i++ {
		status, _, _ := svc.call(t)
		require.Equal(t, 502, status)
	}
	for _, step := range []struct {
		advance time.Duration
		want    string
	}{{0, "20"}, {7 * time.Second, "13"}, {12500 * time.Millisecond, "1"}} {
		clock.Advance(step.advance)
		status, h, body := svc.call(t)
		assert.Equal(t, 503, status)
		assert.Equal(t, step.want, h.Get("Retry-After"))
		assert.Equal(t, `{"error":{"code":"CIRCUIT_OPEN","message":"A circuit breaker on a platform integration is open.","requestId":"`+
			h.Get("X-Request-Id")+`","details":{"resource":"tiktok-publish","retryAfterSeconds":`+step.want+`}}}`, body)
	}
	assert.Equal(t, int64(3), platform.hits.Load(), "refused calls never reach the platform")

	clock.Advance(500 * time.Millisecond)
	platform.answer(reply{status: 200, body: `{"data":{"publish_id":"p"},"error":{"code":"ok"}}`})
	status, _, _ := svc.call(t)
	assert.Equal(t, 200, status, "the probe")
	status, _, _ = svc.call(t)
	assert.Equal(t, 200, status, "closed again")
	assert.Equal(t, int64(5), platform.hits.Load())
}

// TestClientAsRoundTripper: under an http.Client the contract error is
// still found in the *url.Error.
func TestClientAsRoundTripper(t *testing.T) {
	platform := newFakePlatform(t)
	platform.answer(reply{status: 429, header: map[string]string{"Retry-After": "2"}, body: `{"errorCode":4290000,"errorMessage":"Rate limit exceeded."}`})
	hc := &http.Client{Transport: newClient(t, upstream.ClientConfig{Platform: apierror.PlatformAppStore})}
	resp, err := hc.Get(platform.srv.URL + "/inApps/v1/history/1")
	if resp != nil {
		resp.Body.Close()
	}
	e, ok := apierror.As(err)
	require.True(t, ok, "%v", err)
	wait, ok := e.RetryAfter()
	assert.True(t, ok)
	assert.Equal(t, 2*time.Second, wait)
}

// TestClientConfig: invalid configurations are errors.
func TestClientConfig(t *testing.T) {
	b := newBreaker(t, upstream.BreakerConfig{})
	for _, cfg := range []upstream.ClientConfig{
		{}, {Platform: "TikTok"}, {Platform: apierror.PlatformMeta, Timeout: -1},
		{Platform: apierror.PlatformMeta, MaxErrorBody: -1}, {Platform: apierror.PlatformMeta, Resource: "a b", Breaker: b},
	} {
		_, err := upstream.NewClient(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
	c := newClient(t, upstream.ClientConfig{Platform: apierror.PlatformMeta, Breaker: b})
	assert.Equal(t, "meta", c.Circuit().Resource(), "the resource defaults to the platform")
	_, err := c.Do(nil)
	assert.True(t, apierror.HasCode(err, apierror.CodeInternal))
}

// closeTracker is a request body that records being closed.
type closeTracker struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeTracker) Close() error { c.closed.Store(true); return nil }

// TestClientClosesBodyWhenRefused: a refused call closes the request body,
// as the http.RoundTripper contract asks, although nothing was sent.
func TestClientClosesBodyWhenRefused(t *testing.T) {
	b := newBreaker(t, upstream.BreakerConfig{Failures: 1, Clock: newClock()})
	c := newClient(t, upstream.ClientConfig{Platform: apierror.PlatformMeta, Breaker: b})
	fail(t, c.Circuit(), 1)
	body := &closeTracker{Reader: strings.NewReader(`{}`)}
	req, err := http.NewRequest(http.MethodPost, "http://platform.invalid/publish", body)
	require.NoError(t, err)
	_, err = c.Do(req)
	assert.True(t, apierror.HasCode(err, apierror.CodeCircuitOpen))
	assert.True(t, body.closed.Load())
}
