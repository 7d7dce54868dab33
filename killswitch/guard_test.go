package killswitch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/principal"
)

// Test headers the fake authentication reads.
const (
	hdrKey = "X-Test-Key"
	hdrOrg = "X-Test-Org"
)

// errUnauthenticated is what the fake authentication answers without a key.
var errUnauthenticated = apierror.Unauthenticated()

// stack is the recommended order, on the core alone: the global guard, the
// service's authentication (which records the principal named by the test
// headers, or refuses the request), the per-caller guard, then what stands
// for the rate limiter, which a switched-off request must not reach.
type stack struct {
	global, perCaller *Guard
	skip              func(*http.Request) bool
	reached           int
}

func newStack(t *testing.T, cfg Config) *stack {
	t.Helper()
	cfg.GlobalOnly = true
	global, err := New(cfg)
	require.NoError(t, err)
	cfg.GlobalOnly = false
	perCaller, err := New(cfg)
	require.NoError(t, err)
	return &stack{global: global, perCaller: perCaller, skip: cfg.Skip}
}

// serve runs r through the stack and returns the response header the guards
// wrote and the error that refused r (nil when r reached the end).
func (s *stack) serve(r *http.Request) (http.Header, error) {
	h := http.Header{}
	if err := s.global.Check(h, r); err != nil {
		return h, err
	}
	if key := r.Header.Get(hdrKey); key != "" {
		r = principal.Set(r, principal.Principal{KeyID: key, OrganizationID: r.Header.Get(hdrOrg)})
	} else if s.skip == nil || !s.skip(r) { // the service's auth exempts the same routes
		return h, errUnauthenticated
	}
	if err := s.perCaller.Check(h, r); err != nil {
		return h, err
	}
	s.reached++
	return h, nil
}

func request(path, key, org string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if key != "" {
		r.Header.Set(hdrKey, key)
	}
	if org != "" {
		r.Header.Set(hdrOrg, org)
	}
	return r
}

// retryAfter returns h's Retry-After, or "<none>" when it is not set.
func retryAfter(h http.Header) string {
	if _, ok := h["Retry-After"]; !ok {
		return "<none>"
	}
	return h.Get("Retry-After")
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

// requireKillSwitch asserts err is KILL_SWITCH for scope, with the exact
// envelope (which carries nothing of the operator's reason, name or time).
func requireKillSwitch(t *testing.T, scope Scope, err error) {
	t.Helper()
	e, ok := apierror.As(err)
	require.True(t, ok, "%v is not an *apierror.Error", err)
	assert.Equal(t, http.StatusServiceUnavailable, e.Status())
	assert.Equal(t, killSwitchBody(scope, "req_test"), string(e.Render("req_test")))
}

func TestGuardAnswersEachScope(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 4, 18, 14, 0, 0, 0, time.UTC)
	now := func() time.Time { return at.Add(100 * time.Second) }
	tests := []struct {
		name      string
		on        []Switch
		key, org  string
		wantScope Scope // "" = passes
		wantRA    string
	}{
		{"nothing on", nil, "k1", "o1", "", "<none>"},
		{"key", []Switch{{Scope: ScopeKey, ID: "k1", Reason: "secret reason", By: "alice"}}, "k1", "o1", ScopeKey, "<none>"},
		{"other key passes", []Switch{{Scope: ScopeKey, ID: "k1"}}, "k2", "o1", "", "<none>"},
		{"organization", []Switch{{Scope: ScopeOrganization, ID: "o1", Reason: "secret"}}, "k1", "o1", ScopeOrganization, "<none>"},
		{"global without estimate", []Switch{{Scope: ScopeGlobal, Reason: "incident 42"}}, "k1", "o1", ScopeGlobal, "<none>"},
		{"global with estimate: time left", []Switch{{Scope: ScopeGlobal, At: at, ExpectedDuration: 10 * time.Minute}}, "k1", "o1", ScopeGlobal, "500"},
		{"global with estimate: rounded up", []Switch{{Scope: ScopeGlobal, At: at, ExpectedDuration: 100*time.Second + 1500*time.Millisecond}}, "k1", "o1", ScopeGlobal, "2"},
		{"global with estimate: overdue is one second", []Switch{{Scope: ScopeGlobal, At: at, ExpectedDuration: time.Second}}, "k1", "o1", ScopeGlobal, "1"},
		{"global answers unauthenticated requests too", []Switch{{Scope: ScopeGlobal}}, "", "", ScopeGlobal, "<none>"},
		{"precedence: org over key", []Switch{{Scope: ScopeKey, ID: "k1"}, {Scope: ScopeOrganization, ID: "o1"}}, "k1", "o1", ScopeOrganization, "<none>"},
		{"precedence: global over all", []Switch{{Scope: ScopeKey, ID: "k1"}, {Scope: ScopeOrganization, ID: "o1"}, {Scope: ScopeGlobal, At: at, ExpectedDuration: time.Hour}}, "k1", "o1", ScopeGlobal, "3500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMemory(t, MemoryConfig{})
			for _, s := range tt.on {
				require.NoError(t, m.On(ctx, s))
			}
			st := newStack(t, Config{Checker: m, Now: now})
			h, err := st.serve(request("/v1/ping", tt.key, tt.org))
			assert.Equal(t, tt.wantRA, retryAfter(h))
			if tt.wantScope == "" {
				require.NoError(t, err)
				assert.Equal(t, 1, st.reached)
				assert.Empty(t, h, "a request let through gets no header")
				return
			}
			requireKillSwitch(t, tt.wantScope, err)
			assert.Zero(t, st.reached, "a switched-off request must not reach the rate limiter")
		})
	}
}

