package clientip_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/layershq/errkit/clientip"
	"github.com/layershq/errkit/nethttp"
	"github.com/layershq/errkit/ratelimit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestOnTheWire runs a real listener: the peer is the loopback connection.
// Without trust the forwarding header never changes the key; trusting
// loopback (a proxy on the same host), the rightmost untrusted hop does.
func TestOnTheWire(t *testing.T) {
	direct := resolver(t, clientip.Config{})
	behindProxy := resolver(t, clientip.Config{}, "127.0.0.0/8")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, direct.Key(r)+" "+behindProxy.Key(r))
	}))
	defer srv.Close()

	for _, tt := range []struct {
		xff  []string
		want string
	}{
		{nil, "ip:127.0.0.1 ip:127.0.0.1"},
		{[]string{"198.51.100.1"}, "ip:127.0.0.1 ip:198.51.100.1"},
		{[]string{"6.6.6.6, 198.51.100.1"}, "ip:127.0.0.1 ip:198.51.100.1"},
		{[]string{"6.6.6.6", "198.51.100.1, 127.0.0.5"}, "ip:127.0.0.1 ip:198.51.100.1"},
	} {
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		req.Header["X-Forwarded-For"] = tt.xff
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, tt.want, string(b), "%q", tt.xff)
	}
}

// TestSpoofingDoesNotEscapeTheLimit: a client that sends a new
// X-Forwarded-For on every request, straight to the service, still spends
// one bucket and is answered RATE_LIMITED with Retry-After once it is
// empty.
func TestSpoofingDoesNotEscapeTheLimit(t *testing.T) {
	ips := resolver(t, clientip.Config{})
	l, err := ratelimit.New(ratelimit.Config{
		KeyFunc:   ips.Key,
		ClassFunc: func(*http.Request) string { return "ip" },
		Classes:   map[string]ratelimit.Rate{"ip": {PerSecond: 0.01, Burst: 5}},
	})
	require.NoError(t, err)
	h, err := nethttp.Install(nethttp.RateLimit(l)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})), nethttp.Config{})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()

	var statuses []int
	var retryAfter string
	for i := range 8 {
		req, err := http.NewRequest(http.MethodPost, srv.URL, nil)
		require.NoError(t, err)
		req.Header.Set("X-Forwarded-For", "203.0.113."+string(rune('0'+i)))
		req.Header.Set("Forwarded", "for=203.0.113."+string(rune('0'+i)))
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests {
			retryAfter = resp.Header.Get("Retry-After")
		}
	}
	assert.Equal(t, []int{204, 204, 204, 204, 204, 429, 429, 429}, statuses)
	secs, err := strconv.Atoi(retryAfter)
	require.NoError(t, err, "Retry-After %q", retryAfter)
	assert.GreaterOrEqual(t, secs, 100, "one token per 100 s (the limiter staggers retry times above it)")
}
