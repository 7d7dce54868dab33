package reachtest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/bearer"
	"github.com/layershq/errkit/jsonbody"
	"github.com/layershq/errkit/nethttp"
)

// recommended returns the http.Server settings of docs/operations.md
// ("Server timeouts") with every duration divided by div, so that a test
// sees each one fire in about a second.
func recommended(div time.Duration) *http.Server {
	return &http.Server{
		ReadHeaderTimeout: 5 * time.Second / div,
		ReadTimeout:       30 * time.Second / div,
		WriteTimeout:      60 * time.Second / div,
		IdleTimeout:       120 * time.Second / div,
		MaxHeaderBytes:    64 << 10,
	}
}

// div makes the recommended ReadTimeout one second.
const div = 30

// dribble writes one byte of s every interval on c until s is written, a
// write fails or stop is closed. It returns when it is done.
func dribble(c net.Conn, s string, interval time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; i < len(s); i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if _, err := c.Write([]byte{s[i]}); err != nil {
			return
		}
	}
}

// slowClient dials addr, writes head at once and then body one byte every
// 20 ms, and returns what the server sent before closing (reading at most
// 10 s) with the time from the dial to the close (or reset).
func slowClient(t *testing.T, addr, head, body string) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(c, head)
	require.NoError(t, err)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { dribble(c, body, 20*time.Millisecond, stop) })
	defer func() { close(stop); wg.Wait() }()
	b, err := io.ReadAll(c)
	if !errors.Is(err, syscall.ECONNRESET) {
		// A reset is a close too: the server closed with dribbled bytes
		// still arriving, and the kernel answered them with RST.
		require.NoError(t, err, "the server closes the connection")
	}
	return string(b), time.Since(start)
}

// within asserts that a cut came at its deadline, not before and not
// long after (the slack absorbs a loaded CI machine).
func within(t *testing.T, took, deadline time.Duration) {
	t.Helper()
	assert.GreaterOrEqual(t, took, deadline-50*time.Millisecond)
	assert.Less(t, took, deadline+2*time.Second)
}

// api is an errkit service with the demo's shape: bearer authentication
// in front of a route that decodes a JSON body.
func api(t *testing.T) http.Handler {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("POST /v1/content", nethttp.Handler(func(w http.ResponseWriter, r *http.Request) error {
		var v map[string]any
		if err := jsonbody.Decode(r, &v, jsonbody.Options{}); err != nil {
			return err
		}
		w.WriteHeader(http.StatusCreated)
		return nil
	}))
	mux.Handle("PUT /v1/uploads", nethttp.Handler(func(w http.ResponseWriter, r *http.Request) error {
		// A route for large bodies extends its own read deadline.
		if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(3 * recommended(div).ReadTimeout)); err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return err
		}
		_, err = io.WriteString(w, strings.Repeat("x", int(n)))
		return err
	}))
	mux.Handle("GET /v1/export", nethttp.Handler(func(w http.ResponseWriter, r *http.Request) error {
		chunk := make([]byte, 1<<20)
		start := time.Now()
		for range 1 << 10 { // up to 1 GiB: far more than a socket buffers
			if _, err := w.Write(chunk); err != nil {
				writeCut <- time.Since(start)
				return nil
			}
		}
		writeCut <- -1
		return nil
	}))
	authed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/export" || r.URL.Path == "/v1/uploads" {
			mux.ServeHTTP(w, r)
			return
		}
		if err := bearer.Match(r, "sk_test_good"); err != nil {
			nethttp.Error(w, r, err)
			return
		}
		mux.ServeHTTP(w, r)
	})
	h, err := nethttp.Install(authed, nethttp.Config{})
	require.NoError(t, err)
	return h
}

// writeCut reports how long the export route wrote before its write failed.
var writeCut = make(chan time.Duration, 1)

const announce1000 = "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"

// TestUnauthenticatedSlowBody is the incident: an unauthenticated POST
// whose body never arrives gets its 401 at once, not after the body or the
// ReadTimeout.
func TestUnauthenticatedSlowBody(t *testing.T) {
	t.Parallel()
	srv := recommended(1) // the real settings: a 30 s ReadTimeout
	addr := serve(t, srv, api(t))
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(c, "POST /v1/content HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer wrong\r\n"+announce1000)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	resp.Body.Close()
	took := time.Since(start)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.True(t, resp.Close)
	assert.Less(t, took, srv.ReadTimeout/2)
	t.Logf("FIGURE 401 to a POST whose body never arrives: %s (ReadTimeout %s)", took, srv.ReadTimeout)
}

// TestSlowBodyIsCut: a body dribbled at one byte per 20 ms is cut at
// ReadTimeout (counted from the start of the request): the handler's read
// fails, it answers VALIDATION and the connection is closed. The client,
// still sending, may get a reset instead of the answer (net/http closes
// without draining), so only the cut is certain.
func TestSlowBodyIsCut(t *testing.T) {
	t.Parallel()
	srv := recommended(div)
	addr := serve(t, srv, api(t))
	got, took := slowClient(t, addr, "POST /v1/content HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer sk_test_good\r\n"+announce1000, `{"a":"`+strings.Repeat("x", 1000))
	within(t, took, srv.ReadTimeout)
	if got != "" { // the answer can be lost to the reset of the close
		assert.True(t, strings.HasPrefix(got, "HTTP/1.1 422 "), "%q", got)
		assert.Contains(t, got, `"message":"The body could not be read."`)
	}
	t.Logf("FIGURE slow body (1 byte / 20 ms) cut after %s (ReadTimeout %s)", took, srv.ReadTimeout)
}

