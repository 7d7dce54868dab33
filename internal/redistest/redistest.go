// Package redistest gives tests a real Redis server to talk to.
//
// Two entry points exist:
//
//   - Server returns a Redis suitable for ordinary tests. When the REDIS_URL
//     environment variable is set (scripts/test sets it for the whole run),
//     that shared server is used; otherwise a private redis-server process is
//     started for the test. Tests on a shared server must keep their keys
//     apart with Instance.Prefix and must never FLUSHALL/FLUSHDB.
//   - Private always starts a redis-server process owned by the test, which
//     the test may Stop and Start again on the same port (for outage tests),
//     or Pause (SIGSTOP) and Resume (SIGCONT) to stall it: the process keeps
//     its port and its data, accepts connections and answers nothing.
//   - Cluster returns a three-master Redis Cluster: the one named by
//     REDIS_CLUSTER_ADDRS (scripts/test starts one for the whole run), or
//     three private cluster-enabled servers joined with
//     "redis-cli --cluster create".
//   - PrivateCluster always starts three private masters whose nodes
//     (ClusterInstance.Node) the test may Pause and Resume.
//
// The redis-server binary is taken from REDIS_SERVER_BIN or, failing that,
// from PATH; redis-cli (for Cluster) from REDIS_CLI_BIN, PATH, or next to
// redis-server. When no usable Redis can be obtained the test is skipped, except
// when the CI environment variable is "true" (or "1"): then the test fails,
// so that CI can never pass by silently skipping Redis-backed tests.
package redistest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// readyTimeout bounds how long a started server may take to answer PING.
	readyTimeout = 10 * time.Second
	// stopTimeout bounds how long a stopped server may keep its port open.
	stopTimeout = 5 * time.Second
	// startAttempts is how many free ports are tried when the chosen port
	// turns out to be taken by the time redis-server binds it.
	startAttempts = 3
)

// Instance is a Redis server a test can use: either the shared server named
// by REDIS_URL or a private redis-server process owned by the test.
type Instance struct {
	url     string
	addr    string
	private bool

	// Private servers only.
	bin   string
	dir   string
	port  int
	extra []string // server arguments, kept across restarts

	mu     sync.Mutex
	proc   *process // nil while stopped
	paused bool
}

// process is one running redis-server.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd.Wait returns
}

// Server returns a Redis for the test. If REDIS_URL is set, the shared server
// it names is used (it must answer PING, or the test fails). Otherwise a
// private redis-server is started and stopped again when the test ends. If
// no server can be obtained, the test is skipped, or fails when CI is "true".
func Server(t testing.TB) *Instance {
	t.Helper()
	if raw := os.Getenv("REDIS_URL"); raw != "" {
		opts, err := redis.ParseURL(raw)
		if err != nil {
			t.Fatalf("redistest: REDIS_URL=%q is not a valid Redis URL: %v", raw, err)
		}
		if err := ping(opts.Addr, time.Second); err != nil {
			t.Fatalf("redistest: shared Redis at REDIS_URL=%q does not answer PING: %v", raw, err)
		}
		return &Instance{url: raw, addr: opts.Addr}
	}
	return startPrivate(t)
}

// Private starts a redis-server process owned by the test, independent of
// REDIS_URL, and registers a cleanup that stops it. The test may Stop and
// Start it. If redis-server cannot be found or started, the test is skipped,
// or fails when CI is "true".
func Private(t testing.TB) *Instance {
	t.Helper()
	return startPrivate(t)
}

// PrivateArgs is Private with extra redis-server arguments (for example
// "--appendonly", "yes" for a server that keeps its data across Stop and
// Start, or "--rename-command", "CONFIG", "" for one that refuses CONFIG).
// Later arguments override the defaults (no persistence); Start reuses
// them.
func PrivateArgs(t testing.TB, extra ...string) *Instance {
	t.Helper()
	return startPrivate(t, extra...)
}

