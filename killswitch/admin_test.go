package killswitch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/requestid"
)

// operatorAuth accepts "Bearer op-alice" as operator alice, refuses
// "Bearer readonly" with FORBIDDEN_SCOPE, and anything else.
func operatorAuth(r *http.Request) (string, error) {
	switch r.Header.Get("Authorization") {
	case "Bearer op-alice":
		return "alice", nil
	case "Bearer readonly":
		return "", apierror.ForbiddenScope("killswitch:write")
	}
	return "", errors.New("no operator credentials")
}

var adminNow = time.Date(2026, 4, 18, 14, 22, 10, 0, time.UTC)

func newAdmin(t *testing.T, ctl Controller) *Admin {
	t.Helper()
	a, err := NewAdmin(AdminConfig{
		Controller: ctl, Authorize: operatorAuth, Now: func() time.Time { return adminNow.Add(300 * time.Millisecond) },
	})
	require.NoError(t, err)
	return a
}

// mount serves h at /admin/killswitch (and below) on a real listener, as a
// net/http service mounts the operator API.
func mount(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	strip := http.StripPrefix("/admin/killswitch", h)
	mux.Handle("/admin/killswitch", strip)
	mux.Handle("/admin/killswitch/", strip)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type response struct {
	status    int
	body      string
	requestID string
	header    http.Header
}

func do(t *testing.T, method, url, auth, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, body: string(b), requestID: res.Header.Get("X-Request-Id"), header: res.Header}
}

func TestAdminFlow(t *testing.T) {
	m := newMemory(t, MemoryConfig{})
	srv := mount(t, newAdmin(t, m))
	base := srv.URL + "/admin/killswitch"
	const op = "Bearer op-alice"

	steps := []struct {
		name, method, path, body string
		status                   int
		want                     string // exact body; "" = empty
	}{
		{"empty list", "GET", "", "", 200, `{"switches":[]}` + "\n"},
		{"global on", "PUT", "/global", `{"reason":"incident 42","expectedDurationSeconds":600}`, 200,
			`{"scope":"global","reason":"incident 42","by":"alice","at":"2026-04-18T14:22:10Z","expectedDurationSeconds":600}` + "\n"},
		{"org on, no body", "PUT", "/organization/org_1", "", 200,
			`{"scope":"organization","id":"org_1","reason":"","by":"alice","at":"2026-04-18T14:22:10Z"}` + "\n"},
		{"key on", "PUT", "/key/key_9", `{"reason":"leaked"}`, 200,
			`{"scope":"key","id":"key_9","reason":"leaked","by":"alice","at":"2026-04-18T14:22:10Z"}` + "\n"},
		{"escaped slash in an id", "PUT", "/key/team%2Fkey", "", 200,
			`{"scope":"key","id":"team/key","reason":"","by":"alice","at":"2026-04-18T14:22:10Z"}` + "\n"},
		{"list", "GET", "/", "", 200, `{"switches":[` +
			`{"scope":"global","reason":"incident 42","by":"alice","at":"2026-04-18T14:22:10Z","expectedDurationSeconds":600},` +
			`{"scope":"organization","id":"org_1","reason":"","by":"alice","at":"2026-04-18T14:22:10Z"},` +
			`{"scope":"key","id":"key_9","reason":"leaked","by":"alice","at":"2026-04-18T14:22:10Z"},` +
			`{"scope":"key","id":"team/key","reason":"","by":"alice","at":"2026-04-18T14:22:10Z"}]}` + "\n"},
		{"global off", "DELETE", "/global", "", 204, ""},
		{"global off again", "DELETE", "/global", "", 204, ""},
		{"key off", "DELETE", "/key/key_9", "", 204, ""},
		{"escaped key off", "DELETE", "/key/team%2Fkey", "", 204, ""},
		{"list after", "GET", "", "", 200, `{"switches":[{"scope":"organization","id":"org_1","reason":"","by":"alice","at":"2026-04-18T14:22:10Z"}]}` + "\n"},
	}
	for _, st := range steps {
		r := do(t, st.method, base+st.path, op, st.body)
		require.Equal(t, st.status, r.status, st.name+": "+r.body)
		assert.Equal(t, st.want, r.body, st.name)
		assert.Equal(t, "no-store", r.header.Get("Cache-Control"), st.name)
		if st.want != "" {
			assert.Equal(t, "application/json", r.header.Get("Content-Type"), st.name)
		}
	}
	sw, on := m.Check("key_9", "org_1")
	require.True(t, on)
	assert.Equal(t, Switch{Scope: ScopeOrganization, ID: "org_1", By: "alice", At: adminNow}, sw)
}

