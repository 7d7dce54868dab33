package retry

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/layershq/errkit/apierror"
)

// FuzzDecide: whatever the status, Retry-After header and body, the decision
// never panics, a retry never waits a negative time or longer than MaxWait,
// and codes the catalogue says never to retry are never retried.
func FuzzDecide(f *testing.F) {
	f.Add(429, "2", []byte(apierror.RateLimited(1500*time.Millisecond).Render("req_1")))
	f.Add(429, "259200", []byte(apierror.RateLimited(259200*time.Second).Render("req_1")))
	f.Add(500, "", []byte(apierror.Internal(nil).Render("req_1")))
	f.Add(502, "", []byte(apierror.PlatformError("tiktok", "c", "m", time.Second).Render("req_1")))
	f.Add(502, "1", []byte(apierror.PlatformError("tiktok", "c", "m", 0).Render("req_1")))
	f.Add(503, "30", []byte(apierror.CircuitOpen("appstore", 30*time.Second).Render("req_1")))
	f.Add(503, "", []byte(apierror.KillSwitch("global").Render("req_1")))
	f.Add(502, "", []byte("<html>Bad Gateway</html>"))
	f.Add(503, "Sat, 18 Apr 2026 14:22:15 GMT", []byte(""))
	f.Add(429, "", []byte(`{"error":{"code":"RATE_LIMITED","message":"m","details":{"retryAfterMs":-1}}}`))
	f.Add(503, "", []byte(`{"error":{"code":"CIRCUIT_OPEN","message":"m","details":{"retryAfterSeconds":9223372036854775807}}}`))
	f.Add(200, "", []byte("ok"))
	now := time.Date(2026, 4, 18, 14, 22, 10, 0, time.UTC)
	p := Policy{Rand: half}.withDefaults()
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body))}
		if retryAfter != "" {
			resp.Header.Set("Retry-After", retryAfter)
		}
		var dec error
		if status >= 400 {
			dec = decode(resp)
			rest, err := io.ReadAll(resp.Body)
			if err != nil || !bytes.Equal(rest, body) {
				t.Fatalf("the body is not returned intact: %q", rest)
			}
		}
		for _, st := range []state{{n: 1, safe: true, replayable: true, now: now}, {n: 2, backoffs: 1, platformRetried: true, now: now}} {
			v := p.decideResponse(st, resp, dec)
			if v.reason == "" {
				t.Fatal("empty reason")
			}
			if v.decision != Retry {
				continue
			}
			if v.wait < 0 || v.wait > p.MaxWait {
				t.Fatalf("retry after %v", v.wait)
			}
			if e, ok := dec.(*apierror.Error); ok && !e.Spec().Retry.Retryable() {
				t.Fatalf("%s retried", e.Code())
			}
		}
	})
}
