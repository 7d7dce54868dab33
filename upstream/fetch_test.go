package upstream_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/upstream"
)

// fakeResolver answers from a table and counts lookups; it never touches
// the network.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	errs    map[string]error
	calls   map[string]int
	// next, when set, replaces the answer after each lookup (rebinding).
	next map[string][]netip.Addr
}

func newResolver() *fakeResolver {
	return &fakeResolver{answers: map[string][]netip.Addr{}, errs: map[string]error{}, calls: map[string]int{}, next: map[string][]netip.Addr{}}
}

func (r *fakeResolver) set(host string, addrs ...string) *fakeResolver {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers[host] = parseAddrs(addrs)
	return r
}

func parseAddrs(addrs []string) []netip.Addr {
	out := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[host]++
	if err := r.errs[host]; err != nil {
		return nil, err
	}
	a, ok := r.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	if n, ok := r.next[host]; ok {
		r.answers[host] = n
	}
	return a, nil
}

func (r *fakeResolver) lookups(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[host]
}

// dialRecorder is a Fetcher's Dial hook: it connects to loopback for real,
// serves the addresses in pipes from memory, and fails the test for any
// other address, so that no test ever connects beyond this machine.
type dialRecorder struct {
	t     *testing.T
	mu    sync.Mutex
	dials []string
	pipes map[string]func(*http.Request) string
	wg    sync.WaitGroup
}

func newDialer(t *testing.T) *dialRecorder {
	d := &dialRecorder{t: t, pipes: map[string]func(*http.Request) string{}}
	t.Cleanup(d.wg.Wait)
	return d
}

func (d *dialRecorder) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	d.mu.Lock()
	d.dials = append(d.dials, address)
	serve := d.pipes[address]
	d.mu.Unlock()
	if serve != nil {
		client, server := net.Pipe()
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			defer server.Close()
			req, err := http.ReadRequest(bufio.NewReader(server))
			if err != nil {
				return
			}
			_, _ = io.WriteString(server, serve(req))
		}()
		return client, nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().IsLoopback() {
		d.t.Errorf("the fetcher tried to connect to %s, which is not loopback", address)
		return nil, errors.New("test dialer: not loopback")
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, address)
}

func (d *dialRecorder) addresses() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.dials...)
}

// mediaHost is a caller's media host on loopback.
type mediaHost struct {
	srv     *httptest.Server
	port    string
	hits    atomic.Int64
	block   chan struct{}
	written atomic.Int64  // bytes /stream managed to send
	done    chan struct{} // closed when /stream's handler returns
}

func newMediaHost(t *testing.T) *mediaHost {
	t.Helper()
	m := &mediaHost{block: make(chan struct{}), done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/ok.mp4", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = io.WriteString(w, "video-bytes")
	})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/s3-expired", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(403)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message><X-Amz-Expires>900</X-Amz-Expires><RequestId>R1</RequestId></Error>`)
	})
	mux.HandleFunc("/gcs-expired", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message><Details>Request signature expired at: 2026-04-18T13:00:00+00:00</Details></Error>`)
	})
	mux.HandleFunc("/denied", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(403)
		_, _ = io.WriteString(w, `<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
	})
	mux.HandleFunc("/slow-headers", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-m.block:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/slow-body", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first bytes")
		w.(http.Flusher).Flush()
		select {
		case <-m.block:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/announced", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10000")
		_, _ = w.Write(make([]byte, 10000))
	})
	mux.HandleFunc("/exact", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(make([]byte, 600))
		w.(http.Flusher).Flush()
		_, _ = w.Write(make([]byte, 400))
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		defer close(m.done)
		chunk := make([]byte, 32<<10)
		for i := 0; i < 2048; i++ { // 64 MiB at most
			n, err := w.Write(chunk)
			m.written.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.hits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		close(m.block)
		m.srv.Close()
	})
	u, err := url.Parse(m.srv.URL)
	require.NoError(t, err)
	m.port = u.Port()
	return m
}

// url names path on the media host by the name "media.test".
func (m *mediaHost) url(path string) string { return "http://media.test:" + m.port + path }