// TestLargeBodyRouteExtendsItsDeadline: the same dribble passes on a route
// that extends its read deadline with http.ResponseController, beyond the
// server's ReadTimeout.
func TestLargeBodyRouteExtendsItsDeadline(t *testing.T) {
	t.Parallel()
	srv := recommended(div)
	addr := serve(t, srv, api(t))
	body := strings.Repeat("y", 75) // 75 × 20 ms = 1.5 × ReadTimeout
	got, took := slowClient(t, addr, "PUT /v1/uploads HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\nContent-Length: 75\r\n\r\n", body)
	assert.True(t, strings.HasPrefix(got, "HTTP/1.1 200 "), "%q", got)
	assert.True(t, strings.HasSuffix(got, strings.Repeat("x", 75)))
	assert.Greater(t, took, srv.ReadTimeout)
}

// TestSlowHeadersAreCut: headers dribbled at one byte per 20 ms are cut at
// ReadHeaderTimeout without an answer.
func TestSlowHeadersAreCut(t *testing.T) {
	t.Parallel()
	srv := recommended(div)
	addr := serve(t, srv, api(t))
	got, took := slowClient(t, addr, "GET /v1/content HTTP/1.1\r\n", "Host: api.test\r\nX-Pad: "+strings.Repeat("p", 1000))
	within(t, took, srv.ReadHeaderTimeout)
	assert.Empty(t, got)
	t.Logf("FIGURE slow headers cut after %s (ReadHeaderTimeout %s)", took, srv.ReadHeaderTimeout)
}

// TestSlowReaderIsCut: a client that never reads the response makes the
// handler's writes fail at WriteTimeout (counted from the end of the
// request headers).
func TestSlowReaderIsCut(t *testing.T) {
	t.Parallel()
	srv := recommended(div)
	addr := serve(t, srv, api(t))
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET /v1/export HTTP/1.1\r\nHost: api.test\r\n\r\n")
	require.NoError(t, err)
	var took time.Duration
	select {
	case took = <-writeCut:
	case <-time.After(10 * time.Second):
		t.Fatal("the write was never cut")
	}
	require.Positive(t, took, "the handler's write failed")
	within(t, took, srv.WriteTimeout)
	t.Logf("FIGURE non-reading client's response cut after %s (WriteTimeout %s)", took, srv.WriteTimeout)
}

// TestIdleKeepAliveIsClosed: a kept-alive connection that sends no next
// request is closed at IdleTimeout.
func TestIdleKeepAliveIsClosed(t *testing.T) {
	t.Parallel()
	srv := recommended(div)
	addr := serve(t, srv, api(t))
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(c, "GET /nowhere HTTP/1.1\r\nHost: api.test\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.False(t, resp.Close, "kept alive")
	idle := time.Now()
	_, err = br.ReadByte()
	require.ErrorIs(t, err, io.EOF, "closed by the server")
	took := time.Since(idle)
	within(t, took, srv.IdleTimeout)
	t.Logf("FIGURE idle keep-alive closed after %s (IdleTimeout %s)", took, srv.IdleTimeout)
}

// TestShutdownWithSlowClients: Shutdown with dribbling bodies open returns
// nil once ReadTimeout has cut them, inside a shutdown timeout longer than
// ReadTimeout; with a shorter one it returns the context's error and Close
// ends the rest.
func TestShutdownWithSlowClients(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		deadline time.Duration
		want     error
	}{
		{"shutdown timeout above ReadTimeout", 3 * recommended(div).ReadTimeout, nil},
		{"shutdown timeout below ReadTimeout", recommended(div).ReadTimeout / 4, context.DeadlineExceeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := recommended(div)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			srv.Handler = api(t)
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()

			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 5 {
				c, err := net.Dial("tcp", ln.Addr().String())
				require.NoError(t, err)
				defer c.Close()
				_, err = io.WriteString(c, "POST /v1/content HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer sk_test_good\r\n"+announce1000+"{")
				require.NoError(t, err)
				wg.Go(func() { dribble(c, strings.Repeat("x", 999), 20*time.Millisecond, stop) })
			}
			defer func() { close(stop); wg.Wait() }()
			// Wait until the requests are in their handlers, reading.
			require.Eventually(t, func() bool {
				resp, err := http.Get("http://" + ln.Addr().String() + "/nowhere")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return true
			}, 5*time.Second, 10*time.Millisecond)

			ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
			defer cancel()
			start := time.Now()
			err = srv.Shutdown(ctx)
			took := time.Since(start)
			if tt.want == nil {
				require.NoError(t, err)
				assert.Less(t, took, tt.deadline)
			} else {
				require.ErrorIs(t, err, tt.want)
				require.NoError(t, srv.Close())
			}
			assert.True(t, errors.Is(<-served, http.ErrServerClosed))
			t.Logf("FIGURE Shutdown(%s) with 5 dribbling bodies returned %v after %s", tt.deadline, err, took)
		})
	}
}
