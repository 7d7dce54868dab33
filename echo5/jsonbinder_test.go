package echo5

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/jsonbody"
)

// binderProject is what the binder tests bind: a path parameter, a query
// parameter and a JSON field.
type binderProject struct {
	ID    int    `param:"id" json:"-"`
	Limit int    `query:"limit" json:"-"`
	Name  string `json:"name"`
}

// issues returns the details of a VALIDATION with one issue.
func issues(path, msg string) string {
	b, _ := json.Marshal(map[string]any{"issues": []apierror.Issue{{Path: path, Message: msg}}})
	return string(b)
}

// TestJSONBinder binds requests on a real listener, through Install's
// error handler: JSON binds with the path and query parameters; every
// ambiguous or oversized body is refused with the exact envelope.
func TestJSONBinder(t *testing.T) {
	const maxBytes = 64
	e, _ := newEcho(t, Config{})
	e.Binder = JSONBinder{Options: jsonbody.Options{MaxBytes: maxBytes}}
	bound := func(c *echo.Context) error {
		var p binderProject
		if err := c.Bind(&p); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"id": p.ID, "limit": p.Limit, "name": p.Name})
	}
	e.POST("/v1/projects/:id", bound)
	e.GET("/v1/projects/:id", bound)
	e.Add(echo.QUERY, "/v1/projects/:id", bound)
	srv := httptest.NewServer(e)
	defer srv.Close()

	const (
		jsonType = "application/json"
		badType  = "Unsupported Content-Type; send application/json."
	)
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		status      int
		code        apierror.Code // "" for a bound request; want is then the body
		details     string
		want        string
	}{
		{name: "valid JSON binds, with the path parameter", method: http.MethodPost, path: "/v1/projects/7", contentType: jsonType,
			body: `{"name":"launch"}`, status: 200, want: `{"id":7,"limit":0,"name":"launch"}`},
		{name: "a +json type binds", method: http.MethodPost, path: "/v1/projects/7", contentType: "application/merge-patch+json; charset=utf-8",
			body: `{"name":"launch"}`, status: 200, want: `{"id":7,"limit":0,"name":"launch"}`},
		{name: "GET without a body binds path and query parameters", method: http.MethodGet, path: "/v1/projects/7?limit=5",
			status: 200, want: `{"id":7,"limit":5,"name":""}`},
		{name: "QUERY binds the query, and its JSON body", method: echo.QUERY, path: "/v1/projects/7?limit=5", contentType: jsonType,
			body: `{"name":"x"}`, status: 200, want: `{"id":7,"limit":5,"name":"x"}`},
		{name: "POST does not bind the query", method: http.MethodPost, path: "/v1/projects/7?limit=5", contentType: jsonType,
			body: `{"name":"x"}`, status: 200, want: `{"id":7,"limit":0,"name":"x"}`},
		{name: "XML body", method: http.MethodPost, path: "/v1/projects/7", contentType: "application/xml",
			body: `<binderProject><Name>launch</Name></binderProject>`, status: 422, code: apierror.CodeValidation,
			details: issues("header:Content-Type", badType)},
		{name: "form body", method: http.MethodPost, path: "/v1/projects/7", contentType: "application/x-www-form-urlencoded",
			body: `name=launch`, status: 422, code: apierror.CodeValidation, details: issues("header:Content-Type", badType)},
		{name: "no Content-Type", method: http.MethodPost, path: "/v1/projects/7",
			body: `{"name":"launch"}`, status: 422, code: apierror.CodeValidation,
			details: issues("header:Content-Type", "Content-Type is required; send application/json.")},
		{name: "trailing data", method: http.MethodPost, path: "/v1/projects/7", contentType: jsonType,
			body: `{"name":"a"} {"name":"b"}`, status: 422, code: apierror.CodeValidation,
			details: issues("body", "The body has data after the JSON value (at byte offset 13).")},
		{name: "invalid UTF-8", method: http.MethodPost, path: "/v1/projects/7", contentType: jsonType,
			body: "{\"name\":\"\xff\"}", status: 422, code: apierror.CodeValidation,
			details: issues("body", "The body is not valid UTF-8 (invalid byte at offset 9).")},
		{name: "duplicated key", method: http.MethodPost, path: "/v1/projects/7", contentType: jsonType,
			body: `{"name":"a","name":"b"}`, status: 422, code: apierror.CodeValidation,
			details: issues("name", "appears more than once in its object.")},
		{name: "empty POST body", method: http.MethodPost, path: "/v1/projects/7", contentType: jsonType,
			status: 422, code: apierror.CodeValidation, details: issues("body", "The body is empty; send a JSON value.")},
		{name: "oversize", method: http.MethodPost, path: "/v1/projects/7", contentType: jsonType,
			body: `{"name":"` + strings.Repeat("x", maxBytes) + `"}`, status: 413, code: apierror.CodePayloadTooLarge,
			details: `{"maxBytes":64}`},
		{name: "a path parameter that does not bind", method: http.MethodPost, path: "/v1/projects/seven", contentType: jsonType,
			body: `{"name":"launch"}`, status: 422, code: apierror.CodeValidation,
			details: issues("request", "The request could not be parsed.")},
		{name: "a query parameter that does not bind", method: http.MethodGet, path: "/v1/projects/7?limit=many",
			status: 422, code: apierror.CodeValidation, details: issues("request", "The request could not be parsed.")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reqBody io.Reader
			if tt.body != "" {
				reqBody = strings.NewReader(tt.body)
			}
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, reqBody)
			require.NoError(t, err)
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			res, err := srv.Client().Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			got, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.status, res.StatusCode)
			if tt.code == "" {
				assert.JSONEq(t, tt.want, string(got))
				return
			}
			requireErrorHeaders(t, res.Header)
			assert.Equal(t, body(tt.code, res.Header.Get(HeaderRequestID), tt.details), string(got))
		})
	}
}

// TestJSONBinderOuterBodyLimit: errkit's BodyLimit middleware, smaller
// than the binder's cap, has the last word, with its own limit in
// details.maxBytes (a chunked body, so that only reading finds it).
func TestJSONBinderOuterBodyLimit(t *testing.T) {
	e, _ := newEcho(t, Config{})
	e.Binder = JSONBinder{}
	e.POST("/v1/projects", func(c *echo.Context) error {
		var p binderProject
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