// Addr returns the server address as host:port.
func (i *Instance) Addr() string { return i.addr }

// URL returns a redis:// URL for the server, suitable for redis.ParseURL.
func (i *Instance) URL() string { return i.url }

// IsPrivate reports whether the server is a private process owned by the
// test (and so supports Stop and Start).
func (i *Instance) IsPrivate() bool { return i.private }

// Client returns a go-redis client connected to the server (using the
// database named in the URL). The client is closed when the test ends.
func (i *Instance) Client(t testing.TB) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(i.url)
	if err != nil {
		t.Fatalf("redistest: parse %q: %v", i.url, err)
	}
	// Honour context deadlines, as the errkit stores require for their
	// per-call timeouts.
	opts.ContextTimeoutEnabled = true
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Prefix returns a key prefix unique to this call, built from the test name
// and a random suffix and ending in ":". Tests sharing one server must put
// all their keys under such a prefix so they never collide.
func (i *Instance) Prefix(t testing.TB) string {
	t.Helper()
	return prefix(t)
}

// prefix builds a key prefix unique to the call from the test name.
func prefix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("redistest: random prefix: %v", err)
	}
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '_', r == '-', r == '/', r == '.':
			return r
		}
		return '_'
	}, t.Name())
	return "test:" + name + ":" + hex.EncodeToString(b[:]) + ":"
}

