package killswitch

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	errkitmw "github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/principal"
)

// Test headers the fake authentication middleware reads.
const (
	hdrKey = "X-Test-Key"
	hdrOrg = "X-Test-Org"
)

// fakeAuth records the principal named by the test headers, or answers
// UNAUTHENTICATED when there is none, like a service's auth middleware.
func fakeAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key := c.Request().Header.Get(hdrKey)
		if key == "" {
			return echo.ErrUnauthorized
		}
		principal.Set(c, principal.Principal{KeyID: key, OrganizationID: c.Request().Header.Get(hdrOrg)})
		return next(c)
	}
}

// newServer starts a real echo with the errkit middleware installed, the
// recommended order (global check, auth, key/org check), routes /v1/ping,
// /healthz and /admin/x, and a counter of handler calls standing in for the
// rate limiter that must not be reached.
func newServer(t *testing.T, checker Checker, now func() time.Time) (*httptest.Server, *int) {
	t.Helper()
	e := echo.New()
	require.NoError(t, errkitmw.Install(e, errkitmw.Config{Logger: zap.NewNop()}))
	skip := SkipPaths("/healthz", "/admin/*")
	cfg := DefaultKillSwitchConfig
	cfg.Checker, cfg.Skipper, cfg.GlobalOnly, cfg.Now = checker, skip, true, now
	e.Use(KillSwitchWithConfig(cfg))
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if skip(c) {
				return next(c)
			}
			return fakeAuth(next)(c)
		}
	})
	cfg.GlobalOnly = false
	e.Use(KillSwitchWithConfig(cfg))
	reached := new(int)
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc { // stands for the rate limiter
		return func(c echo.Context) error { *reached++; return next(c) }
	})
	ok := func(c echo.Context) error { return c.String(http.StatusOK, "ok") }
	e.GET("/v1/ping", ok)
	e.GET("/healthz", ok)
	e.GET("/admin/x", ok)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv, reached
}

type response struct {
	status     int
	body       string
	requestID  string
	retryAfter string
}

func get(t *testing.T, url, key, org string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set(hdrKey, key)
	}
	if org != "" {
		req.Header.Set(hdrOrg, org)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	_, hasRA := res.Header[http.CanonicalHeaderKey("Retry-After")]
	ra := res.Header.Get("Retry-After")
	if !hasRA {
		ra = "<none>"
	}
	return response{status: res.StatusCode, body: string(b), requestID: res.Header.Get("X-Request-Id"), retryAfter: ra}
}

// killSwitchBody is the exact envelope of KILL_SWITCH for scope.
func killSwitchBody(scope Scope, requestID string) string {
	msg := map[Scope]string{
		ScopeKey:          "This API key has been switched off. Contact Layers support.",
		ScopeOrganization: "Your organization's access has been switched off. Contact Layers support.",
		ScopeGlobal:       "The Partner API is temporarily switched off. Retry later.",
	}[scope]
	return `{"error":{"code":"KILL_SWITCH","message":"` + msg + `","requestId":"` + requestID +
		`","details":{"scope":"` + string(scope) + `"}}}`
}

func TestMiddlewareAnswersEachScope(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 4, 18, 14, 0, 0, 0, time.UTC)
	now := func() time.Time { return at.Add(100 * time.Second) }
	tests := []struct {
		name      string
		on        []Switch
		key, org  string
		wantScope Scope // "" = 200
		wantRA    string
	}{
		{"nothing on", nil, "k1", "o1", "", "<none>"},
		{"key", []Switch{{Scope: ScopeKey, ID: "k1", Reason: "secret reason", By: "alice"}}, "k1", "o1", ScopeKey, "<none>"},
		{"other key passes", []Switch{{Scope: ScopeKey, ID: "k1"}}, "k2", "o1", "", "<none>"},
		{"organization", []Switch{{Scope: ScopeOrganization, ID: "o1", Reason: "secret"}}, "k1", "o1", ScopeOrganization, "<none>"},
		{"global without estimate", []Switch{{Scope: ScopeGlobal, Reason: "incident 42"}}, "k1", "o1", ScopeGlobal, "<none>"},
		{"global with estimate: time left", []Switch{{Scope: ScopeGlobal, At: at, ExpectedDuration: 10 * time.Minute}}, "k1", "o1", ScopeGlobal, "500"},
		{"global with estimate: rounded up", []Switch{{Scope: ScopeGlobal, At: at, ExpectedDuration: 100*time.Second + 1500*time.Millisecond}}, "k1", "o1", ScopeGlobal, "2"},
		{"global answers unauthenticated requests too", []Switch{{Scope: ScopeGlobal}}, "", "", ScopeGlobal, "<none>"},
		{"precedence: org over key", []Switch{{Scope: ScopeKey, ID: "k1"}, {Scope: ScopeOrganization, ID: "o1"}}, "k1", "o1", ScopeOrganization, "<none>"},
		{"precedence: global over all", []Switch{{Scope: ScopeKey, ID: "k1"}, {Scope: ScopeOrganization, ID: "o1"}, {Scope: ScopeGlobal, At: at, ExpectedDuration: time.Hour}}, "k1", "o1", ScopeGlobal, "3500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMemory()
			for _, s := range tt.on {
				require.NoError(t, m.On(ctx, s))
			}
			srv, reached := newServer(t, m, now)
			r := get(t, srv.URL+"/v1/ping", tt.key, tt.org)
			assert.Equal(t, tt.wantRA, r.retryAfter)
			if tt.wantScope == "" {
				assert.Equal(t, http.StatusOK, r.status)
				assert.Equal(t, "ok", r.body)
				assert.Equal(t, 1, *reached)
				return
			}
			assert.Equal(t, http.StatusServiceUnavailable, r.status)
			require.NotEmpty(t, r.requestID)
			assert.Equal(t, killSwitchBody(tt.wantScope, r.requestID), r.body)
			assert.Zero(t, *reached, "a switched-off request must not reach the rate limiter")
		})
	}
}

