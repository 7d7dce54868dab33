package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/layershq/errkit/ratelimit"
)

// The server starts timers (jobs), a sweeper (rate limits) and, with Redis,
// a subscription: Close must stop all of them. The binary the binary tests
// build is removed at the end.
func TestMain(m *testing.M) {
	code := m.Run()
	removeBinary()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak: errors on successful test run:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testFrameworks are the frameworks every test runs on: all of them.
var testFrameworks = frameworkNames()

// forEachFramework runs test once per framework, as parallel subtests
// named after the framework: the same table, the same assertions.
func forEachFramework(t *testing.T, test func(t *testing.T, framework string)) {
	t.Helper()
	require.NotEmpty(t, testFrameworks)
	for _, fw := range testFrameworks {
		t.Run(fw, func(t *testing.T) {
			t.Parallel()
			test(t, fw)
		})
	}
}

// Demo keys as the tests send them.
const (
	keyFull     = "lp_demo_full"
	keyReadonly = "lp_demo_readonly"
	keyOther    = "lp_other_org"
	keyBroke    = "lp_broke"
	adminToken  = "admin_demo"
)

// logBuffer collects the server's log lines, written by slog's JSON handler
// as the binary writes them to stderr (here at debug level, so that 4xx
// error lines are kept too).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns every log line decoded; a line that is not JSON fails t.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimRight(b.buf.String(), "\n"), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), "log line is not JSON: %s", line)
		out = append(out, m)
	}
	return out
}

// testServer is a Server behind a real loopback listener.
type testServer struct {
	*Server
	URL  string
	logs *logBuffer
}

// startServer starts New(cfg) on framework behind httptest.NewServer,
// logging into a buffer with slog's JSON handler at debug level. Jobs
// finish after 50ms unless cfg says otherwise. Every test client is
// 127.0.0.1, so the per-IP limits (the failed-authentication throttle, the
// public routes' bucket) are out of reach unless cfg sets them, and the
// operator token is adminToken unless cfg sets one (abuse_test.go tests the
// defaults). Everything is closed when the test ends.
func startServer(t *testing.T, framework string, cfg Config) *testServer {
	t.Helper()
	logs := &logBuffer{}
	if cfg.AuthFailureRate == (ratelimit.Rate{}) {
		cfg.AuthFailureRate = rateOf(1e6, 1e6)
	}
	if cfg.PublicRate == (ratelimit.Rate{}) {
		cfg.PublicRate = rateOf(1e6, 1e6)
	}
	if cfg.AdminToken == "" {
		cfg.AdminToken = adminToken
	}
	cfg.Framework = framework
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.JobDelay == 0 {
		cfg.JobDelay = 50 * time.Millisecond
	}
	srv, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	hs := httptest.NewServer(srv.Handler)
	t.Cleanup(hs.Close)
	return &testServer{Server: srv, URL: hs.URL, logs: logs}
}

// unlimited are rates no test reaches.
var unlimited = Config{
	ReadRate:  rateOf(1e6, 1e6),
	WriteRate: rateOf(1e6, 1e6),
}

// request is one HTTP request of a test.
type request struct {
	method, path string
	key          string            // API key sent as a bearer token; "" sends none
	body         string            // sent as application/json when not empty
	header       map[string]string // extra headers (override the above)
	headers      http.Header       // headers added after header, every value (a header sent twice)
}

// response is what came back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends r and checks what every response must have: an X-Request-Id.
func (s *testServer) do(t *testing.T, r request) response {
	t.Helper()
	return doURL(t, s.URL, r)
}

func doURL(t *testing.T, base string, r request) response {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, base+r.path, body)
	require.NoError(t, err)
	if r.key != "" {
		req.Header.Set("Authorization", "Bearer "+r.key)
	}
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	for k, vs := range r.headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Regexp(t, `^req_[0-7][0-9A-HJKMNP-TV-Z]{25}$`, resp.Header.Get("X-Request-Id"), "%s %s", r.method, r.path)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// envelope is the contract's error body.
type envelope struct {
	Error struct {
		Code      string          `json:"code"`
		Message   string          `json:"message"`
		RequestID string          `json:"requestId"`
		Details   json.RawMessage `json:"details"`
	} `json:"error"`
}

// requireError checks that resp is the envelope of code with status, that
// its requestId is the X-Request-Id header, and returns the envelope.
func requireError(t *testing.T, resp response, status int, code string) envelope {
	t.Helper()
	require.Equal(t, status, resp.status, "body: %s", resp.body)
	require.Equal(t, "application/json", resp.header.Get("Content-Type"))
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(resp.body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&env), "body: %s", resp.body)
	require.Equal(t, code, env.Error.Code, "body: %s", resp.body)
	require.NotEmpty(t, env.Error.Message)
	require.Equal(t, resp.header.Get("X-Request-Id"), env.Error.RequestID)
	return env
}

// requireDetails checks the details of an envelope byte for byte ("" means
// no details key at all).
func requireDetails(t *testing.T, env envelope, want string) {
	t.Helper()
	if want == "" {
		require.Nil(t, env.Error.Details, "details: %s", env.Error.Details)
		return
	}
	require.Equal(t, want, string(env.Error.Details))
}

// decodeJSON decodes a success body into v.
func decodeJSON(t *testing.T, resp response, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(resp.body, v), "body: %s", resp.body)
}

// waitFor polls cond every 10ms until it holds or timeout passes, and
// reports how long it took.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > timeout {
			return time.Since(start), false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
