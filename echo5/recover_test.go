package echo5

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/labstack/echo/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
)

// TestRecover checks that panics in handlers, route and group middleware
// become INTERNAL, that the server keeps serving, and that the line has the
// panic and the stack.
func TestRecover(t *testing.T) {
	e, logs := newEcho(t, Config{})
	e.GET("/handler", func(*echo.Context) error { panic(apierror.NotFound()) })
	e.GET("/nil", func(*echo.Context) error { panic(nil) })
	g := e.Group("/mw", func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error { var m map[string]int; m["x"]++; return next(c) }
	})
	g.GET("/x", okHandler)
	e.GET("/ok", okHandler)
	for _, target := range []string{"/handler", "/nil", "/mw/x", "/mw/nowhere"} {
		t.Run(target, func(t *testing.T) {
			rec := do(e, http.MethodGet, target, nil)
			env := requireEnvelope(t, rec, 500, "INTERNAL")
			assert.Empty(t, rec.Header().Values("Allow"))
			lines := linesWith(logs, env.Error.RequestID)
			require.Len(t, lines, 1, target)
			assert.Contains(t, lines[0].Fields["error"], "panic: ")
			// The same panic site reached again logs its stack once per
			// interval: later lines carry the stack's ID and a repeat count.
			assert.NotEmpty(t, lines[0].Fields["stackId"])
			if lines[0].Fields["stack"] == nil {
				assert.NotNil(t, lines[0].Fields["stackRepeat"])
			}
			assert.Equal(t, 200, do(e, http.MethodGet, "/ok", nil).Code, "still serving")
		})
	}
}

// TestRecoverAbortHandler checks that http.ErrAbortHandler (also wrapped) is
// re-panicked, as net/http expects, for Install and the standalone
// middleware.
func TestRecoverAbortHandler(t *testing.T) {
	for _, v := range []any{http.ErrAbortHandler, fmt.Errorf("stream: %w", http.ErrAbortHandler)} {
		e, _ := newEcho(t, Config{})
		e.GET("/x", func(*echo.Context) error { panic(v) })
		assert.PanicsWithValue(t, v, func() { do(e, http.MethodGet, "/x", nil) })

		s := echo.New()
		s.Use(Recover())
		s.GET("/x", func(*echo.Context) error { panic(v) })
		assert.PanicsWithValue(t, v, func() { do(s, http.MethodGet, "/x", nil) })
	}
}

// TestRecoverStandalone checks Recover on its own: the panic is returned
// to echo's error handler as a *PanicError, handled once, and the skipper
// works.
func TestRecoverStandalone(t *testing.T) {
	var got []error
	e := echo.New()
	e.HTTPErrorHandler = func(c *echo.Context, err error) { got = append(got, err); _ = c.NoContent(599) }
	e.Use(RecoverWithConfig(RecoverConfig{StackSize: 64, Skipper: func(c *echo.Context) bool { return c.Path() == "/skip" }}))
	e.GET("/x", func(*echo.Context) error { panic("boom") })
	e.GET("/skip", func(*echo.Context) error { panic("unrecovered") })
	assert.Equal(t, 599, do(e, http.MethodGet, "/x", nil).Code)
	require.Len(t, got, 1)
	var pe *httperror.PanicError
	require.ErrorAs(t, got[0], &pe)
	assert.Equal(t, "boom", pe.Value)
	assert.LessOrEqual(t, len(pe.Stack), 64)
	assert.Panics(t, func() { do(e, http.MethodGet, "/skip", nil) })
	assert.True(t, errors.Is(&httperror.PanicError{Value: apierror.NotFound()}, apierror.NotFound()))
}
