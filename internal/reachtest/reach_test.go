package reachtest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/layershq/errkit/nethttp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve runs h on a loopback listener with srv's settings until the test
// ends, and returns the address.
func serve(t *testing.T, srv *http.Server, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv.Handler = h
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// exchange writes raw on a fresh connection and returns everything the
// server sends until it closes the connection (at most 10 s).
func exchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	b, err := io.ReadAll(c)
	require.NoError(t, err, "the server closes the connection")
	return string(b)
}

// plain is the head of net/http's own error answers.
const plain = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// TestNetHTTPAnswersBeforeHandlers: each request is refused by net/http's
// server while it reads the request, with a plain-text answer (or none),
// and the handler, an errkit-installed ServeMux, never runs.
func TestNetHTTPAnswersBeforeHandlers(t *testing.T) {
	var ran atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { ran.Add(1) })
	h, err := nethttp.Install(mux, nethttp.Config{})
	require.NoError(t, err)
	addr := serve(t, &http.Server{ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 4 << 10}, h)

	const ok = "GET / HTTP/1.1\r\nHost: api.test\r\n"
	tests := []struct {
		name string
		raw  string
		want string // the whole answer
	}{
		{"malformed request line", "GARBAGE\r\n\r\n", "HTTP/1.1 400 Bad Request" + plain + "400 Bad Request"},
		{"invalid method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 400 Bad Request" + plain + "400 Bad Request"},
		{"relative request target", "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 400 Bad Request" + plain + "400 Bad Request"},
		{"HTTP/0.9 request line", "GET /\r\n\r\n", "HTTP/1.1 400 Bad Request" + plain + "400 Bad Request"},
		{"unsupported version", "GET / HTTP/9.9\r\nHost: a\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version" + plain + "505 HTTP Version Not Supported: unsupported protocol version"},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request: missing required Host header" + plain + "400 Bad Request: missing required Host header"},
		{"two Host headers", ok + "Host: b\r\n\r\n", "HTTP/1.1 400 Bad Request" + plain + "400 Bad Request"},
		{"malformed Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "HTTP/1.1 400 Bad Request: malformed Host header" + plain + "400 Bad Request: malformed Host header"},
		{"space in a header name", ok + "Bad Name: x\r\n\r\n", "HTTP/1.1 400 Bad Request: invalid header name" + plain + "400 Bad Request: invalid header name"},
		{"space before the colon", ok + "X-Key : x\r\n\r\n", "HTTP/1.1 400 Bad Request: invalid header name" + plain + "400 Bad Request: invalid header name"},
		{"header line without colon", ok + "nocolon\r\n\r\n", "HTTP/1.1 400 Bad Request" + plain + "400 Bad Request"},
		{"NUL in a header value", ok + "X-Key: a\x00b\r\n\r\n", "HTTP/1.1 400 Bad Request" + plain + "400 Bad Request"},
		{"control byte in a header value", ok + "X-Key: a\x01b\r\n\r\n", "HTTP/1.1 400 Bad Request" + plain + "400 Bad Request"},
		{"headers over MaxHeaderBytes", ok + "X-Big: " + strings.Repeat("a", 10<<10) + "\r\n\r\n", "HTTP/1.1 431 Request Header Fields Too Large" + plain + "431 Request Header Fields Too Large"},
		{"request line over MaxHeaderBytes", "GET /" + strings.Repeat("a", 10<<10) + " HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 431 Request Header Fields Too Large" + plain + "431 Request Header Fields Too Large"},
		{"unsupported Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 501 Not Implemented" + plain + "Unsupported transfer encoding"},
		{"malformed Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", "HTTP/1.1 400 Bad Request" + plain + "400 Bad Request"},
		{"conflicting Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "HTTP/1.1 400 Bad Request" + plain + "400 Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, exchange(t, addr, tt.raw))
		})
	}

	t.Run("Expect other than 100-continue", func(t *testing.T) {
		got := exchange(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\nContent-Length: 1\r\n\r\na")
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
		require.NoError(t, err)
		assert.Equal(t, http.StatusExpectationFailed, resp.StatusCode)
		assert.Equal(t, "0", resp.Header.Get("Content-Length"), "no body at all")
		assert.Empty(t, resp.Header.Get("X-Request-Id"), "errkit never saw it")
	})
	t.Run("slow headers: closed without an answer", func(t *testing.T) {
		// A server of its own, so the header timeout can be short.
		addr := serve(t, &http.Server{ReadHeaderTimeout: 200 * time.Millisecond}, h)
		assert.Empty(t, exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n"))
	})
	assert.Zero(t, ran.Load(), "no handler ran")

	// A well-formed request on the same server does reach errkit, as a
	// control: the answers above are net/http's, not the setup's.
	got := exchange(t, addr, "GET /nowhere HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	assert.Contains(t, got, "X-Request-Id: req_")
	assert.EqualValues(t, 1, ran.Load())
}

// TestTLSHandshakeErrors: a TLS server answers plain HTTP with a fixed
// HTTP/1.0 400, and a broken handshake with a TLS alert and a line in
// http.Server.ErrorLog.
func TestTLSHandshakeErrors(t *testing.T) {
	var mu sync.Mutex
	var errLog bytes.Buffer
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(lockedWriter{&mu, &errLog}, "", 0)
	srv.StartTLS()
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	assert.Equal(t, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
		exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"))

	// A handshake record of garbage: a TLS alert record (content type 21)
	// and the connection closed, nothing HTTP.
	got := exchange(t, addr, "\x16\x03\x01\x00\x05hello")
	require.NotEmpty(t, got)
	assert.Equal(t, byte(21), got[0], "%q is a TLS alert", got)
	assert.NotContains(t, got, "HTTP")
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(errLog.String(), "http: TLS handshake error from 127.0.0.1:")
	}, 5*time.Second, 10*time.Millisecond)

	// And a real client that does not trust the certificate.
	c, err := tls.Dial("tcp", addr, &tls.Config{MinVersion: tls.VersionTLS12})
	if c != nil {
		c.Close()
	}
	require.Error(t, err)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
