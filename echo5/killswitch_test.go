package echo5_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/echo5"
	"github.com/layershq/errkit/killswitch"
	"github.com/layershq/errkit/requestid"
)

// The kill switches' wire behaviour (every scope, the global guard in
// front of authentication with a Skipper, the operator API on an echo group
// end to end) is checked by the conformance suite (conformance_test.go).

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
	at := time.Date(2026, 4, 18, 14, 0, 0, 0, time.UTC)
	m, err := killswitch.NewMemoryStore(killswitch.MemoryConfig{Now: func() time.Time { return at }})
	require.NoError(t, err)
	admin, err := killswitch.NewAdmin(killswitch.AdminConfig{
		Controller: m,
		Authorize:  func(*http.Request) (string, error) { return "alice", nil },
		Now:        func() time.Time { return at },
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
		req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		require.NoError(t, err)
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		require.NoError(t, res.Body.Close())
		assert.Equal(t, tt.status, res.StatusCode, "%s %s: %s", tt.method, tt.path, body)
		assert.True(t, requestid.Valid(res.Header.Get(requestid.Header)))
	}
	assert.Equal(t, 5, ran, "the group's middleware ran for every request")
}
