package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
	errkitmw "github.com/layershq/errkit/middleware"
)

// TestInstallEvents checks Config.Events on echo v4: a KindRequest per
// request and one KindError per error with c.Path() as the route, "" for
// the router's own 404 and the template for its 405, with echo's Logger
// style double handling counted once.
func TestInstallEvents(t *testing.T) {
	var got []event.Event
	e := echo.New()
	require.NoError(t, errkitmw.Install(e, errkitmw.Config{Events: func(_ context.Context, ev event.Event) {
		ev.Err = nil
		got = append(got, ev)
	}}))
	e.GET("/things/:id", func(c echo.Context) error {
		if c.Param("id") == "twice" {
			err := apierror.Conflict("x")
			c.Error(err) // as echo's Logger middleware does
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