// Stop kills a private server and waits until its port refuses connections.
// Calling Stop on a stopped server does nothing. It fails the test on a
// shared server.
func (i *Instance) Stop(t testing.TB) {
	t.Helper()
	if !i.private {
		t.Fatalf("redistest: Stop needs a private server (use redistest.Private)")
	}
	i.mu.Lock()
	p := i.proc
	i.proc = nil
	i.mu.Unlock()
	if p == nil {
		return
	}
	i.mu.Lock()
	i.paused = false
	i.mu.Unlock()
	p.kill()
	deadline := time.Now().Add(stopTimeout)
	for {
		c, err := net.DialTimeout("tcp", i.addr, 200*time.Millisecond)
		if err != nil {
			return
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("redistest: %s still accepts connections %v after Stop", i.addr, stopTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Pause stalls a private server with SIGSTOP: its port stays open and
// accepts connections, commands sent to it queue in the kernel and run
// when it is resumed. A cleanup registered by Pause resumes it, so a
// failed test never leaves a stopped process behind. Pausing a paused or
// stopped server does nothing. It fails the test on a shared server.
func (i *Instance) Pause(t testing.TB) {
	t.Helper()
	i.signal(t, sigStop, true)
	t.Cleanup(func() { i.Resume(t) })
}

// Resume continues a paused private server (SIGCONT) and waits until it
// answers PING. Resuming a running server does nothing.
func (i *Instance) Resume(t testing.TB) {
	t.Helper()
	i.signal(t, sigCont, false)
	if err := waitPing(i.addr); err != nil {
		t.Errorf("redistest: %s does not answer after SIGCONT: %v", i.addr, err)
	}
}

// signal sends sig to a private server's process and records whether it is
// paused.
func (i *Instance) signal(t testing.TB, sig os.Signal, pause bool) {
	t.Helper()
	if !i.private {
		t.Fatalf("redistest: Pause and Resume need a private server (use redistest.Private)")
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.proc == nil || i.paused == pause {
		return
	}
	if sig == nil {
		t.Fatalf("redistest: Pause and Resume need SIGSTOP and SIGCONT (Unix)")
	}
	if err := i.proc.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("redistest: signal %v to redis-server on %s: %v", sig, i.addr, err)
	}
	if pause {
		// The signal is asynchronous: a command sent before the process
		// stopped would still be answered.
		if err := waitState(i.proc.cmd.Process.Pid, stopTimeout, "Tt"); err != nil {
			t.Fatalf("redistest: redis-server on %s did not stop: %v", i.addr, err)
		}
	}
	i.paused = pause
}

// waitPing waits until addr answers PING, up to readyTimeout.
func waitPing(addr string) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		err := ping(addr, 200*time.Millisecond)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Start restarts a stopped private server on the same port and waits until
// it answers PING. The restarted server starts empty, unless it was started
// with persistence (PrivateArgs). Calling Start on a
// running server does nothing. It fails the test on a shared server.
func (i *Instance) Start(t testing.TB) {
	t.Helper()
	if !i.private {
		t.Fatalf("redistest: Start needs a private server (use redistest.Private)")
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.proc != nil {
		return
	}
	p, err := launch(i.bin, i.dir, i.port, i.extra)
	if err != nil {
		t.Fatalf("redistest: restart redis-server on port %d: %v", i.port, err)
	}
	i.proc = p
}

// startPrivate starts a private server or skips/fails the test.
func startPrivate(t testing.TB, extra ...string) *Instance {
	t.Helper()
	bin, err := serverBinary()
	if err != nil {
		unavailable(t, err.Error())
		return nil // unreachable: unavailable always stops the test
	}
	dir := t.TempDir() // registered first, so removed after the server stops
	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		port, err := freePort()
		if err != nil {
			lastErr = err
			continue
		}
		p, err := launch(bin, dir, port, extra)
		if err != nil {
			lastErr = err
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		inst := &Instance{
			url:     "redis://" + addr + "/0",
			addr:    addr,
			private: true,
			bin:     bin,
			dir:     dir,
			port:    port,
			extra:   extra,
			proc:    p,
		}
		t.Cleanup(func() {
			inst.mu.Lock()
			p := inst.proc
			inst.proc = nil
			inst.mu.Unlock()
			if p != nil {
				p.kill()
			}
		})
		return inst
	}
	unavailable(t, fmt.Sprintf("could not start %s: %v", bin, lastErr))
	return nil
}

// unavailable fails the test under CI and skips it otherwise.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if ci := os.Getenv("CI"); ci == "true" || ci == "1" {
		t.Fatalf("redistest: no Redis available and CI=%s, failing instead of skipping: %s "+
			"(set REDIS_URL, or install redis-server / set REDIS_SERVER_BIN)", ci, why)
	}
	t.Skipf("redistest: no Redis available, skipping: %s "+
		"(set REDIS_URL, or install redis-server / set REDIS_SERVER_BIN)", why)
}

// serverBinary locates redis-server.
func serverBinary() (string, error) {
	if bin := os.Getenv("REDIS_SERVER_BIN"); bin != "" {
		p, err := exec.LookPath(bin)
		if err != nil {
			return "", fmt.Errorf("REDIS_SERVER_BIN=%q is not executable: %v", bin, err)
		}
		return p, nil
	}
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server not found on PATH and REDIS_SERVER_BIN unset")
	}
	return p, nil
}

// freePort asks the kernel for a free loopback port. The port is released
// before redis-server binds it, so callers retry if the bind fails.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launch starts redis-server on port and waits until it answers PING. On
// any failure the process is killed and reaped before returning.
func launch(bin, dir string, port int, extra []string) (*process, error) {
	logFile := filepath.Join(dir, "redis-"+strconv.Itoa(port)+".log")
	args := append([]string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--dir", dir,
		"--logfile", logFile,
	}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("redis-server exited during startup (%v)%s", cmd.ProcessState, logTail(logFile))
		default:
		}
		err := ping(addr, 200*time.Millisecond)
		if err == nil {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.kill()
			return nil, fmt.Errorf("redis-server on %s not ready after %v: %v%s", addr, readyTimeout, err, logTail(logFile))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill kills the process and waits until it has been reaped.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// ping sends a raw PING to addr and expects +PONG.
func ping(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// logTail returns the last lines of a redis log file for error messages.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "\nredis-server log:\n" + string(b)
}