// adminErrors are the refused operator requests, all answered as an
// envelope and none changing anything.
var adminErrors = []struct {
	name, method, path, auth, body string
	want                           *apierror.Error
}{
	{"no credentials", "GET", "", "", "", apierror.Unauthenticated()},
	{"no credentials, put", "PUT", "/global", "", "", apierror.Unauthenticated()},
	{"no credentials, unknown route", "GET", "/project/p1", "", "", apierror.Unauthenticated()},
	{"authorizer's own error", "PUT", "/key/k", "Bearer readonly", "", apierror.ForbiddenScope("killswitch:write")},
	{"unknown route", "PUT", "/project/p1", "Bearer op-alice", "", apierror.NotFound()},
	{"unknown method", "POST", "/global", "Bearer op-alice", "", apierror.NotFound()},
	{"get on a switch", "GET", "/global", "Bearer op-alice", "", apierror.NotFound()},
	{"put on the list", "PUT", "/", "Bearer op-alice", "", apierror.NotFound()},
	{"trailing slash", "PUT", "/global/", "Bearer op-alice", "", apierror.NotFound()},
	{"id with a path below", "PUT", "/key/a/b", "Bearer op-alice", "", apierror.NotFound()},
	{"not json", "PUT", "/global", "Bearer op-alice", "reason=x", apierror.Validation(apierror.Issue{Path: "body",
		Message: `must be a JSON object {"reason": string, "expectedDurationSeconds": integer}.`})},
	{"unknown field", "PUT", "/global", "Bearer op-alice", `{"reason":"x","by":"mallory"}`, apierror.Validation(apierror.Issue{Path: "body",
		Message: `must be a JSON object {"reason": string, "expectedDurationSeconds": integer}.`})},
	{"two objects", "PUT", "/global", "Bearer op-alice", `{} {}`, apierror.Validation(apierror.Issue{Path: "body", Message: "must hold a single JSON object."})},
	{"negative duration", "PUT", "/global", "Bearer op-alice", `{"expectedDurationSeconds":-1}`, apierror.Validation(apierror.Issue{Path: "expectedDurationSeconds", Message: "must be between 0 and 31536000."})},
	{"reason too long", "PUT", "/global", "Bearer op-alice", `{"reason":"` + strings.Repeat("r", MaxReasonLength+1) + `"}`, apierror.Validation(apierror.Issue{Path: "reason", Message: "must be at most 1024 bytes."})},
	{"duration on key", "PUT", "/key/k1", "Bearer op-alice", `{"expectedDurationSeconds":60}`, apierror.Validation(apierror.Issue{Path: "expectedDurationSeconds", Message: "is accepted on the global switch only."})},
	{"id with space", "PUT", "/key/a%20b", "Bearer op-alice", "", apierror.Validation(apierror.Issue{Path: "id", Message: "must be a non-empty printable id of at most 256 bytes."})},
	{"id with space, delete", "DELETE", "/organization/a%20b", "Bearer op-alice", "", apierror.Validation(apierror.Issue{Path: "id", Message: "must be a non-empty printable id of at most 256 bytes."})},
	{"empty id", "PUT", "/key/", "Bearer op-alice", "", apierror.Validation(apierror.Issue{Path: "id", Message: "must be a non-empty printable id of at most 256 bytes."})},
	{"body too large", "PUT", "/global", "Bearer op-alice", `{"reason":"` + strings.Repeat("r", MaxAdminBody) + `"}`, apierror.PayloadTooLarge(MaxAdminBody)},
}

// TestAdminErrors runs every refusal over a real listener through
// ServeHTTP, which renders with httperror.Default().
func TestAdminErrors(t *testing.T) {
	m := newMemory(t, MemoryConfig{})
	srv := mount(t, newAdmin(t, m))
	base := srv.URL + "/admin/killswitch"
	for _, tt := range adminErrors {
		r := do(t, tt.method, base+tt.path, tt.auth, tt.body)
		assert.Equal(t, tt.want.Status(), r.status, tt.name)
		require.True(t, requestid.Valid(r.requestID), tt.name)
		assert.Equal(t, string(tt.want.Render(r.requestID)), r.body, tt.name)
		assert.Equal(t, "application/json", r.header.Get("Content-Type"), tt.name)
	}
	got, err := m.List(context.Background())
	require.NoError(t, err)
	assert.Empty(t, got, "no refused request changed anything")
}

