package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// binary is the demo command started by a test.
type binary struct {
	cmd            *exec.Cmd
	exited         chan error
	stdout, stderr syncBuffer
	base           string // http://addr
}

// binaryDir holds the command built by buildBinary, once for every test.
var binaryDir string

// buildBinary builds the real command once per test run and returns its
// path.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "partnerapi-test-")
	if err != nil {
		return "", err
	}
	binaryDir = dir
	bin := filepath.Join(dir, "partnerapi")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	return bin, build.Run()
})

// removeBinary removes what buildBinary built; TestMain calls it.
func removeBinary() {
	if binaryDir != "" {
		_ = os.RemoveAll(binaryDir)
	}
}

// startBinary starts the real command with -framework framework and args on
// a free loopback port and waits until /healthz answers. The process is
// killed at cleanup if the test has not stopped it.
func startBinary(t *testing.T, framework string, args ...string) *binary {
	t.Helper()
	bin, err := buildBinary()
	require.NoError(t, err, "go build")

	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	args = append([]string{"-addr", addr, "-framework", framework}, args...)
	b := &binary{cmd: exec.Command(bin, args...), exited: make(chan error, 1), base: "http://" + addr}
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, &b.stderr
	require.NoError(t, b.cmd.Start())
	go func() { b.exited <- b.cmd.Wait() }()
	t.Cleanup(func() {
		if b.cmd.ProcessState == nil {
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
	})
	_, ok := waitFor(t, 10*time.Second, func() bool {
		resp, err := http.Get(b.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	require.True(t, ok, "server did not come up; stderr:\n%s", b.stderr.String())
	return b
}

// TestBinary builds the real command, starts it, serves one request, stops
// it with SIGINT and checks a clean exit, the banner on stdout and JSON log
// lines with the requestId on stderr.
func TestBinary(t *testing.T) {
	forEachFramework(t, testBinary)
}

func testBinary(t *testing.T, framework string) {
	b := startBinary(t, framework)
	cmd, exited, base := b.cmd, b.exited, b.base
	stdout, stderr := &b.stdout, &b.stderr

	resp := doURL(t, base, request{method: "GET", path: "/v1/whoami", key: keyFull})
	require.Equal(t, 200, resp.status)
	reqID := resp.header.Get("X-Request-Id")
	unauth := doURL(t, base, request{method: "GET", path: "/v1/whoami"})
	requireError(t, unauth, 401, "UNAUTHENTICATED")
	requireError(t, admin(t, base, "GET", "", "admin_demo"), 401, "UNAUTHENTICATED")
	adminStatus := admin(t, base, "GET", "", bannerToken(t, stdout)).status

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-exited:
		require.NoError(t, err, "exit status; stderr:\n%s", stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("no exit 10s after SIGINT; stderr:\n%s", stderr.String())
	}
	require.Equal(t, 0, cmd.ProcessState.ExitCode())

	out := stdout.String()
	require.Contains(t, out, base+" ("+framework+")")
	for _, k := range demoKeys {
		require.Contains(t, out, k.Secret)
	}
	require.Equal(t, 3, strings.Count(out, "curl -i "))
	// Without -admin-token, a random operator token, printed once and
	// never logged; the operator API took it while the process ran.
	token := regexp.MustCompile(`Operator token \(/admin/killswitch\): (admin_[0-9a-f]{32})\n`).FindStringSubmatch(out)
	require.NotNil(t, token, "no generated operator token in the banner:\n%s", out)
	require.Equal(t, 1, strings.Count(out, token[1]))
	require.Equal(t, adminStatus, 200)
	require.NotContains(t, stderr.String(), token[1], "the operator token is never logged")
	require.NotContains(t, out, "admin_demo")

	var sawWhoami, sawUnauth, sawStopped bool
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), "stderr line is not JSON: %s", line)
		require.Contains(t, m, "level")
		require.Contains(t, m, "time")
		require.Contains(t, m, "msg")
		if _, about := m["route"]; about {
			require.Regexp(t, `^req_`, m["requestId"], "request line without requestId: %s", line)
		}
		switch {
		case m["requestId"] == reqID && m["msg"] == "request":
			sawWhoami = true
			require.Equal(t, "/v1/whoami", m["route"])
			require.EqualValues(t, 200, m["status"])
		case m["requestId"] == unauth.header.Get("X-Request-Id") && m["code"] == "UNAUTHENTICATED":
			sawUnauth = true
		case m["msg"] == "listening":
			require.Equal(t, framework, m["framework"])
		case m["msg"] == "stopped":
			sawStopped = true
		}
	}
	require.True(t, sawWhoami, "no access log line for %s:\n%s", reqID, stderr.String())
	require.True(t, sawUnauth, "no error log line for the 401")
	require.True(t, sawStopped, "no graceful stop")
}

// bannerToken returns the operator token of the banner on out, once it is
// printed (just after the listener is serving).
func bannerToken(t *testing.T, out *syncBuffer) string {
	t.Helper()
	re := regexp.MustCompile(`Operator token \(/admin/killswitch\): (\S+)\n`)
	var m []string
	_, ok := waitFor(t, 5*time.Second, func() bool {
		m = re.FindStringSubmatch(out.String())
		return m != nil
	})
	require.True(t, ok, "no operator token in the banner:\n%s", out.String())
	return m[1]
}

// TestFlags rejects rates the rate limiter cannot use before starting.
func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-read-burst", "0"},
		{"-read-burst", "1.5"},
		{"-write-rate", "0"},
		{"-write-rate", "-1"},
		{"-read-rate", "NaN"},
		{"-nope"},
		{"-framework", "echo6"},
		{"-framework", ""},
		{"-framework", "Echo4"},
		{"-auth-failure-burst", "0"},
		{"-auth-failure-rate", "-1"},
		{"-public-burst", "0.5"},
		{"-public-rate", "0"},
		{"-trusted-proxies", "10.0.0.0/33"},
		{"-trusted-proxies", "proxy.internal"},
		{"-read-timeout", "0s"},
		{"-read-header-timeout", "-1s"},
		{"-write-timeout", "0s"},
		{"-idle-timeout", "0s"},
		{"-shutdown-timeout", "0s"},
		{"-redis-cluster", ","},
		{"-redis", "redis://127.0.0.1:1/0", "-redis-cluster", "127.0.0.1:1"},
	} {
		var out bytes.Buffer
		require.Error(t, run(args, &out), "%v", args)
		require.Empty(t, out.String(), "%v printed a banner", args)
	}
	r, err := rate(1e9, 1e9)
	require.NoError(t, err)
	require.Equal(t, 1_000_000_000, r.Burst)

	err = run([]string{"-framework", "gin"}, io.Discard)
	require.EqualError(t, err, `-framework "gin": want one of echo4, echo5, nethttp`)
	_, err = New(Config{Framework: "gin"})
	require.EqualError(t, err, `unknown framework "gin": want one of echo4, echo5, nethttp`)
}

