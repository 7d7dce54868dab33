package httperror_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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

// roundTrip dials addr, writes raw, and reads one response, waiting at
// most bound for it. It returns the response (body read) and the time from
// before the dial to the end of the response.
func roundTrip(t *testing.T, addr, raw string, bound time.Duration) (*http.Response, string, time.Duration) {
	t.Helper()
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(bound)))
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err, "a response within %s", bound)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return resp, string(b), time.Since(start)
}

// unauthenticated answers every request UNAUTHENTICATED through w without
// reading the body, as authentication middleware does.
func unauthenticated(w *httperror.Writer) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.Write(rw, r, apierror.Unauthenticated())
	})
}

const announcedBody = "POST /v1/projects HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"

// TestEarlyErrorDoesNotWaitForTheBody: a client announces a 1000-byte
// body and never sends it (or sends a little and stops). The 401 arrives
// at once although the server would wait a minute for the body, because
// the writer's Connection: close makes net/http skip reading what remains
// of the body before it writes the header.
func TestEarlyErrorDoesNotWaitForTheBody(t *testing.T) {
	w, _ := newWriter(t, httperror.Config{})
	addr := serve(t, &http.Server{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: time.Minute}, unauthenticated(w))
	for name, raw := range map[string]string{
		"no body sent":         announcedBody,
		"a little, then stops": announcedBody + `{"name":`,
		"chunked, never ends":  "POST /v1/projects HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"na",
	} {
		t.Run(name, func(t *testing.T) {
			resp, body, took := roundTrip(t, addr, raw, 10*time.Second)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.True(t, resp.Close, "Connection: close")
			assert.Contains(t, body, `"code":"UNAUTHENTICATED"`)
			assert.Less(t, took, 30*time.Second, "far before the server's one-minute ReadTimeout")
			t.Logf("401 after %s with the body unsent (server ReadTimeout 1m)", took)
		})
	}
}

// TestWithoutCloseTheErrorWaits is the control: the same early 401 written
// without Connection: close is held by net/http until the body arrives or
// ReadTimeout cuts it, never earlier than that deadline.
func TestWithoutCloseTheErrorWaits(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	plain := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.WriteHeader(http.StatusUnauthorized)
	})
	addr := serve(t, &http.Server{ReadTimeout: readTimeout}, plain)
	resp, _, took := roundTrip(t, addr, announcedBody, 10*time.Second)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.GreaterOrEqual(t, took, readTimeout, "net/http read the body before writing the header")
	t.Logf("a plain 401 waited %s for the unsent body (ReadTimeout %s)", took, readTimeout)
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
