package nethttp_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/accesslog"
	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/nethttp"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/requestid"
)

// logSink collects JSON log lines.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// lines returns the logged lines with msg, decoded.
func (s *logSink) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// serve runs h behind Install with an access log into a sink, over a real
// listener.
func serve(t *testing.T, h http.Handler, cfg nethttp.Config) (*httptest.Server, *logSink) {
	t.Helper()
	sink := &logSink{}
	cfg.Logger = slog.New(slog.NewJSONHandler(sink, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.AccessLog = &accesslog.Config{}
	installed, err := nethttp.Install(h, cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(installed)
	t.Cleanup(srv.Close)
	return srv, sink
}

func get(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp, string(b)
}

func TestInstallConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		h   http.Handler
		cfg nethttp.Config
	}{
		"nil handler":         {nil, nethttp.Config{}},
		"negative stack size": {http.NewServeMux(), nethttp.Config{StackSize: -1}},
		"negative body limit": {http.NewServeMux(), nethttp.Config{ErrorHandler: httperror.Config{MaxBodyBytes: -1}}},
		"negative retry":      {http.NewServeMux(), nethttp.Config{ErrorHandler: httperror.Config{DefaultRetryAfter: -1}}},
	} {
		t.Run(name, func(t *testing.T) {
			h, err := nethttp.Install(tc.h, tc.cfg)
			assert.Error(t, err)
			assert.Nil(t, h)
		})
	}
}

// TestRouterAnswersOnly: only the router's own 404 and 405 become the
// envelope; a handler's own plain-text 404 inside a route is its business.
func TestRouterAnswersOnly(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /gone", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gone fishing", http.StatusNotFound)
	})
	srv, _ := serve(t, mux, nethttp.Config{})

	resp, body := get(t, http.MethodGet, srv.URL+"/gone")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "gone fishing\n", body)
	assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))

	resp, body = get(t, http.MethodGet, srv.URL+"/nowhere")
	id := resp.Header.Get(requestid.Header)
	assert.Equal(t, string(apierror.NotFound().Render(id)), body)

	resp, body = get(t, http.MethodPost, srv.URL+"/gone")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
	assert.Equal(t, string(apierror.NotFound().Render(resp.Header.Get(requestid.Header))), body)
}

// TestAccessLog: one line per request with the route template, the final
// status and the code of a rendered error, also when a middleware outside
// the mux replaced the request (the mux routed a copy).
func TestAccessLog(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/things/{id}", nethttp.Handler(func(w http.ResponseWriter, r *http.Request) error {
		if r.PathValue("id") == "missing" {
			return apierror.NotFound()
		}
		_, err := io.WriteString(w, "thing")
		return err
	}))
	auth := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, principal.Set(r, principal.Principal{KeyID: "key_a"}))
	})
	srv, sink := serve(t, auth, nethttp.Config{})

	for _, tc := range []struct {
		path, route string
		status      int
		code        string
	}{
		{"/v1/things/1", "GET /v1/things/{id}", 200, ""},
		{"/v1/things/missing", "GET /v1/things/{id}", 404, "NOT_FOUND"},
		{"/v1/nowhere", "", 404, "NOT_FOUND"},
	} {
		resp, _ := get(t, http.MethodGet, srv.URL+tc.path)
		require.Equal(t, tc.status, resp.StatusCode, tc.path)
		lines := sink.lines(t, "request")
		require.NotEmpty(t, lines)
		last := lines[len(lines)-1]
		assert.Equal(t, resp.Header.Get(requestid.Header), last["requestId"], tc.path)
		assert.Equal(t, tc.route, last["route"], tc.path)
		assert.Equal(t, float64(tc.status), last["status"], tc.path)
		if tc.code == "" {
			assert.NotContains(t, last, "code", tc.path)
		} else {
			assert.Equal(t, tc.code, last["code"], tc.path)
		}
	}
	assert.Len(t, sink.lines(t, "request"), 3, "one line per request")
}

// TestRouteHook: another router names its route templates through
// Config.Route; logs and errors use them.
func TestRouteHook(t *testing.T) {
	h := nethttp.Handler(func(w http.ResponseWriter, r *http.Request) error {
		assert.Equal(t, "/custom/:id", nethttp.Route(r))
		return errors.New("boom")
	})
	srv, sink := serve(t, h, nethttp.Config{Route: func(*http.Request) string { return "/custom/:id" }})
	resp, _ := get(t, http.MethodGet, srv.URL+"/custom/7")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	failed := sink.lines(t, "request failed")
	require.Len(t, failed, 1)
	assert.Equal(t, "/custom/:id", failed[0]["route"])
	assert.Equal(t, "boom", failed[0]["error"])
}

