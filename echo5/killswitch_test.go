package echo5_test

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

	"github.com/labstack/echo/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/echo5"
	"github.com/layershq/errkit/killswitch"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/requestid"
)

// ksAt is when the test's switches are flipped; the guards' clock reads
// 100 seconds later.
var ksAt = time.Date(2026, 4, 18, 14, 0, 0, 0, time.UTC)

// ksServer is an echo v5 service with errkit's kill switches wired the
// recommended way: the global guard first (before authentication, skipping
// the operator API), authentication, the per-caller guard, then what
// stands for the rate limiter; the operator API on the group
// /admin/killswitch.
type ksServer struct {
	url      string
	switches *killswitch.MemoryStore
	logs     *bytes.Buffer
	reached  int
}

func newKSServer(t *testing.T) *ksServer {
	t.Helper()
	s := &ksServer{logs: new(bytes.Buffer)}
	var err error
	s.switches, err = killswitch.NewMemoryStore(killswitch.MemoryConfig{Now: func() time.Time { return ksAt }})
	require.NoError(t, err)
	now := func() time.Time { return ksAt.Add(100 * time.Second) }
	global, err := killswitch.New(killswitch.Config{Checker: s.switches, GlobalOnly: true, Now: now})
	require.NoError(t, err)
	perCaller, err := killswitch.New(killswitch.Config{Checker: s.switches, Now: now})
	require.NoError(t, err)
	admin, err := killswitch.NewAdmin(killswitch.AdminConfig{
		Controller: s.switches,
		Authorize: func(r *http.Request) (string, error) {
			if r.Header.Get("Authorization") != "Bearer op-alice" {
				return "", errors.New("no operator credentials")
			}
			return "alice", nil
		},
		Now: func() time.Time { return ksAt },
	})
	require.NoError(t, err)

	e := echo.New()
	require.NoError(t, echo5.Install(e, echo5.Config{
		Logger: slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}))
	e.Use(echo5.KillSwitchWithConfig(echo5.KillSwitchConfig{
		Skipper: func(c *echo.Context) bool { return strings.HasPrefix(c.Path(), "/admin/") },
		Guard:   global,
	}))
	authenticate := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			key := c.Request().Header.Get("X-Test-Key")
			if key == "" {
				return apierror.Unauthenticated()
			}
			echo5.SetPrincipal(c, principal.Principal{KeyID: key, OrganizationID: c.Request().Header.Get("X-Test-Org")})
			return next(c)
		}
	}
	limiter := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error { s.reached++; return next(c) }
	}
	e.GET("/v1/ping", func(c *echo.Context) error { return c.String(http.StatusOK, "ok") },
		authenticate, echo5.KillSwitch(perCaller), limiter)
	require.NoError(t, echo5.RegisterAdmin(e.Group("/admin/killswitch"), admin))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

type ksResponse struct {
	status     int
	body       string
	requestID  string
	retryAfter string // "<none>" when absent
	header     http.Header
}

// do sends one request; hdr holds header name, value pairs.
func (s *ksServer) do(t *testing.T, method, path, body string, hdr ...string) ksResponse {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	ra := "<none>"
	if _, ok := res.Header["Retry-After"]; ok {
		ra = res.Header.Get("Retry-After")
	}
	return ksResponse{status: res.StatusCode, body: string(b), requestID: res.Header.Get(requestid.Header), retryAfter: ra, header: res.Header}
}

// ping calls the guarded route as key k1 of organization o1, or
// unauthenticated.
func (s *ksServer) ping(t *testing.T, authenticated bool) ksResponse {
	t.Helper()
	if !authenticated {
		return s.do(t, http.MethodGet, "/v1/ping", "")
	}
	return s.do(t, http.MethodGet, "/v1/ping", "", "X-Test-Key", "k1", "X-Test-Org", "o1")
}

// requireKS asserts r is the exact KILL_SWITCH envelope for scope, with
// X-Request-Id equal to requestId.
func requireKS(t *testing.T, scope killswitch.Scope, r ksResponse) {
	t.Helper()
	require.Equal(t, http.StatusServiceUnavailable, r.status, r.body)
	require.True(t, requestid.Valid(r.requestID), r.requestID)
	assert.Equal(t, string(apierror.KillSwitch(scope).Render(r.requestID)), r.body)
	assert.Contains(t, r.body, `"requestId":"`+r.requestID+`"`)
	assert.Contains(t, r.body, `"details":{"scope":"`+string(scope)+`"}`)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
}