func newFetcher(t *testing.T, cfg upstream.FetcherConfig) (*upstream.Fetcher, *fakeResolver, *dialRecorder) {
	t.Helper()
	r := newResolver().set("media.test", "127.0.0.1")
	d := newDialer(t)
	if cfg.Resolver == nil {
		cfg.Resolver = r
	}
	cfg.Dial = d.Dial
	if cfg.Clock == nil {
		cfg.Clock = newClock()
	}
	f, err := upstream.NewFetcher(cfg)
	require.NoError(t, err)
	return f, r, d
}

func scrapeFailed(msg string) string {
	return `{"error":{"code":"SCRAPE_FAILED","message":"` + msg + `","requestId":"req_1"}}`
}

func rendered(t *testing.T, err error) string {
	t.Helper()
	e, ok := apierror.As(err)
	require.True(t, ok, "not a contract error: %v", err)
	return string(e.Render("req_1"))
}

// TestFetchSuccess fetches from the loopback media host, a signed URL whose
// signature is still valid included.
func TestFetchSuccess(t *testing.T) {
	m := newMediaHost(t)
	f, _, _ := newFetcher(t, upstream.FetcherConfig{AllowLoopback: true})
	for _, u := range []string{
		m.url("/ok.mp4"),
		m.url("/ok.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260418T135000Z&X-Amz-Expires=900&X-Amz-Signature=abc"), // valid until 14:05
		m.url("/ok.mp4?x-goog-date=20260418T135959Z&x-goog-expires=60&x-goog-signature=abc"),
		m.url("/ok.mp4?Expires=" + strconv.FormatInt(t0.Add(time.Minute).Unix(), 10) + "&Signature=abc&AWSAccessKeyId=AKIA"),
		m.url("/ok.mp4?Expires=1&utm=not-signed"), // Expires without a Signature is not a signature
		m.url("/redirect?to=/ok.mp4"),
	} {
		media, err := f.Fetch(context.Background(), u)
		require.NoError(t, err, u)
		assert.Equal(t, "video-bytes", string(media.Data))
		assert.Equal(t, "video/mp4", media.ContentType)
		assert.Equal(t, "/ok.mp4", media.URL.Path)
	}
}

