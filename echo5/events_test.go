package echo5_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/echo5"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/requestid"
)

// TestInstallEvents checks Config.Events on echo v5: a KindRequest per
// request and one KindError per error with c.Path() as the route, "" for
// the router's own 404 and the template for its 405, with the double
// handling of echo's RequestLogger (HandleError) counted once.
func TestInstallEvents(t *testing.T) {
	var got []event.Event
	e := echo.New()
	require.NoError(t, echo5.Install(e, echo5.Config{Events: func(_ context.Context, ev event.Event) {
		ev.Err = nil
		got = append(got, ev)
	}}))
	e.GET("/things/:id", func(c *echo.Context) error {
		if c.Param("id") == "twice" {
			err := apierror.Conflict("x")
			c.Echo().HTTPErrorHandler(c, err) // as echo's RequestLogger with HandleError does
			return err
		}
		if c.Param("id") == "missing" {
			return apierror.NotFound()
		}
		return c.NoContent(http.StatusNoContent)
	})
	errorOf := func(code apierror.Code, method, route string) event.Event {
		spec, _ := apierror.Lookup(code)
		return event.Event{Kind: event.KindError, Code: code, Status: spec.Status, Category: spec.Category, Method: method, Route: route}
	}
	tests := []struct {
		name, method, path string
		want               []event.Event
	}{
		{name: "success", method: "GET", path: "/things/1", want: []event.Event{{Kind: event.KindRequest, Method: "GET"}}},
		{name: "handler error", method: "GET", path: "/things/missing",
			want: []event.Event{{Kind: event.KindRequest, Method: "GET"}, errorOf(apierror.CodeNotFound, "GET", "/things/:id")}},
		{name: "handled twice, counted once", method: "GET", path: "/things/twice",
			want: []event.Event{{Kind: event.KindRequest, Method: "GET"}, errorOf(apierror.CodeConflict, "GET", "/things/:id")}},
		{name: "router 404", method: "GET", path: "/nowhere/1",
			want: []event.Event{{Kind: event.KindRequest, Method: "GET"}, errorOf(apierror.CodeNotFound, "GET", "")}},
		{name: "router 405", method: "PUT", path: "/things/1",
			want: []event.Event{{Kind: event.KindRequest, Method: "PUT"}, errorOf(apierror.CodeNotFound, "PUT", "/things/:id")}},
		{name: "other method", method: "PURGE", path: "/x",
			want: []event.Event{{Kind: event.KindRequest, Method: event.MethodOther}, errorOf(apierror.CodeNotFound, event.MethodOther, "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tt.method, tt.path, nil))
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestErrorHandedBackOnARestoredRequest checks an outer middleware that
// does what tracing middleware does: it hands the chain's error to the
// error handler itself, puts back the request it started with (without
// errkit's state), and returns the error, which echo then hands over
// again. The error is answered, logged and counted once, under the
// request's own ID.
func TestErrorHandedBackOnARestoredRequest(t *testing.T) {
	var got []event.Event
	logs := &bytes.Buffer{}
	e := echo.New()
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			saved := c.Request()
			defer c.SetRequest(saved)
			err := next(c)
			if err != nil {
				c.Echo().HTTPErrorHandler(c, err)
			}
			return err
		}
	})
	require.NoError(t, echo5.Install(e, echo5.Config{
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Events: func(_ context.Context, ev event.Event) { got = append(got, ev) },
	}))
	e.GET("/things/:id", func(*echo.Context) error { return apierror.NotFound() })

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/things/1", nil))
	require.Equal(t, http.StatusNotFound, rec.Code)
	id := rec.Header().Get(requestid.Header)
	var kinds []event.Kind
	for _, ev := range got {
		kinds = append(kinds, ev.Kind)
	}
	assert.Equal(t, []event.Kind{event.KindRequest, event.KindError}, kinds, "one KindError")
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 1, "one log line: %s", logs)
	assert.Contains(t, lines[0], `"requestId":"`+id+`"`)
}