// TestCommitted: an error after the response was committed is logged, and
// nothing is written over the response; so is a panic.
func TestCommitted(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /late", nethttp.Handler(func(w http.ResponseWriter, r *http.Request) error {
		_, _ = io.WriteString(w, "partial")
		return errors.New("stream broke")
	}))
	mux.HandleFunc("GET /late-panic", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "partial")
		panic("late")
	})
	srv, sink := serve(t, mux, nethttp.Config{})
	for _, path := range []string{"/late", "/late-panic"} {
		resp, body := get(t, http.MethodGet, srv.URL+path)
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Equal(t, "partial", body, path)
	}
	committed := sink.lines(t, "request failed after the response was committed")
	require.Len(t, committed, 2)
	for _, l := range committed {
		assert.Equal(t, "INTERNAL", l["code"])
	}
}

// TestFlushAndHijack: the writer Install wraps keeps http.Flusher,
// http.Hijacker and http.ResponseController working.
func TestFlushAndHijack(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "one\n")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "two\n")
		require.NoError(t, http.NewResponseController(w).Flush())
	})
	mux.HandleFunc("GET /hijack", func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := w.(http.Hijacker).Hijack()
		if !assert.NoError(t, err) {
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nraw ok")
		_ = rw.Flush()
	})
	srv, _ := serve(t, mux, nethttp.Config{})
	resp, body := get(t, http.MethodGet, srv.URL+"/stream")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "one\ntwo\n", body)
	assert.Empty(t, resp.Header.Get("Content-Length"), "flushed: chunked")

	resp, body = get(t, http.MethodGet, srv.URL+"/hijack")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "raw ok", body)
}

// TestErrorOutsideInstall: without Install, Error renders through the
// default writer with a fresh request ID.
func TestErrorOutsideInstall(t *testing.T) {
	rec := httptest.NewRecorder()
	nethttp.Error(rec, httptest.NewRequest(http.MethodGet, "/x", nil), apierror.Conflict("taken"))
	id := rec.Header().Get(requestid.Header)
	require.True(t, requestid.Valid(id))
	assert.Equal(t, http.StatusConflict, rec.Code)
	assert.Equal(t, string(apierror.Conflict("taken").Render(id)), rec.Body.String())

	rec = httptest.NewRecorder()
	nethttp.Error(rec, httptest.NewRequest(http.MethodGet, "/x", nil), nil)
	assert.Equal(t, http.StatusOK, rec.Code, "a nil error writes nothing")
	assert.Empty(t, rec.Body.String())
}

func TestBodyLimitPanicsOnBadLimit(t *testing.T) {
	assert.PanicsWithValue(t, "errkit/nethttp: BodyLimit: maxBytes must be positive", func() { nethttp.BodyLimit(0) })
}

// TestInterceptedHead: a HEAD the router refuses gets the envelope's status
// and headers without a body.
func TestInterceptedHead(t *testing.T) {
	srv, _ := serve(t, http.NewServeMux(), nethttp.Config{})
	resp, body := get(t, http.MethodHead, srv.URL+"/nowhere")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Empty(t, body)
}

// TestPanicAfterRouterAnswer: a middleware between Install and the mux that
// panics after ServeMux answered 404 gets one envelope, INTERNAL, not the
// 404's as well.
func TestPanicAfterRouterAnswer(t *testing.T) {
	mux := http.NewServeMux()
	panicky := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		panic("after the router")
	})
	srv, _ := serve(t, panicky, nethttp.Config{})
	resp, body := get(t, http.MethodGet, srv.URL+"/nowhere")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, string(apierror.Internal(nil).Render(resp.Header.Get(requestid.Header))), body)
}

// TestTimeoutHandler: a handler http.TimeoutHandler runs on a goroutine of
// its own may render its error while Install's access log reads the
// request state (run with -race).
func TestTimeoutHandler(t *testing.T) {
	release, done := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("GET /slow", http.TimeoutHandler(nethttp.Handler(func(w http.ResponseWriter, r *http.Request) error {
		defer close(done)
		<-release
		return apierror.NotFound()
	}), 20*time.Millisecond, "timed out"))
	srv, sink := serve(t, mux, nethttp.Config{})
	resp, _ := get(t, http.MethodGet, srv.URL+"/slow")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	close(release)
	<-done
	assert.Eventually(t, func() bool { return len(sink.lines(t, "request")) == 1 }, 5*time.Second, 5*time.Millisecond)
}