// TestFetchFailures: every failure is SCRAPE_FAILED, whose message names
// the URL without query string or userinfo.
func TestFetchFailures(t *testing.T) {
	m := newMediaHost(t)
	gone := httptest.NewServer(http.NotFoundHandler())
	gonePort := strings.TrimPrefix(gone.URL, "http://127.0.0.1:")
	gone.Close()
	host := "http://media.test:" + m.port
	for _, tc := range []struct {
		name     string
		url      string
		cfg      upstream.FetcherConfig
		msg      string
		wantHits int64 // requests the media host received
	}{
		{"404", m.url("/missing"), upstream.FetcherConfig{},
			"Fetching " + host + "/missing returned HTTP 404.", 1},
		{"query and userinfo are not named", "http://alice:s3cret@media.test:" + m.port + "/missing?X-Amz-Credential=AKIA%2F20260418&sig=topsecret#frag", upstream.FetcherConfig{},
			"Fetching " + host + "/missing returned HTTP 404.", 1},
		{"expired S3 SigV4, refused before fetching", m.url("/ok.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA&X-Amz-Date=20260418T130000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=abc"),
			upstream.FetcherConfig{}, "Fetching " + host + "/ok.mp4 failed: its signature has expired. Sign URLs for at least 15 minutes.", 0},
		{"expired GCS V4", m.url("/ok.mp4?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Date=20260418T134500Z&X-Goog-Expires=900&X-Goog-Signature=abc"),
			upstream.FetcherConfig{}, "Fetching " + host + "/ok.mp4 failed: its signature has expired. Sign URLs for at least 15 minutes.", 0},
		{"expired V2 Expires with Signature", m.url("/ok.mp4?GoogleAccessId=svc&Expires=" + strconv.FormatInt(t0.Unix(), 10) + "&Signature=abc"),
			upstream.FetcherConfig{}, "Fetching " + host + "/ok.mp4 failed: its signature has expired. Sign URLs for at least 15 minutes.", 0},
		{"S3 says the request has expired", m.url("/s3-expired?X-Amz-Signature=abc"), upstream.FetcherConfig{},
			"Fetching " + host + "/s3-expired failed: its signature has expired. Sign URLs for at least 15 minutes.", 1},
		{"GCS says ExpiredToken", m.url("/gcs-expired"), upstream.FetcherConfig{},
			"Fetching " + host + "/gcs-expired failed: its signature has expired. Sign URLs for at least 15 minutes.", 1},
		{"plain access denied", m.url("/denied"), upstream.FetcherConfig{},
			"Fetching " + host + "/denied returned HTTP 403.", 1},
		{"no response headers in time", m.url("/slow-headers"), upstream.FetcherConfig{HeaderTimeout: 50 * time.Millisecond},
			"Fetching " + host + "/slow-headers timed out.", 1},
		{"the body stalls past the timeout", m.url("/slow-body"), upstream.FetcherConfig{Timeout: 100 * time.Millisecond},
			"Fetching " + host + "/slow-body timed out.", 1},
		{"too many redirects", m.url("/loop"), upstream.FetcherConfig{MaxRedirects: 3},
			"Fetching " + host + "/loop failed: too many redirects.", 4},
		{"redirects refused", m.url("/redirect?to=/ok.mp4"), upstream.FetcherConfig{MaxRedirects: -1},
			"Fetching " + host + "/redirect failed: too many redirects.", 1},
		{"host name does not resolve", "http://nowhere.test/a.png", upstream.FetcherConfig{},
			"Fetching http://nowhere.test/a.png failed: its host name could not be resolved.", 0},
		{"connection refused", "http://media.test:" + gonePort + "/a.png", upstream.FetcherConfig{},
			"Fetching http://media.test:" + gonePort + "/a.png failed: the host could not be reached.", 0},
		{"not http", "ftp://media.test/a.png", upstream.FetcherConfig{},
			"Fetching ftp://media.test/a.png failed: it is not an absolute http or https URL.", 0},
		{"a file URL", "file:///etc/passwd", upstream.FetcherConfig{},
			"Fetching file:///etc/passwd failed: it is not an absolute http or https URL.", 0},
		{"relative", "/uploads/a.png?token=x", upstream.FetcherConfig{},
			"Fetching /uploads/a.png failed: it is not an absolute http or https URL.", 0},
		{"redirect to another scheme", m.url("/redirect?to=ftp://media.test/a"), upstream.FetcherConfig{},
			"Fetching " + host + "/redirect failed: it is not an absolute http or https URL.", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := m.hits.Load()
			tc.cfg.AllowLoopback = true
			f, _, _ := newFetcher(t, tc.cfg)
			_, err := f.Fetch(context.Background(), tc.url)
			assert.Equal(t, scrapeFailed(tc.msg), rendered(t, err))
			assert.Equal(t, 502, apierror.StatusOf(err))
			assert.Equal(t, tc.wantHits, m.hits.Load()-before, "requests that reached the media host")
			assert.NotContains(t, err.Error(), "s3cret", "not even in the logged cause")
			assert.NotContains(t, err.Error(), "topsecret")
		})
	}
}

// TestFetchPayloadTooLarge: over the cap is PAYLOAD_TOO_LARGE with
// details.maxBytes, and reading stops at the cap.
func TestFetchPayloadTooLarge(t *testing.T) {
	m := newMediaHost(t)
	want := func(path string) string {
		return `{"error":{"code":"PAYLOAD_TOO_LARGE","message":"The file at http://media.test:` + m.port + path +
			` is larger than the limit of 1000 bytes.","requestId":"req_1","details":{"maxBytes":1000}}}`
	}
	f, _, _ := newFetcher(t, upstream.FetcherConfig{AllowLoopback: true, MaxBytes: 1000})

	t.Run("announced length", func(t *testing.T) {
		_, err := f.Open(context.Background(), m.url("/announced?sig=x"))
		assert.Equal(t, want("/announced"), rendered(t, err))
		assert.Equal(t, 413, apierror.StatusOf(err))
	})
	t.Run("exactly the cap", func(t *testing.T) {
		media, err := f.Fetch(context.Background(), m.url("/exact"))
		require.NoError(t, err)
		assert.Len(t, media.Data, 1000)
	})
	t.Run("streamed past the cap", func(t *testing.T) {
		r, err := f.Open(context.Background(), m.url("/stream"))
		require.NoError(t, err)
		assert.Equal(t, int64(-1), r.ContentLength)
		n, err := io.Copy(io.Discard, r.Body)
		assert.Equal(t, int64(1000), n, "no byte past the cap is handed out")
		assert.Equal(t, want("/stream"), rendered(t, err))
		_, err = r.Body.Read(make([]byte, 10))
		assert.True(t, apierror.HasCode(err, apierror.CodePayloadTooLarge), "the error sticks")
		require.NoError(t, r.Body.Close())
		select {
		case <-m.done:
		case <-time.After(10 * time.Second):
			t.Fatal("the media host kept sending")
		}
		assert.Less(t, m.written.Load(), int64(16<<20), "reading stopped: the host could not send its 64 MiB")
	})
}

