package middleware

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/conformance"
	"github.com/layershq/errkit/jsonbody"
)

// TestJSONBinder runs the conformance suite's strict-JSON binding
// scenario on a real listener, through Install's error handler.
func TestJSONBinder(t *testing.T) {
	conformance.JSONBinder(t, func(t *testing.T) http.Handler {
		e, _ := newEcho(t, Config{})
		e.Binder = JSONBinder{Options: jsonbody.Options{MaxBytes: conformance.BinderMaxBytes}}
		bound := func(c echo.Context) error {
			var p conformance.BinderProject
			if err := c.Bind(&p); err != nil {
				return err
			}
			return c.JSON(http.StatusOK, conformance.BinderAnswer(p))
		}
		e.POST("/v1/projects/:id", bound)
		e.GET("/v1/projects/:id", bound)
		return e
	})
}

// TestJSONBinderOuterBodyLimit: errkit's BodyLimit middleware, smaller
// than the binder's cap, has the last word, with its own limit in
// details.maxBytes (a chunked body, so that only reading finds it).
func TestJSONBinderOuterBodyLimit(t *testing.T) {
	e, _ := newEcho(t, Config{})
	e.Binder = JSONBinder{}
	e.POST("/v1/projects", func(c echo.Context) error {
		var p conformance.BinderProject
		if err := c.Bind(&p); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}, BodyLimit(16))
	srv := httptest.NewServer(e)
	defer srv.Close()

	pr, pw := io.Pipe()
	go func() {
		_, _ = io.WriteString(pw, `{"name":"`+strings.Repeat("x", 32)+`"}`)
		_ = pw.Close()
	}()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/projects", pr)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	assert.Equal(t, body(apierror.CodePayloadTooLarge, res.Header.Get(HeaderRequestID), `{"maxBytes":16}`), string(got))
}