func TestKillSwitch(t *testing.T) {
	tests := []struct {
		name          string
		on            killswitch.Switch
		authenticated bool
		scope         killswitch.Scope // "" = served
		retryAfter    string
	}{
		{"nothing on", killswitch.Switch{}, true, "", "<none>"},
		{"key", killswitch.Switch{Scope: killswitch.ScopeKey, ID: "k1", Reason: "secret reason"}, true, killswitch.ScopeKey, "<none>"},
		{"other key", killswitch.Switch{Scope: killswitch.ScopeKey, ID: "k2"}, true, "", "<none>"},
		{"organization", killswitch.Switch{Scope: killswitch.ScopeOrganization, ID: "o1"}, true, killswitch.ScopeOrganization, "<none>"},
		{"global without estimate", killswitch.Switch{Scope: killswitch.ScopeGlobal}, true, killswitch.ScopeGlobal, "<none>"},
		{"global with estimate", killswitch.Switch{Scope: killswitch.ScopeGlobal, ExpectedDuration: 10 * time.Minute}, true, killswitch.ScopeGlobal, "500"},
		{"global, unauthenticated", killswitch.Switch{Scope: killswitch.ScopeGlobal, ExpectedDuration: 10 * time.Minute}, false, killswitch.ScopeGlobal, "500"},
		{"key, unauthenticated: authentication answers", killswitch.Switch{Scope: killswitch.ScopeKey, ID: "k1"}, false, "", "<none>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newKSServer(t)
			if tt.on.Scope != "" {
				require.NoError(t, s.switches.On(context.Background(), tt.on))
			}
			r := s.ping(t, tt.authenticated)
			assert.Equal(t, tt.retryAfter, r.retryAfter)
			switch {
			case tt.scope != "":
				requireKS(t, tt.scope, r)
				assert.NotContains(t, r.body, "secret")
				assert.Zero(t, s.reached, "a switched-off request must not reach the rate limiter")
			case tt.authenticated:
				assert.Equal(t, http.StatusOK, r.status)
				assert.Equal(t, "ok", r.body)
				assert.Equal(t, 1, s.reached)
			default:
				assert.Equal(t, http.StatusUnauthorized, r.status)
				assert.Zero(t, s.reached)
			}
		})
	}
}

