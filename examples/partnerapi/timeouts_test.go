package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// dial opens a raw connection to addr, closed when the test ends.
func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn, bufio.NewReader(conn)
}

// send writes s on conn.
func send(t *testing.T, conn net.Conn, s string) {
	t.Helper()
	_, err := io.WriteString(conn, s)
	require.NoError(t, err)
}

// readResponse reads one response from br within limit. A
// "Connection: close" (which net/http's reader turns into Response.Close)
// is kept in its header.
func readResponse(t *testing.T, conn net.Conn, br *bufio.Reader, limit time.Duration) response {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(limit)))
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.Close {
		resp.Header.Set("Connection", "close")
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// waitClosed reads from br until the server closes the connection (EOF or
// a reset), within limit, and returns what it read.
func waitClosed(t *testing.T, conn net.Conn, br *bufio.Reader, limit time.Duration) []byte {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(limit)))
	b, err := io.ReadAll(br)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server did not close the connection within %v", limit)
	if err != nil {
		require.True(t, errors.Is(err, syscall.ECONNRESET), "want EOF or a reset, got %v", err)
	}
	return b
}

// postHead is the request line and headers of a create-content POST that
// announces a body of n bytes, with auth ("" for none) and extra headers.
func postHead(addr, auth string, n int, extra string) string {
	h := "POST /v1/projects/prj_auto/content HTTP/1.1\r\nHost: " + addr +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(n) + "\r\n" + extra
	if auth != "" {
		h += "Authorization: Bearer " + auth + "\r\n"
	}
	return h + "\r\n"
}

// TestBinaryTimeouts runs the real binary with short timeouts and checks
// each on raw connections: an early 401 leaves before the announced body,
// a dribbling body is cut at -read-timeout, slow headers at
// -read-header-timeout, an idle keep-alive at -idle-timeout, and headers
// over 64 KiB are refused.
func TestBinaryTimeouts(t *testing.T) {
	forEachFramework(t, testBinaryTimeouts)
}

func testBinaryTimeouts(t *testing.T, framework string) {
	const (
		readHeaderTimeout = 300 * time.Millisecond
		readTimeout       = 1500 * time.Millisecond
		idleTimeout       = 500 * time.Millisecond
		slack             = time.Second // scheduling, and net/http's 500ms lingering close
	)
	b := startBinary(t, framework,
		"-read-header-timeout", readHeaderTimeout.String(), "-read-timeout", readTimeout.String(),
		"-idle-timeout", idleTimeout.String(), "-write-timeout", "5s", "-admin-token", adminToken)
	addr := strings.TrimPrefix(b.base, "http://")

	t.Run("an early 401 does not wait for the body", func(t *testing.T) {
		t.Parallel()
		for _, auth := range []string{"", "lp_wrong"} {
			t.Run("auth "+auth, func(t *testing.T) {
				t.Parallel()
				earlyAnswer(t, addr, auth, readTimeout, slack)
			})
		}
	})

	t.Run("a dribbling body is cut at the read timeout", func(t *testing.T) {
		t.Parallel()
		conn, br := dial(t, addr)
		start := time.Now()
		send(t, conn, postHead(addr, keyFull, 100, "")+`{"hook":"`)
		rest := waitClosed(t, conn, br, readTimeout+slack)
		took := time.Since(start)
		require.GreaterOrEqual(t, took, readTimeout-100*time.Millisecond)
		require.Less(t, took, readTimeout+slack)
		// The handler's read failed: VALIDATION, when the answer gets out
		// before the connection goes.
		if len(rest) > 0 {
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(rest)), nil)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			env := requireError(t, response{resp.StatusCode, resp.Header, body}, 422, "VALIDATION")
			requireDetails(t, env, `{"issues":[{"path":"body","message":"The body could not be read."}]}`)
		}
		t.Logf("slow body cut after %v (-read-timeout %v), answer: %q", took.Round(time.Millisecond), readTimeout, firstLine(rest))
	})

	t.Run("slow headers are cut at the read-header timeout", func(t *testing.T) {
		t.Parallel()
		conn, br := dial(t, addr)
		start := time.Now()
		send(t, conn, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n")
		rest := waitClosed(t, conn, br, readHeaderTimeout+slack)
		took := time.Since(start)
		require.GreaterOrEqual(t, took, readHeaderTimeout-50*time.Millisecond)
		require.Empty(t, rest, "net/http closes without an answer")
		t.Logf("slow headers cut after %v", took.Round(time.Millisecond))
	})

	t.Run("an idle keep-alive is closed at the idle timeout", func(t *testing.T) {
		t.Parallel()
		conn, br := dial(t, addr)
		send(t, conn, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
		require.Equal(t, 200, readResponse(t, conn, br, time.Second).status)
		start := time.Now()
		require.Empty(t, waitClosed(t, conn, br, idleTimeout+slack))
		took := time.Since(start)
		require.GreaterOrEqual(t, took, idleTimeout-50*time.Millisecond)
		t.Logf("idle keep-alive closed after %v", took.Round(time.Millisecond))
	})

	t.Run("headers over 64 KiB", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			size   int
			status int
		}{{32 << 10, 200}, {80 << 10, 431}} {
			conn, br := dial(t, addr)
			send(t, conn, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\nX-Pad: "+strings.Repeat("a", tt.size)+"\r\n\r\n")
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(2*time.Second)))
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err)
			_ = resp.Body.Close()
			require.Equal(t, tt.status, resp.StatusCode, "%d bytes of headers", tt.size)
		}
	})
}

