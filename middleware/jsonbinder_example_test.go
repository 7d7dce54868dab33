package middleware_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/layershq/errkit/jsonbody"
	errkitmw "github.com/layershq/errkit/middleware"
)

// JSONBinder makes c.Bind strict: path parameters bind as with echo's
// DefaultBinder, the body only as one JSON value; an XML body, trailing
// data or an oversized body is refused with the envelope.
func ExampleJSONBinder() {
	e := echo.New()
	if err := errkitmw.Install(e, errkitmw.Config{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		panic(err)
	}
	e.Binder = errkitmw.JSONBinder{Options: jsonbody.Options{MaxBytes: 64 << 10}}
	e.POST("/v1/projects/:id", func(c echo.Context) error {
		var req struct {
			ID   string `param:"id" json:"-"`
			Name string `json:"name"`
		}
		if err := c.Bind(&req); err != nil {
			return err // already an *apierror.Error, or echo's 400 for a path parameter
		}
		return c.String(http.StatusOK, req.ID+" "+req.Name)
	})

	for _, b := range []struct{ contentType, body string }{
		{"application/json", `{"name":"launch"}`},
		{"application/xml", `<project><name>launch</name></project>`},
		{"application/json", `{"name":"launch"} {"name":"again"}`},
	} {
		r := httptest.NewRequest(http.MethodPost, "/v1/projects/p_1", strings.NewReader(b.body))
		r.Header.Set("Content-Type", b.contentType)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, r)
		out := rec.Body.String()
		if i := strings.Index(out, `"details":`); i >= 0 {
			out = out[i : len(out)-2]
		}
		fmt.Println(rec.Code, out)
	}
	// Output:
	// 200 p_1 launch
	// 422 "details":{"issues":[{"path":"header:Content-Type","message":"Unsupported Content-Type; send application/json."}]}
	// 422 "details":{"issues":[{"path":"body","message":"The body has data after the JSON value (at byte offset 18)."}]}
}