// TestKillSwitchAdmin flips switches through the operator API mounted on an
// echo group, over the wire, and checks that the guarded route follows and
// that the operator API's errors go to echo's (errkit's) error handler.
func TestKillSwitchAdmin(t *testing.T) {
	s := newKSServer(t)
	const op = "Bearer op-alice"
	require.Equal(t, http.StatusOK, s.ping(t, true).status)

	r := s.do(t, http.MethodPut, "/admin/killswitch/key/k1", `{"reason":"leaked"}`, "Authorization", op)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, `{"scope":"key","id":"k1","reason":"leaked","by":"alice","at":"2026-04-18T14:00:00Z"}`+"\n", r.body)
	assert.True(t, requestid.Valid(r.requestID), "the operator API's answers carry a request ID too")
	requireKS(t, killswitch.ScopeKey, s.ping(t, true))

	r = s.do(t, http.MethodPut, "/admin/killswitch/global", `{"expectedDurationSeconds":600}`, "Authorization", op)
	require.Equal(t, http.StatusOK, r.status, r.body)
	for _, authenticated := range []bool{true, false} {
		p := s.ping(t, authenticated)
		requireKS(t, killswitch.ScopeGlobal, p)
		assert.Equal(t, "500", p.retryAfter)
	}

	// An id with an escaped slash reaches the Admin unescaped.
	r = s.do(t, http.MethodPut, "/admin/killswitch/organization/team%2Fa", "", "Authorization", op)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Contains(t, r.body, `"id":"team/a"`)
	require.Equal(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/admin/killswitch/organization/team%2Fa", "", "Authorization", op).status)

	for _, path := range []string{"/admin/killswitch", "/admin/killswitch/"} {
		r = s.do(t, http.MethodGet, path, "", "Authorization", op)
		require.Equal(t, http.StatusOK, r.status, "the operator API stays reachable while the API is off")
		assert.Equal(t, `{"switches":[`+
			`{"scope":"global","reason":"","by":"alice","at":"2026-04-18T14:00:00Z","expectedDurationSeconds":600},`+
			`{"scope":"key","id":"k1","reason":"leaked","by":"alice","at":"2026-04-18T14:00:00Z"}]}`+"\n", r.body, path)
	}

	require.Equal(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/admin/killswitch/global", "", "Authorization", op).status)
	requireKS(t, killswitch.ScopeKey, s.ping(t, true))
	require.Equal(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/admin/killswitch/key/k1", "", "Authorization", op).status)
	p := s.ping(t, true)
	assert.Equal(t, http.StatusOK, p.status)
	assert.Equal(t, "<none>", p.retryAfter)

	// Errors: the envelope, rendered and logged by the service.
	for _, tt := range []struct {
		name, method, path, auth string
		want                     *apierror.Error
	}{
		{"no credentials", http.MethodGet, "/admin/killswitch/", "", apierror.Unauthenticated()},
		{"unknown route", http.MethodPut, "/admin/killswitch/project/p1", op, apierror.NotFound()},
		{"unknown method", http.MethodPost, "/admin/killswitch/global", op, apierror.NotFound()},
		{"bad id", http.MethodPut, "/admin/killswitch/key/a%20b", op, apierror.Validation(apierror.Issue{Path: "id", Message: "must be a non-empty printable id of at most 256 bytes."})},
	} {
		s.logs.Reset()
		var hdr []string
		if tt.auth != "" {
			hdr = []string{"Authorization", tt.auth}
		}
		r := s.do(t, tt.method, tt.path, "", hdr...)
		assert.Equal(t, tt.want.Status(), r.status, tt.name)
		assert.Equal(t, string(tt.want.Render(r.requestID)), r.body, tt.name)
		line := ksLogLine(t, s.logs, r.requestID)
		assert.Equal(t, string(tt.want.Code()), line["code"], tt.name)
		assert.Equal(t, "/admin/killswitch/*", line["route"], tt.name)
	}
	list, err := s.switches.List(context.Background())
	require.NoError(t, err)
	assert.Empty(t, list)
}

// ksLogLine returns the service's log line for the request id.
func ksLogLine(t *testing.T, logs *bytes.Buffer, id string) map[string]any {
	t.Helper()
	for _, raw := range bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
		var line map[string]any
		require.NoError(t, json.Unmarshal(raw, &line), string(raw))
		if line["requestId"] == id {
			return line
		}
	}
	t.Fatalf("no log line for request %s in %s", id, logs.String())
	return nil
}

func TestKillSwitchConfigErrors(t *testing.T) {
	_, err := echo5.KillSwitchConfig{}.ToMiddleware()
	assert.EqualError(t, err, "errkit/echo5: KillSwitchConfig.Guard is nil")
	assert.Panics(t, func() { echo5.KillSwitch(nil) })
	assert.Panics(t, func() { echo5.KillSwitchWithConfig(echo5.KillSwitchConfig{}) })

	m, err := killswitch.NewMemoryStore(killswitch.MemoryConfig{})
	require.NoError(t, err)
	g, err := killswitch.New(killswitch.Config{Checker: m})
	require.NoError(t, err)
	assert.NotPanics(t, func() { echo5.KillSwitch(g) })

	admin, err := killswitch.NewAdmin(killswitch.AdminConfig{Controller: m, Authorize: func(*http.Request) (string, error) { return "op", nil }})
	require.NoError(t, err)
	e := echo.New()
	assert.Error(t, echo5.RegisterAdmin(nil, admin))
	assert.Error(t, echo5.RegisterAdmin(e.Group("/a"), nil))
	assert.Empty(t, e.Router().Routes(), "nothing is registered on error")
	assert.NoError(t, echo5.RegisterAdmin(e.Group("/a"), admin))
}

// TestRegisterAdminOnGroupWithMiddleware: the operator API on a group with
// its own middleware (echo v5 then registers the group's 404 routes at the
// same paths) still gets every method and path, and the middleware runs.
func TestRegisterAdminOnGroupWithMiddleware(t *testing.T) {
	m, err := killswitch.NewMemoryStore(killswitch.MemoryConfig{Now: func() time.Time { return ksAt }})
	require.NoError(t, err)
	admin, err := killswitch.NewAdmin(killswitch.AdminConfig{
		Controller: m,
		Authorize:  func(*http.Request) (string, error) { return "alice", nil },
		Now:        func() time.Time { return ksAt },
	})
	require.NoError(t, err)
	e := echo.New()
	require.NoError(t, echo5.Install(e, echo5.Config{Logger: slog.New(slog.DiscardHandler)}))
	var ran int
	g := e.Group("/ops", func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error { ran++; return next(c) }
	})
	require.NoError(t, echo5.RegisterAdmin(g, admin))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	s := &ksServer{url: srv.URL}

	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{http.MethodPut, "/ops/key/k9", http.StatusOK},
		{http.MethodGet, "/ops", http.StatusOK},
		{http.MethodGet, "/ops/", http.StatusOK},
		{http.MethodPost, "/ops/global", http.StatusNotFound},
		{http.MethodDelete, "/ops/key/k9", http.StatusNoContent},
	} {
		r := s.do(t, tt.method, tt.path, "")
		assert.Equal(t, tt.status, r.status, "%s %s: %s", tt.method, tt.path, r.body)
		assert.True(t, requestid.Valid(r.requestID))
	}
	assert.Equal(t, 5, ran, "the group's middleware ran for every request")
}