// TestFetchRefusesLoopback: without the opt-in, loopback is refused in
// every spelling, before any connection (the media host, listening on
// 127.0.0.1, is never reached).
func TestFetchRefusesLoopback(t *testing.T) {
	m := newMediaHost(t)
	p := m.port
	f, r, d := newFetcher(t, upstream.FetcherConfig{})
	r.set("localhost", "127.0.0.1", "::1").set("media.test", "127.0.0.1")
	for _, host := range []string{
		"127.0.0.1", "2130706433", "0x7f000001", "0X7F000001", "127.1", "0177.0.0.1", "0x7f.0.0.1", "127.0.1",
		"0177.1", "017700000001", "127.000.000.001", "127.0.0.1.", "127.255.255.254", "[::1]", "[::ffff:127.0.0.1]",
		"[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]", "localhost", "media.test",
	} {
		u := "http://" + host + ":" + p + "/ok.mp4?token=abc"
		_, err := f.Fetch(context.Background(), u)
		require.Error(t, err, host)
		e, _ := apierror.As(err)
		require.NotNil(t, e, host)
		assert.Equal(t, apierror.CodeScrapeFailed, e.Code(), host)
		assert.Equal(t, "Fetching "+upstream.RedactURL(u)+" was refused: it does not point to a public internet address.", e.Message(), host)
		assert.Contains(t, err.Error(), "loopback", host)
	}
	assert.Zero(t, m.hits.Load(), "nothing reached the loopback host")
	assert.Empty(t, d.addresses(), "nothing was even dialled")
	_, err := f.Fetch(context.Background(), "http://256.1/x")
	assert.Contains(t, err.Error(), "malformed numeric", "a numeric host that is no address is refused, not resolved")
}

// TestFetchRefusesPrivateNetworks simulates hosts that resolve into private
// ranges, and literal private addresses: all are refused before a dial.
func TestFetchRefusesPrivateNetworks(t *testing.T) {
	for _, allowLoopback := range []bool{false, true} {
		t.Run(fmt.Sprintf("AllowLoopback=%v", allowLoopback), func(t *testing.T) {
			r := newResolver()
			resolved := map[string]string{
				"rfc1918-a.test": "10.1.2.3", "rfc1918-b.test": "172.16.5.4", "rfc1918-c.test": "192.168.1.1",
				"metadata.test": "169.254.169.254", "linklocal.test": "169.254.10.1", "ula.test": "fd12:3456::1",
				"linklocal6.test": "fe80::1", "mapped.test": "::ffff:10.0.0.1", "mapped-metadata.test": "::ffff:169.254.169.254",
				"nat64.test": "64:ff9b::a9fe:a9fe", "6to4.test": "2002:a00:1::1", "cgnat.test": "100.64.0.1",
				"zero.test": "0.0.0.0", "unspecified6.test": "::", "multicast.test": "224.0.0.251", "multicast6.test": "ff02::1",
				"broadcast.test": "255.255.255.255", "sitelocal.test": "fec0::1", "teredo.test": "2001::1",
			}
			for host, a := range resolved {
				r.set(host, a)
			}
			f, _, d := newFetcher(t, upstream.FetcherConfig{Resolver: r, AllowLoopback: allowLoopback})
			urls := []string{
				"http://169.254.169.254/latest/meta-data/iam/security-credentials/", "http://[fd00::1]/", "http://10.0.0.1/",
				"http://[fe80::1%25eth0]/", "http://0xa9fea9fe/", "http://[::ffff:a9fe:a9fe]/", "http://192.168.0.1:8080/admin",
			}
			for host := range resolved {
				urls = append(urls, "http://"+host+"/media.mp4")
			}
			for _, u := range urls {
				_, err := f.Fetch(context.Background(), u)
				e, ok := apierror.As(err)
				require.True(t, ok, "%s: %v", u, err)
				assert.Equal(t, apierror.CodeScrapeFailed, e.Code(), u)
				assert.Contains(t, e.Message(), "was refused", u)
			}
			assert.Empty(t, d.addresses(), "no private address was dialled")
		})
	}
}