// earlyAnswer sends a POST announcing a body it never sends, with auth ("",
// or a wrong key): the 401 must leave at once, and the connection end at
// the read timeout at the latest.
func earlyAnswer(t *testing.T, addr, auth string, readTimeout, slack time.Duration) {
	conn, br := dial(t, addr)
	start := time.Now()
	send(t, conn, postHead(addr, auth, 1000, "")) // the body never comes
	resp := readResponse(t, conn, br, readTimeout/2)
	took := time.Since(start)
	requireError(t, resp, 401, "UNAUTHENTICATED")
	require.Equal(t, "close", resp.header.Get("Connection"))
	require.Less(t, took, readTimeout/2, "the 401 waited for the body")
	waitClosed(t, conn, br, readTimeout+slack)
	require.Less(t, time.Since(start), readTimeout+slack)
	t.Logf("auth %q: 401 after %v, connection closed after %v", auth, took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// firstLine is the status line of a raw answer, for the log.
func firstLine(b []byte) string {
	line, _, _ := strings.Cut(string(b), "\r\n")
	return line
}

// TestBinaryStopWithSlowClients: SIGTERM with slow clients connected (a
// body dribbling into a running handler, an answered 401 whose body never
// came, headers never finished, an idle keep-alive) still exits 0 within
// the shutdown timeout, the read timeout being far longer: what is still
// open then is closed.
func TestBinaryStopWithSlowClients(t *testing.T) {
	forEachFramework(t, testBinaryStopWithSlowClients)
}

func testBinaryStopWithSlowClients(t *testing.T, framework string) {
	const shutdownTimeout = time.Second
	b := startBinary(t, framework, "-shutdown-timeout", shutdownTimeout.String(), "-read-timeout", "30s")
	addr := strings.TrimPrefix(b.base, "http://")

	// A body dribbling into the handler: 100 Continue says the handler
	// is reading it.
	dribble, dribbleBr := dial(t, addr)
	send(t, dribble, postHead(addr, keyFull, 100, "Expect: 100-continue\r\n"))
	require.Equal(t, http.StatusContinue, readResponse(t, dribble, dribbleBr, 5*time.Second).status)
	send(t, dribble, `{"hook":"`)
	// A 401 answered at once, its body never sent.
	unauth, unauthBr := dial(t, addr)
	send(t, unauth, postHead(addr, "", 1000, ""))
	requireError(t, readResponse(t, unauth, unauthBr, time.Second), 401, "UNAUTHENTICATED")
	// Headers never finished.
	slow, _ := dial(t, addr)
	send(t, slow, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n")
	// An idle keep-alive.
	idle, idleBr := dial(t, addr)
	send(t, idle, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	require.Equal(t, 200, readResponse(t, idle, idleBr, time.Second).status)

	start := time.Now()
	require.NoError(t, b.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-b.exited:
		require.NoError(t, err, "exit status; stderr:\n%s", b.stderr.String())
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatalf("no exit %v after SIGTERM; stderr:\n%s", shutdownTimeout+5*time.Second, b.stderr.String())
	}
	took := time.Since(start)
	require.Equal(t, 0, b.cmd.ProcessState.ExitCode())
	require.GreaterOrEqual(t, took, shutdownTimeout-100*time.Millisecond, "the in-flight handler had the shutdown timeout")
	require.Less(t, took, shutdownTimeout+2*time.Second)
	stderr := b.stderr.String()
	require.Contains(t, stderr, `"msg":"shutdown timeout: closing the connections still open"`)
	require.Contains(t, stderr, `"msg":"stopped"`)
	waitClosed(t, dribble, dribbleBr, time.Second)
	t.Logf("exited %v after SIGTERM (-shutdown-timeout %v)", took.Round(time.Millisecond), shutdownTimeout)
}
