package killswitch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/internal/redistest"
	errkitmw "github.com/layershq/errkit/middleware"
)

// operatorAuth accepts "Bearer op-alice" as operator alice, refuses
// "Bearer readonly" with FORBIDDEN_SCOPE, and anything else.
func operatorAuth(c echo.Context) (string, error) {
	switch c.Request().Header.Get("Authorization") {
	case "Bearer op-alice":
		return "alice", nil
	case "Bearer readonly":
		return "", apierror.ForbiddenScope("killswitch:write")
	}
	return "", errors.New("no operator credentials")
}

var adminNow = time.Date(2026, 4, 18, 14, 22, 10, 0, time.UTC)

// newAdminServer mounts the operator API at /admin/killswitch on a real
// echo, with or without the errkit middleware installed.
func newAdminServer(t *testing.T, ctl Controller, install bool) *httptest.Server {
	t.Helper()
	e := echo.New()
	if install {
		require.NoError(t, errkitmw.Install(e, errkitmw.Config{Logger: zap.NewNop()}))
	}
	require.NoError(t, RegisterAdminWithConfig(e.Group("/admin/killswitch"), AdminConfig{
		Controller: ctl, Authorize: operatorAuth, Now: func() time.Time { return adminNow.Add(300 * time.Millisecond) },
	}))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
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
	return response{status: res.StatusCode, body: string(b), requestID: res.Header.Get("X-Request-Id")}
}

func TestAdminFlow(t *testing.T) {
	m := NewMemory()
	srv := newAdminServer(t, m, true)
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
		{"list", "GET", "/", "", 200, `{"switches":[` +
			`{"scope":"global","reason":"incident 42","by":"alice","at":"2026-04-18T14:22:10Z","expectedDurationSeconds":600},` +
			`{"scope":"organization","id":"org_1","reason":"","by":"alice","at":"2026-04-18T14:22:10Z"},` +
			`{"scope":"key","id":"key_9","reason":"leaked","by":"alice","at":"2026-04-18T14:22:10Z"}]}` + "\n"},
		{"global off", "DELETE", "/global", "", 204, ""},
		{"global off again", "DELETE", "/global", "", 204, ""},
		{"key off", "DELETE", "/key/key_9", "", 204, ""},
		{"list after", "GET", "", "", 200, `{"switches":[{"scope":"organization","id":"org_1","reason":"","by":"alice","at":"2026-04-18T14:22:10Z"}]}` + "\n"},
	}
	for _, st := range steps {
		r := do(t, st.method, base+st.path, op, st.body)
		require.Equal(t, st.status, r.status, st.name+": "+r.body)
		assert.Equal(t, st.want, r.body, st.name)
	}
	sw, on := m.Check("key_9", "org_1")
	require.True(t, on)
	assert.Equal(t, Switch{Scope: ScopeOrganization, ID: "org_1", By: "alice", At: adminNow}, sw)
}

func TestAdminErrors(t *testing.T) {
	m := NewMemory()
	for _, install := range []bool{true, false} {
		srv := newAdminServer(t, m, install)
		base := srv.URL + "/admin/killswitch"
		const op = "Bearer op-alice"
		tests := []struct {
			name, method, path, auth, body string
			want                           *apierror.Error
		}{
			{"no credentials", "GET", "", "", "", apierror.Unauthenticated()},
			{"no credentials, put", "PUT", "/global", "", "", apierror.Unauthenticated()},
			{"no credentials, unknown route", "GET", "/project/p1", "", "", apierror.Unauthenticated()},
			{"authorizer's own error", "PUT", "/key/k", "Bearer readonly", "", apierror.ForbiddenScope("killswitch:write")},
			{"unknown route", "PUT", "/project/p1", op, "", apierror.NotFound()},
			{"not json", "PUT", "/global", op, "reason=x", apierror.Validation(apierror.Issue{Path: "body",
				Message: `must be a JSON object {"reason": string, "expectedDurationSeconds": integer}.`})},
			{"unknown field", "PUT", "/global", op, `{"reason":"x","by":"mallory"}`, apierror.Validation(apierror.Issue{Path: "body",
				Message: `must be a JSON object {"reason": string, "expectedDurationSeconds": integer}.`})},
			{"two objects", "PUT", "/global", op, `{} {}`, apierror.Validation(apierror.Issue{Path: "body", Message: "must hold a single JSON object."})},
			{"negative duration", "PUT", "/global", op, `{"expectedDurationSeconds":-1}`, apierror.Validation(apierror.Issue{Path: "expectedDurationSeconds", Message: "must be between 0 and 31536000."})},
			{"reason too long", "PUT", "/global", op, `{"reason":"` + strings.Repeat("r", MaxReasonLength+1) + `"}`, apierror.Validation(apierror.Issue{Path: "reason", Message: "must be at most 1024 bytes."})},
			{"duration on key", "PUT", "/key/k1", op, `{"expectedDurationSeconds":60}`, apierror.Validation(apierror.Issue{Path: "expectedDurationSeconds", Message: "is accepted on the global switch only."})},
			{"id with space", "PUT", "/key/a%20b", op, "", apierror.Validation(apierror.Issue{Path: "id", Message: "must be a non-empty printable id of at most 256 bytes."})},
			{"id with space, delete", "DELETE", "/organization/a%20b", op, "", apierror.Validation(apierror.Issue{Path: "id", Message: "must be a non-empty printable id of at most 256 bytes."})},
			{"body too large", "PUT", "/global", op, `{"reason":"` + strings.Repeat("r", MaxAdminBody) + `"}`, apierror.PayloadTooLarge(MaxAdminBody)},
		}
		for _, tt := range tests {
			r := do(t, tt.method, base+tt.path, tt.auth, tt.body)
			assert.Equal(t, tt.want.Status(), r.status, tt.name)
			require.NotEmpty(t, r.requestID, tt.name)
			assert.Equal(t, string(tt.want.Render(r.requestID)), r.body, "%s (install=%v)", tt.name, install)
		}
	}
	got, err := m.List(context.Background())
	require.NoError(t, err)
	assert.Empty(t, got, "no refused request changed anything")
}

// TestAdminControllerFailure uses a Redis source whose Redis is down: the
// operator gets INTERNAL with the fixed message, never Redis's error.
func TestAdminControllerFailure(t *testing.T) {
	inst := redistest.Private(t)
	r := newRedisSource(t, RedisConfig{Client: newClientNoRetry(t, inst), Prefix: inst.Prefix(t), Logger: zap.NewNop(), Timeout: 300 * time.Millisecond})
	inst.Stop(t)
	srv := newAdminServer(t, r, true)
	for _, st := range []struct{ method, path string }{{"GET", ""}, {"PUT", "/global"}, {"DELETE", "/key/k1"}} {
		res := do(t, st.method, srv.URL+"/admin/killswitch"+st.path, "Bearer op-alice", "")
		assert.Equal(t, http.StatusInternalServerError, res.status)
		assert.Equal(t, `{"error":{"code":"INTERNAL","message":"`+apierror.InternalMessage+`","requestId":"`+res.requestID+`"}}`, res.body)
		assert.NotContains(t, res.body, "refused")
	}
}

func TestRegisterAdminConfigErrors(t *testing.T) {
	g := echo.New().Group("/a")
	assert.Error(t, RegisterAdmin(nil, NewMemory(), operatorAuth))
	assert.Error(t, RegisterAdmin(g, nil, operatorAuth))
	assert.Error(t, RegisterAdmin(g, NewMemory(), nil))
	assert.NoError(t, RegisterAdmin(g, NewMemory(), operatorAuth))
}
