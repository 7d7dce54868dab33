package middleware_test

import (
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/killswitch"
	errkitmw "github.com/layershq/errkit/middleware"
)

// The kill switches' wire behaviour (every scope, the global guard in
// front of authentication with a Skipper, the operator API on an echo group
// end to end) is checked by the conformance suite (conformance_test.go).

func TestKillSwitchConfigErrors(t *testing.T) {
	_, err := errkitmw.KillSwitchConfig{}.ToMiddleware()
	assert.EqualError(t, err, "errkit/middleware: KillSwitchConfig.Guard is nil")
	assert.Panics(t, func() { errkitmw.KillSwitch(nil) })
	assert.Panics(t, func() { errkitmw.KillSwitchWithConfig(errkitmw.KillSwitchConfig{}) })

	m, err := killswitch.NewMemoryStore(killswitch.MemoryConfig{})
	require.NoError(t, err)
	g, err := killswitch.New(killswitch.Config{Checker: m})
	require.NoError(t, err)
	assert.NotPanics(t, func() { errkitmw.KillSwitch(g) })

	admin, err := killswitch.NewAdmin(killswitch.AdminConfig{Controller: m, Authorize: func(*http.Request) (string, error) { return "op", nil }})
	require.NoError(t, err)
	e := echo.New()
	assert.Error(t, errkitmw.RegisterAdmin(nil, admin))
	assert.Error(t, errkitmw.RegisterAdmin(e.Group("/a"), nil))
	assert.Empty(t, e.Routes(), "nothing is registered on error")
	assert.NoError(t, errkitmw.RegisterAdmin(e.Group("/a"), admin))
}
