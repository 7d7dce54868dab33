package middleware

import (
	"errors"
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
)

func TestSmoke(t *testing.T) {
	e, logs := newEcho(t, Config{})
	e.GET("/ok", func(c echo.Context) error { return c.String(200, RequestIDFrom(c)) })
	e.GET("/err", func(c echo.Context) error { return errors.New("pq: password=hunter2") })
	rec := do(e, http.MethodGet, "/ok", nil)
	assert.Equal(t, rec.Header().Get(HeaderRequestID), rec.Body.String())
	rec = do(e, http.MethodGet, "/err", nil)
	env := requireEnvelope(t, rec, 500, "INTERNAL")
	t.Log(rec.Body.String(), joinLog(linesWith(logs, env.Error.RequestID)))
}
