package idempotency_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/idempotency/redisstore"
	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/requestid"
)

// Routes of the test service. contentRoute is the template the test server
// hands to the Guard.
const (
	contentRoute = "/v1/projects/{projectId}/content"
	contentPath  = "/v1/projects/prj_1/content"
	otherRoute   = "/v1/other"
	otherPath    = "/v1/other"
	keyIDHeader  = "X-Test-Key-Id"
)

// handler is what the Guard runs: a net/http handler that returns its error.
type handler = func(w http.ResponseWriter, r *http.Request) error

// testLogs collects JSON log lines; it is safe for concurrent use.
type testLogs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// logger returns a debug-level JSON logger writing to l.
func (l *testLogs) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// entries returns the parsed lines whose msg is msg.
func (l *testLogs) entries(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// storeFailures returns the "idempotency store failed" log entries.
func (l *testLogs) storeFailures(t *testing.T) []map[string]any {
	t.Helper()
	return l.entries(t, "idempotency store failed")
}

// committedWriter records whether the response's header was written, so
// that an error after it is logged rather than appended to the body.
type committedWriter struct {
	http.ResponseWriter
	committed bool
}

func (w *committedWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.committed = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *committedWriter) Write(b []byte) (int, error) {
	w.committed = true
	return w.ResponseWriter.Write(b)
}

func (w *committedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newHandler is the test service as a plain http.Handler: it stamps a
// request ID (logging to logger), records the caller named by the
// X-Test-Key-Id header (the service's authentication), recovers panics, runs
// h under g on POST, PATCH and PUT of the content route and POST of
// /v1/other, and renders every error through an httperror.Writer. A nil g
// runs h without idempotency (the benchmarks' baseline).
func newHandler(t testing.TB, g *idempotency.Guard, h handler, logger *slog.Logger) http.Handler {
	t.Helper()
	stamper := requestid.NewStamper(requestid.Config{Logger: logger})
	ew, err := httperror.New(httperror.Config{Logger: logger})
	require.NoError(t, err)
	serve := func(route string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			r = stamper.Stamp(w.Header(), r)
			if id := r.Header.Get(keyIDHeader); id != "" {
				r = principal.Set(r, principal.Principal{KeyID: id, OrganizationID: "org_1"})
			}
			cw := &committedWriter{ResponseWriter: w}
			defer func() {
				if v := recover(); v != nil {
					ew.WriteMeta(cw, r, httperror.Recovered(v, 0), httperror.Meta{Route: route, Committed: cw.committed})
				}
			}()
			var params []idempotency.Param
			if v := r.PathValue("projectId"); v != "" {
				params = []idempotency.Param{{Name: "projectId", Value: v}}
			}
			var err error
			if g != nil {
				err = g.Serve(cw, r, route, params, h)
			} else {
				err = h(cw, r)
			}
			if err != nil {
				ew.WriteMeta(cw, r, err, httperror.Meta{Route: route, Committed: cw.committed})
			}
		}
	}
	mux := http.NewServeMux()
	for _, m := range []string{http.MethodPost, http.MethodPatch, http.MethodPut} {
		mux.Handle(m+" /v1/projects/{projectId}/content", serve(contentRoute))
	}
	mux.Handle("POST "+otherPath, serve(otherRoute))
	return mux
}

// newGuard is idempotency.New(cfg) that must succeed.
func newGuard(t testing.TB, cfg idempotency.Config) *idempotency.Guard {
	t.Helper()
	g, err := idempotency.New(cfg)
	require.NoError(t, err)
	return g
}

// newServer serves the test service for cfg on a real HTTP listener.
func newServer(t *testing.T, cfg idempotency.Config, h handler) (*httptest.Server, *testLogs) {
	t.Helper()
	return serveGuard(t, newGuard(t, cfg), h)
}

// serveGuard serves the test service for g on a real HTTP listener. Tests
// that inject into g do so before: the race detector sees no ordering
// through the socket between the test and the server's goroutines.
func serveGuard(t *testing.T, g *idempotency.Guard, h handler) (*httptest.Server, *testLogs) {
	t.Helper()
	logs := &testLogs{}
	srv := httptest.NewServer(newHandler(t, g, h, logs.logger()))
	t.Cleanup(srv.Close)
	return srv, logs
}

// writeJSON writes v as a JSON response with status, as a handler would.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// creator is a handler doing "work": every run gets a new ID, so a second
// run can't be mistaken for a replay.
type creator struct {
	calls atomic.Int64
}

func (cr *creator) handle(w http.ResponseWriter, r *http.Request) error {
	n := cr.calls.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Location", fmt.Sprintf("/v1/content/cnt_%d", n))
	h.Set("X-Not-Replayed", "per-run")
	return writeJSON(w, http.StatusCreated, map[string]any{
		"id": fmt.Sprintf("cnt_%d", n), "project": r.PathValue("projectId"), "body": string(body),
	})
}

// call is one request of a test.
type call struct {
	method string // default POST
	path   string // default contentPath
	keyID  string // X-Test-Key-Id; "" for an unauthenticated caller
	keys   []string
	body   string
}

// reply is a response read whole.
type reply struct {
	status int
	header http.Header
	body   string
}

// request builds the client request of c against base.
func (c call) request(base string) (*http.Request, error) {
	if c.method == "" {
		c.method = http.MethodPost
	}
	if c.path == "" {
		c.path = contentPath
	}
	req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.keyID != "" {
		req.Header.Set(keyIDHeader, c.keyID)
	}
	for _, k := range c.keys {
		req.Header.Add(idempotency.HeaderKey, k)
	}
	return req, nil
}

// do sends c to srv; it may run on any goroutine.
func do(srv *httptest.Server, c call) (reply, error) {
	req, err := c.request(srv.URL)
	if err != nil {
		return reply{}, err
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

// mustDo is do on the test goroutine.
func mustDo(t *testing.T, srv *httptest.Server, c call) reply {
	t.Helper()
	r, err := do(srv, c)
	require.NoError(t, err)
	return r
}

// readReply reads resp whole.
func readReply(t *testing.T, resp *http.Response) reply {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// envelope is the exact error body the error writer renders for a
// response, built with the response's own X-Request-Id.
func envelope(r reply, code, message, details string) string {
	s := `{"error":{"code":"` + code + `","message":"` + message + `","requestId":"` + r.header.Get("X-Request-Id") + `"`
	if details != "" {
		s += `,"details":` + details
	}
	return s + "}}"
}

// storeEnv is one store kind of forEachStore.
type storeEnv struct {
	// newStore returns a store on the kind's shared keyspace: the same
	// MemoryStore, or a redisstore.Store with its own client on the same
	// Redis and prefix (another "instance" of the service).
	newStore func() idempotency.Store
	// client and prefix are the Redis of the redis kinds (nil, "" for
	// memory).
	client redis.UniversalClient
	prefix string
}

// forEachStore runs f against the memory and the Redis store.
func forEachStore(t *testing.T, f func(t *testing.T, env storeEnv)) {
	t.Run("memory", func(t *testing.T) {
		s := newMemory(t, 0)
		f(t, storeEnv{newStore: func() idempotency.Store { return s }})
	})
	t.Run("redis", func(t *testing.T) {
		inst := redistest.Server(t)
		prefix := inst.Prefix(t)
		f(t, storeEnv{
			newStore: func() idempotency.Store { return newRedis(t, inst.Client(t), prefix) },
			client:   inst.Client(t),
			prefix:   prefix,
		})
	})
	t.Run("redis cluster", func(t *testing.T) {
		cl := redistest.Cluster(t)
		prefix := cl.Prefix(t)
		f(t, storeEnv{
			newStore: func() idempotency.Store { return newRedis(t, cl.Client(t), prefix) },
			client:   cl.Client(t),
			prefix:   prefix,
		})
	})
}

// newMemory is NewMemoryStore that must succeed.
func newMemory(t testing.TB, maxEntries int) *idempotency.MemoryStore {
	t.Helper()
	s, err := idempotency.NewMemoryStore(idempotency.MemoryConfig{MaxEntries: maxEntries})
	require.NoError(t, err)
	return s
}

// newRedis is redisstore.New that must succeed, closed when the test
// ends. Its own findings (no persistence on the test servers) are
// discarded: the redisstore tests check them.
func newRedis(t testing.TB, client redis.UniversalClient, prefix string) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(client, redisstore.Config{Prefix: prefix, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}
