package retry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/layershq/errkit/apierror"
)

// BenchmarkRoundTrip compares a successful POST sent through a Transport
// (clone, generated Idempotency-Key, body set-up) with the same request sent
// by its Base directly, over a real loopback listener.
func BenchmarkRoundTrip(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	base := srv.Client().Transport
	run := func(b *testing.B, rt http.RoundTripper) {
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"hook":"h"}`))
			resp, err := rt.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	}
	b.Run("base", func(b *testing.B) { run(b, base) })
	b.Run("retry.Transport", func(b *testing.B) { run(b, &Transport{Base: base}) })
}

// BenchmarkDecide measures decoding a RATE_LIMITED response and deciding the
// wait, the work a Transport adds to each error response.
func BenchmarkDecide(b *testing.B) {
	body := apierror.RateLimited(1500 * time.Millisecond).Render("req_1")
	p := Policy{}.withDefaults()
	st := state{n: 1, safe: true, replayable: true, now: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		resp := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"2"}}, Body: io.NopCloser(strings.NewReader(string(body)))}
		if v := p.decideResponse(st, resp, decode(resp)); v.decision != Retry {
			b.Fatal(v.reason)
		}
	}
}
