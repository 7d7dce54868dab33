package httperror_test

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
)

// serve runs h on a real loopback listener with srv's settings and returns
// its address; the server is closed when the test ends.
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

// exchange is what roundTrip saw on one connection.
type exchange struct {
	resp *http.Response
	body string
	took time.Duration // from before the dial to the end of the response
	// closed is from before the dial to the server closing the connection
	// (the client's read after the response ending), and closeErr what
	// that read returned: io.EOF, or a reset when the server closed with
	// unread request bytes.
	closed   time.Duration
	closeErr error
}

// roundTrip dials addr, writes raw, reads one response and then waits for
// the server to close the connection, all within bound (the connection's
// deadline: a blocking read, not a sleep).
func roundTrip(t *testing.T, addr, raw string, bound time.Duration) exchange {
	t.Helper()
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(bound)))
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "a response within %s", bound)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	x := exchange{resp: resp, body: string(b), took: time.Since(start)}
	n, err := br.Read(make([]byte, 1))
	x.closed, x.closeErr = time.Since(start), err
	assert.Zero(t, n, "nothing after the response")
	return x
}

// requireClosedByServer checks that x's connection ended because the
// server closed it, not because the client's deadline fired.
func requireClosedByServer(t *testing.T, x exchange) {
	t.Helper()
	var ne net.Error
	require.False(t, errors.As(x.closeErr, &ne) && ne.Timeout(), "the server kept the connection open: %v", x.closeErr)
	require.True(t, errors.Is(x.closeErr, io.EOF) || errors.Is(x.closeErr, syscall.ECONNRESET), "closed by the server: %v", x.closeErr)
}

// connStates records the server's connection states, for a test to wait
// on a connection's StateClosed.
type connStates chan http.ConnState

func (c connStates) hook(_ net.Conn, s http.ConnState) {
	if s == http.StateClosed {
		c <- s
	}
}

// waitClosed waits up to bound for the server to close a connection.
func (c connStates) waitClosed(t *testing.T, bound time.Duration) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(bound):
		t.Fatalf("the server still held the connection after %s", bound)
	}
}

// unauthenticated answers every request UNAUTHENTICATED through w without
// reading the body, as authentication middleware does.
func unauthenticated(w *httperror.Writer) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.Write(rw, r, apierror.Unauthenticated())
	})
}

// wrapped is a middleware's response writer, which hides the server's
// methods behind its own type and offers Unwrap, as errkit's do.
type wrapped struct{ http.ResponseWriter }

func (w wrapped) Unwrap() http.ResponseWriter { return w.ResponseWriter }

const announcedBody = "POST /v1/projects HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"

// TestEarlyErrorDoesNotWaitForTheBody: a client announces a body and never
// sends it (or sends a little and stops), and the server's ReadTimeout is
// 30 s. The 401 arrives at once, because the writer's Connection: close
// makes net/http skip reading the body before it writes the header; and
// the server closes the connection at once after it, because the writer
// then sets a read deadline in the past, so the body's Close in
// net/http's finishRequest does not wait out the ReadTimeout either.
func TestEarlyErrorDoesNotWaitForTheBody(t *testing.T) {
	const readTimeout, bound = 30 * time.Second, 2 * time.Second
	w, err := httperror.New(httperror.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	direct := unauthenticated(w)
	noBody := announcedBody
	little := announcedBody + `{"name":`
	chunked := "POST /v1/projects HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"na"
	large := strings.Replace(announcedBody, "1000", "10000000", 1) // Close gives up at once, then waits 500 ms for the RST to pass
	tests := []struct {
		name     string
		h        http.Handler
		requests map[string]string
	}{
		{"direct", direct, map[string]string{"no body sent": noBody, "a little, then stops": little, "chunked, never ends": chunked, "over 256 KiB to come": large}},
		{"through a wrapping writer", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			direct.ServeHTTP(wrapped{rw}, r)
		}), map[string]string{"no body sent": noBody, "chunked, never ends": chunked}},
		{"body partly read", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			_, err := io.ReadFull(r.Body, make([]byte, 4))
			assert.NoError(t, err)
			direct.ServeHTTP(rw, r)
		}), map[string]string{"a little, then stops": little, "chunked, never ends": chunked}},
	}
	for _, tt := range tests {
		closed := make(connStates, len(tt.requests))
		addr := serve(t, &http.Server{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: readTimeout, ConnState: closed.hook}, tt.h)
		for rname, raw := range tt.requests {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				x := roundTrip(t, addr, raw, bound)
				assert.Equal(t, http.StatusUnauthorized, x.resp.StatusCode)
				assert.True(t, x.resp.Close, "Connection: close")
				assert.Contains(t, x.body, `"code":"UNAUTHENTICATED"`)
				requireClosedByServer(t, x)
				closed.waitClosed(t, bound)
				t.Logf("401 after %s, connection closed after %s, with the body unsent (ReadTimeout %s)", x.took, x.closed, readTimeout)
			})
		}
	}

	// A body read to its end: the connection closes all the same, and the
	// request's context is cancelled once the error is written, as
	// stopReading documents (net/http's idle watch sees the deadline).
	t.Run("body read to its end", func(t *testing.T) {
		ctxDone := make(chan bool, 1)
		h := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			_, err := io.Copy(io.Discard, r.Body)
			assert.NoError(t, err)
			direct.ServeHTTP(rw, r)
			select {
			case <-r.Context().Done():
				ctxDone <- true
			case <-time.After(bound):
				ctxDone <- false
			}
		})
		closed := make(connStates, 1)
		addr := serve(t, &http.Server{ReadTimeout: readTimeout, ConnState: closed.hook}, h)
		x := roundTrip(t, addr, strings.Replace(announcedBody, "1000", "2", 1)+"{}", 2*bound)
		assert.Equal(t, http.StatusUnauthorized, x.resp.StatusCode)
		assert.True(t, x.resp.Close)
		requireClosedByServer(t, x)
		closed.waitClosed(t, bound)
		assert.True(t, <-ctxDone, "the request's context is cancelled after the error response")
	})
}