// TestBinaryGracefulStop checks "shuts down gracefully on SIGTERM (in-flight
// requests finish)" on the real binary: a POST whose body is still arriving
// when SIGTERM lands is served to the end (202), no new connection is
// accepted meanwhile, and the process then exits 0.
func TestBinaryGracefulStop(t *testing.T) {
	forEachFramework(t, testBinaryGracefulStop)
}

func testBinaryGracefulStop(t *testing.T, framework string) {
	b := startBinary(t, framework)
	cmd, exited, stderr := b.cmd, b.exited, &b.stderr
	addr := strings.TrimPrefix(b.base, "http://")

	// The request line and the headers, over a raw connection, with
	// "Expect: 100-continue": net/http answers 100 Continue when the
	// handler starts reading the body, so once it has arrived the request
	// is in flight inside the handler, waiting for a body that is only sent
	// after the signal.
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	body := `{"hook":"graceful stop"}`
	_, err = conn.Write([]byte("POST /v1/projects/prj_auto/content HTTP/1.1\r\nHost: " + addr +
		"\r\nAuthorization: Bearer " + keyFull + "\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\nExpect: 100-continue\r\n\r\n"))
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	br := bufio.NewReader(conn)
	cont, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusContinue, cont.StatusCode)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 5*time.Second, 20*time.Millisecond, "the listener is closed on SIGTERM")
	select {
	case err := <-exited:
		t.Fatalf("exited (%v) before the in-flight request finished; stderr:\n%s", err, stderr.String())
	default:
	}

	_, err = conn.Write([]byte(body))
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "the in-flight request was served")
	require.Regexp(t, `^req_`, resp.Header.Get("X-Request-Id"))

	select {
	case err := <-exited:
		require.NoError(t, err, "exit status; stderr:\n%s", stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("no exit 10s after SIGTERM; stderr:\n%s", stderr.String())
	}
	require.Contains(t, stderr.String(), `"msg":"stopped"`)
}