// TestFetchMixedAnswer: a host resolving to a private and a loopback
// address (loopback allowed) is reached on the allowed address only.
func TestFetchMixedAnswer(t *testing.T) {
	m := newMediaHost(t)
	f, r, d := newFetcher(t, upstream.FetcherConfig{AllowLoopback: true})
	r.set("media.test", "10.0.0.1", "127.0.0.1")
	media, err := f.Fetch(context.Background(), m.url("/ok.mp4"))
	require.NoError(t, err)
	assert.Equal(t, "video-bytes", string(media.Data))
	assert.Equal(t, []string{"127.0.0.1:" + m.port}, d.addresses())
}

// TestFetchDialsTheCheckedAddress: the address checked is the address
// dialled, and a host is resolved once per connection, so a DNS answer
// that changes (rebinding) cannot slip a private address past the check;
// and every redirect is checked again.
func TestFetchDialsTheCheckedAddress(t *testing.T) {
	r := newResolver().set("cdn.test", "93.184.216.34")
	r.next["cdn.test"] = parseAddrs([]string{"10.0.0.9"}) // what a rebinding server answers next
	r.set("redirector.test", "93.184.216.35").set("internal.test", "10.20.30.40")
	f, _, d := newFetcher(t, upstream.FetcherConfig{Resolver: r})
	d.pipes["93.184.216.34:80"] = func(*http.Request) string {
		return "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 3\r\nConnection: close\r\n\r\npng"
	}
	d.pipes["93.184.216.35:80"] = func(req *http.Request) string {
		to := map[string]string{
			"/to-internal": "http://internal.test/secret",
			"/to-metadata": "http://169.254.169.254/latest/meta-data/",
			"/to-rebound":  "http://cdn.test/again",
			"/to-expired":  "http://cdn.test/a.png?X-Amz-Date=20260418T000000Z&X-Amz-Expires=60&X-Amz-Signature=x",
		}[req.URL.Path]
		return "HTTP/1.1 302 Found\r\nLocation: " + to + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
	}

	media, err := f.Fetch(context.Background(), "http://cdn.test/a.png")
	require.NoError(t, err)
	assert.Equal(t, "png", string(media.Data))
	assert.Equal(t, 1, r.lookups("cdn.test"))
	assert.Equal(t, []string{"93.184.216.34:80"}, d.addresses(), "the checked address was dialled, nothing else")

	for _, tc := range []struct{ path, msg string }{
		{"/to-internal", "was refused"},
		{"/to-metadata", "was refused"},
		{"/to-rebound", "was refused"}, // cdn.test now answers 10.0.0.9
		{"/to-expired", "its signature has expired"},
	} {
		_, err := f.Fetch(context.Background(), "http://redirector.test"+tc.path)
		e, ok := apierror.As(err)
		require.True(t, ok, "%s: %v", tc.path, err)
		assert.Equal(t, apierror.CodeScrapeFailed, e.Code())
		assert.Contains(t, e.Message(), tc.msg, tc.path)
		assert.Contains(t, e.Message(), "http://redirector.test"+tc.path, "the message names the URL the caller gave")
	}
	for _, a := range d.addresses() {
		assert.Contains(t, []string{"93.184.216.34:80", "93.184.216.35:80"}, a, "only checked public addresses were dialled (in memory)")
	}
}

// TestFetcherConfig: negative limits are errors.
func TestFetcherConfig(t *testing.T) {
	for _, cfg := range []upstream.FetcherConfig{{MaxBytes: -1}, {Timeout: -1}, {ConnectTimeout: -1}, {HeaderTimeout: -1}} {
		_, err := upstream.NewFetcher(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
	f, err := upstream.NewFetcher(upstream.FetcherConfig{})
	require.NoError(t, err)
	_, err = f.Fetch(context.Background(), "http://127.0.0.1:1/")
	assert.Contains(t, err.Error(), "loopback", "the default fetcher refuses loopback")
}