func TestMiddlewareUnflipRestores(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	srv, _ := newServer(t, m, time.Now)
	for _, s := range []Switch{{Scope: ScopeKey, ID: "k1"}, {Scope: ScopeOrganization, ID: "o1"}, {Scope: ScopeGlobal, ExpectedDuration: time.Minute}} {
		t.Run(string(s.Scope), func(t *testing.T) {
			require.Equal(t, http.StatusOK, get(t, srv.URL+"/v1/ping", "k1", "o1").status)
			require.NoError(t, m.On(ctx, s))
			r := get(t, srv.URL+"/v1/ping", "k1", "o1")
			require.Equal(t, http.StatusServiceUnavailable, r.status)
			assert.Equal(t, killSwitchBody(s.Scope, r.requestID), r.body)
			require.NoError(t, m.Off(ctx, s.Scope, s.ID))
			r = get(t, srv.URL+"/v1/ping", "k1", "o1")
			assert.Equal(t, http.StatusOK, r.status)
			assert.Equal(t, "<none>", r.retryAfter)
		})
	}
}

func TestMiddlewareExemptRoutes(t *testing.T) {
	m := NewMemory()
	require.NoError(t, m.On(context.Background(), Switch{Scope: ScopeGlobal}))
	srv, _ := newServer(t, m, time.Now)
	for _, path := range []string{"/healthz", "/admin/x"} {
		r := get(t, srv.URL+path, "", "")
		assert.Equal(t, http.StatusOK, r.status, path)
	}
	assert.Equal(t, http.StatusServiceUnavailable, get(t, srv.URL+"/v1/ping", "k", "o").status)
}

func TestSkipPaths(t *testing.T) {
	skip := SkipPaths("/healthz", "/admin/*", "/exact")
	tests := []struct {
		path string
		want bool
	}{
		{"/healthz", true},
		{"/healthz/x", false},
		{"/healthzz", false},
		{"/admin", true},
		{"/admin/", true},
		{"/admin/killswitch/key/k1", true},
		{"/administrator", false},
		{"/exact", true},
		{"/v1/ping", false},
		{"/", false},
	}
	e := echo.New()
	for _, tt := range tests {
		c := e.NewContext(httptest.NewRequest(http.MethodGet, tt.path, nil), httptest.NewRecorder())
		assert.Equal(t, tt.want, skip(c), tt.path)
	}
}

func TestMiddlewareCustomExtractors(t *testing.T) {
	m := NewMemory()
	require.NoError(t, m.On(context.Background(), Switch{Scope: ScopeOrganization, ID: "org-from-header"}))
	e := echo.New()
	require.NoError(t, errkitmw.Install(e, errkitmw.Config{Logger: zap.NewNop()}))
	mw, err := KillSwitchConfig{
		Checker:            m,
		KeyIDFunc:          func(c echo.Context) string { return "k" },
		OrganizationIDFunc: func(c echo.Context) string { return c.Request().Header.Get("X-Org") },
	}.ToMiddleware()
	require.NoError(t, err)
	e.Use(mw)
	e.GET("/", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	srv := httptest.NewServer(e)
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	req.Header.Set("X-Org", "org-from-header")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	assert.Equal(t, killSwitchBody(ScopeOrganization, res.Header.Get("X-Request-Id")), string(b))
}

func TestMiddlewareConfigErrors(t *testing.T) {
	_, err := KillSwitchConfig{}.ToMiddleware()
	assert.EqualError(t, err, "killswitch: KillSwitchConfig.Checker is nil")
	assert.Panics(t, func() { KillSwitch(nil) })
	assert.Panics(t, func() { Global(nil) })
	assert.NotPanics(t, func() { KillSwitch(NewMemory()) })
}