func TestGuardUnflipRestores(t *testing.T) {
	ctx := context.Background()
	m := newMemory(t, MemoryConfig{})
	st := newStack(t, Config{Checker: m})
	for _, s := range []Switch{{Scope: ScopeKey, ID: "k1"}, {Scope: ScopeOrganization, ID: "o1"}, {Scope: ScopeGlobal, ExpectedDuration: time.Minute}} {
		t.Run(string(s.Scope), func(t *testing.T) {
			_, err := st.serve(request("/v1/ping", "k1", "o1"))
			require.NoError(t, err)
			require.NoError(t, m.On(ctx, s))
			_, err = st.serve(request("/v1/ping", "k1", "o1"))
			requireKillSwitch(t, s.Scope, err)
			require.NoError(t, m.Off(ctx, s.Scope, s.ID))
			h, err := st.serve(request("/v1/ping", "k1", "o1"))
			require.NoError(t, err)
			assert.Equal(t, "<none>", retryAfter(h))
		})
	}
}

func TestGuardExemptRoutes(t *testing.T) {
	m := newMemory(t, MemoryConfig{})
	require.NoError(t, m.On(context.Background(), Switch{Scope: ScopeGlobal}))
	st := newStack(t, Config{Checker: m, Skip: SkipPaths("/healthz", "/admin/*")})
	for _, path := range []string{"/healthz", "/admin/x"} {
		_, err := st.serve(request(path, "", ""))
		assert.NoError(t, err, path)
	}
	assert.Equal(t, 2, st.reached)
	_, err := st.serve(request("/v1/ping", "k", "o"))
	requireKillSwitch(t, ScopeGlobal, err)
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
	for _, tt := range tests {
		assert.Equal(t, tt.want, skip(httptest.NewRequest(http.MethodGet, tt.path, nil)), tt.path)
	}
	assert.False(t, skip(nil), "a nil request is never skipped, and does not panic")
	assert.False(t, SkipPaths()(httptest.NewRequest(http.MethodGet, "/healthz", nil)))
}

func TestGuardCustomExtractors(t *testing.T) {
	m := newMemory(t, MemoryConfig{})
	require.NoError(t, m.On(context.Background(), Switch{Scope: ScopeOrganization, ID: "org-from-header"}))
	g, err := New(Config{
		Checker:            m,
		KeyIDFunc:          func(*http.Request) string { return "k" },
		OrganizationIDFunc: func(r *http.Request) string { return r.Header.Get("X-Org") },
	})
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	require.NoError(t, g.Check(http.Header{}, r))
	r.Header.Set("X-Org", "org-from-header")
	requireKillSwitch(t, ScopeOrganization, g.Check(http.Header{}, r))
}

func TestGuardGlobalOnlyIgnoresExtractors(t *testing.T) {
	m := newMemory(t, MemoryConfig{})
	ctx := context.Background()
	require.NoError(t, m.On(ctx, Switch{Scope: ScopeKey, ID: "k1"}))
	require.NoError(t, m.On(ctx, Switch{Scope: ScopeOrganization, ID: "o1"}))
	called := false
	extract := func(*http.Request) string { called = true; return "k1" }
	g, err := New(Config{Checker: m, GlobalOnly: true, KeyIDFunc: extract, OrganizationIDFunc: extract})
	require.NoError(t, err)
	r := principal.Set(httptest.NewRequest(http.MethodGet, "/", nil), principal.Principal{KeyID: "k1", OrganizationID: "o1"})
	require.NoError(t, g.Check(http.Header{}, r))
	assert.False(t, called, "a global-only guard never asks for the caller")
	require.NoError(t, m.On(ctx, Switch{Scope: ScopeGlobal}))
	requireKillSwitch(t, ScopeGlobal, g.Check(http.Header{}, r))
}

func TestGuardDefaultsReadThePrincipal(t *testing.T) {
	snap, err := NewSnapshot([]Switch{{Scope: ScopeKey, ID: "k1"}})
	require.NoError(t, err)
	g, err := New(Config{Checker: snap})
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	require.NoError(t, g.Check(http.Header{}, r), "an unauthenticated request matches no key switch")
	requireKillSwitch(t, ScopeKey, g.Check(http.Header{}, principal.Set(r, principal.Principal{KeyID: "k1"})))
}

func TestGuardPassDoesNotAllocate(t *testing.T) {
	m := newMemory(t, MemoryConfig{})
	require.NoError(t, m.On(context.Background(), Switch{Scope: ScopeKey, ID: "k_off"}))
	g, err := New(Config{Checker: m})
	require.NoError(t, err)
	r := principal.Set(httptest.NewRequest(http.MethodGet, "/", nil), principal.Principal{KeyID: "k1", OrganizationID: "o1"})
	h := http.Header{}
	allocs := testing.AllocsPerRun(1000, func() {
		if g.Check(h, r) != nil {
			t.Fatal("refused")
		}
	})
	assert.Zero(t, allocs)
}

func TestNewConfigErrors(t *testing.T) {
	g, err := New(Config{})
	assert.EqualError(t, err, "killswitch: Config.Checker is nil")
	assert.Nil(t, g)
	g, err = New(Config{Checker: newMemory(t, MemoryConfig{})})
	require.NoError(t, err)
	assert.NotNil(t, g)
}