// TestEarlyErrorHEAD: a HEAD error gets the same treatment.
func TestEarlyErrorHEAD(t *testing.T) {
	w, err := httperror.New(httperror.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	closed := make(connStates, 1)
	addr := serve(t, &http.Server{ReadTimeout: 30 * time.Second, ConnState: closed.hook}, unauthenticated(w))
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(2*time.Second)))
	_, err = io.WriteString(c, strings.Replace(announcedBody, "POST", "HEAD", 1))
	require.NoError(t, err)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.True(t, resp.Close)
	_, err = br.ReadByte()
	requireClosedByServer(t, exchange{closeErr: err})
	closed.waitClosed(t, 2*time.Second)
}

// TestWithoutCloseTheErrorWaits is the control: the same early 401 written
// without the writer is held by net/http until the body arrives or
// ReadTimeout cuts it, never earlier than that deadline.
func TestWithoutCloseTheErrorWaits(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	plain := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.WriteHeader(http.StatusUnauthorized)
	})
	addr := serve(t, &http.Server{ReadTimeout: readTimeout}, plain)
	x := roundTrip(t, addr, announcedBody, 10*time.Second)
	assert.Equal(t, http.StatusUnauthorized, x.resp.StatusCode)
	assert.GreaterOrEqual(t, x.took, readTimeout, "net/http read the body before writing the header")
	requireClosedByServer(t, x)
	t.Logf("a plain 401 waited %s for the unsent body (ReadTimeout %s)", x.took, readTimeout)
}

// TestConnectionCloseHeaderIsFresh: every response gets its own
// Connection value, so editing one response's header in place cannot
// change another's.
func TestConnectionCloseHeaderIsFresh(t *testing.T) {
	w, _ := newWriter(t, httperror.Config{})
	var first http.Header
	for i := range 2 {
		rec := httptest.NewRecorder()
		w.Write(rec, httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("{}")), apierror.NotFound())
		require.Equal(t, []string{"close"}, rec.Header()["Connection"])
		if i == 0 {
			first = rec.Header()
			first["Connection"][0] = "keep-alive" // a later middleware editing in place
		}
	}
	assert.Equal(t, "keep-alive", first.Get("Connection"))
	rec := httptest.NewRecorder()
	w.Write(rec, httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("{}")), apierror.NotFound())
	assert.Equal(t, []string{"close"}, rec.Header()["Connection"])
}

// TestKeepAliveWithoutBody: an error to a request without a body keeps the
// connection; an error to one with a body closes it, read or not (the
// writer cannot tell without blocking).
func TestKeepAliveWithoutBody(t *testing.T) {
	w, _ := newWriter(t, httperror.Config{})
	tests := []struct {
		name  string
		req   func() *http.Request
		close bool
	}{
		{"GET", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/x", nil) }, false},
		{"POST without body", func() *http.Request { return httptest.NewRequest(http.MethodPost, "/x", http.NoBody) }, false},
		{"POST with body", func() *http.Request { return httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("{}")) }, true},
		{"POST chunked", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("{}"))
			r.ContentLength = -1
			return r
		}, true},
		{"HTTP/2 with body", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("{}"))
			r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
			return r
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w.Write(rec, tt.req(), apierror.NotFound())
			if tt.close {
				assert.Equal(t, []string{"close"}, rec.Header().Values("Connection"))
			} else {
				assert.Empty(t, rec.Header().Values("Connection"))
			}
		})
	}

	// On the wire: two GETs with errors share one connection.
	addr := serve(t, &http.Server{ReadHeaderTimeout: 5 * time.Second}, unauthenticated(w))
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	br := bufio.NewReader(c)
	for range 2 {
		_, err = io.WriteString(c, "GET /v1/projects HTTP/1.1\r\nHost: api.test\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.False(t, resp.Close)
	}
}