// TestAdminServeReturnsErrors: Serve writes nothing when it refuses a
// request and hands the error back, so that an adapter renders it through
// the service's own writer.
func TestAdminServeReturnsErrors(t *testing.T) {
	a := newAdmin(t, newMemory(t, MemoryConfig{}))
	for _, tt := range adminErrors {
		var body io.Reader
		if tt.body != "" {
			body = strings.NewReader(tt.body)
		}
		r := httptest.NewRequest(tt.method, "http://example.test"+tt.path, body)
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		rec := httptest.NewRecorder()
		err := a.Serve(rec, r)
		e, ok := apierror.As(err)
		require.True(t, ok, "%s: %v", tt.name, err)
		assert.Equal(t, string(tt.want.Render("req_x")), string(e.Render("req_x")), tt.name)
		assert.False(t, rec.Flushed, tt.name)
		assert.Empty(t, rec.Header(), tt.name)
		assert.Zero(t, rec.Body.Len(), tt.name)
	}
}

// failingController fails every call, as a store whose backend is down.
type failingController struct{}

var errBackend = errors.New("dial tcp 10.0.0.7:6379: connect: connection refused")

func (failingController) On(context.Context, Switch) error         { return errBackend }
func (failingController) Off(context.Context, Scope, string) error { return errBackend }
func (failingController) List(context.Context) ([]Switch, error)   { return nil, errBackend }

// TestAdminControllerFailure: the operator gets INTERNAL with the fixed
// message, never the backend's error, and the cause is logged by the
// service's writer (its logger, with the request ID), not by the operator
// API.
func TestAdminControllerFailure(t *testing.T) {
	var logs bytes.Buffer
	writer, err := httperror.New(httperror.Config{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	a := newAdmin(t, failingController{})
	srv := mount(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writer.Write(w, r, a.Serve(w, r))
	}))
	for _, st := range []struct{ method, path string }{{"GET", ""}, {"PUT", "/global"}, {"DELETE", "/key/k1"}} {
		logs.Reset()
		res := do(t, st.method, srv.URL+"/admin/killswitch"+st.path, "Bearer op-alice", "")
		assert.Equal(t, http.StatusInternalServerError, res.status)
		assert.Equal(t, `{"error":{"code":"INTERNAL","message":"`+apierror.InternalMessage+`","requestId":"`+res.requestID+`"}}`, res.body)
		assert.NotContains(t, res.body, "refused")

		var line map[string]any
		require.NoError(t, json.Unmarshal(logs.Bytes(), &line), logs.String())
		assert.Equal(t, "ERROR", line["level"])
		assert.Equal(t, "INTERNAL", line["code"])
		assert.Equal(t, res.requestID, line["requestId"])
		assert.Contains(t, line["error"], "connection refused", "the cause is logged")
	}
}

// TestAdminBodyLimitedByTheService: a service-wide body limit below
// MaxAdminBody still answers PAYLOAD_TOO_LARGE, with the service's limit.
func TestAdminBodyLimitedByTheService(t *testing.T) {
	a := newAdmin(t, newMemory(t, MemoryConfig{}))
	r := httptest.NewRequest(http.MethodPut, "/global", strings.NewReader(`{"reason":"`+strings.Repeat("r", 100)+`"}`))
	r.Header.Set("Authorization", "Bearer op-alice")
	rec := httptest.NewRecorder()
	r.Body = http.MaxBytesReader(rec, r.Body, 10)
	err := a.Serve(rec, r)
	assert.Equal(t, string(apierror.PayloadTooLarge(10).Render("req_x")), string(mustAPIError(t, err).Render("req_x")))
}

func mustAPIError(t *testing.T, err error) *apierror.Error {
	t.Helper()
	e, ok := apierror.As(err)
	require.True(t, ok, "%v is not an *apierror.Error", err)
	return e
}

func TestNewAdminConfigErrors(t *testing.T) {
	m := newMemory(t, MemoryConfig{})
	for _, tt := range []struct {
		name string
		cfg  AdminConfig
		ok   bool
	}{
		{"no controller", AdminConfig{Authorize: operatorAuth}, false},
		{"no authorizer", AdminConfig{Controller: m}, false},
		{"complete", AdminConfig{Controller: m, Authorize: operatorAuth}, true},
	} {
		a, err := NewAdmin(tt.cfg)
		if tt.ok {
			require.NoError(t, err, tt.name)
			assert.NotNil(t, a, tt.name)
			continue
		}
		assert.Error(t, err, tt.name)
		assert.Nil(t, a, tt.name)
	}
}
