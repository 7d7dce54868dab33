package conformance

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
)

// BinderMaxBytes is the body cap of the server [JSONBinder] drives.
const BinderMaxBytes = 64

// BinderProject is what a [JSONBinder] server binds: a path parameter, a
// query parameter and a JSON field. The struct tags are echo's.
type BinderProject struct {
	ID    int    `param:"id" json:"-"`
	Limit int    `query:"limit" json:"-"`
	Name  string `json:"name"`
}

// BinderAnswer is what a [JSONBinder] server answers for a bound p.
func BinderAnswer(p BinderProject) map[string]any {
	return map[string]any{"id": p.ID, "limit": p.Limit, "name": p.Name}
}

// JSONBinder runs the strict-JSON binding scenario of the echo adapters'
// binders against the handler newServer builds: errkit's Install, the
// adapter's JSONBinder with jsonbody.Options{MaxBytes: BinderMaxBytes},
// and POST and GET /v1/projects/:id binding a [BinderProject] and
// answering [BinderAnswer] as JSON. JSON binds with the path and query
// parameters (the query on GET only); every ambiguous or oversized body
// and every parameter that does not bind is the exact envelope.
func JSONBinder(t *testing.T, newServer func(t *testing.T) http.Handler) {
	ts := httptest.NewServer(newServer(t))
	t.Cleanup(ts.Close)
	s := &server{url: ts.URL}

	const (
		jsonType = "application/json"
		badType  = "Unsupported Content-Type; send application/json."
	)
	issue := func(path, msg string) *apierror.Error {
		return apierror.Validation(apierror.Issue{Path: path, Message: msg})
	}
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		want        string          // the bound answer, or
		err         *apierror.Error // the envelope
	}{
		{name: "valid JSON binds, with the path parameter", method: http.MethodPost, path: "/v1/projects/7", contentType: jsonType,
			body: `{"name":"launch"}`, want: `{"id":7,"limit":0,"name":"launch"}`},
		{name: "a +json type binds", method: http.MethodPost, path: "/v1/projects/7", contentType: "application/merge-patch+json; charset=utf-8",
			body: `{"name":"launch"}`, want: `{"id":7,"limit":0,"name":"launch"}`},
		{name: "GET without a body binds path and query parameters", method: http.MethodGet, path: "/v1/projects/7?limit=5",
			want: `{"id":7,"limit":5,"name":""}`},
		{name: "POST does not bind the query", method: http.MethodPost, path: "/v1/projects/7?limit=5", contentType: jsonType,
			body: `{"name":"x"}`, want: `{"id":7,"limit":0,"name":"x"}`},
		{name: "XML body", method: http.MethodPost, path: "/v1/projects/7", contentType: "application/xml",
			body: `<binderProject><Name>launch</Name></binderProject>`, err: issue("header:Content-Type", badType)},
		{name: "form body", method: http.MethodPost, path: "/v1/projects/7", contentType: "application/x-www-form-urlencoded",
			body: `name=launch`, err: issue("header:Content-Type", badType)},
		{name: "no Content-Type", method: http.MethodPost, path: "/v1/projects/7",
			body: `{"name":"launch"}`, err: issue("header:Content-Type", "Content-Type is required; send application/json.")},
		{name: "trailing data", method: http.MethodPost, path: "/v1/projects/7", contentType: jsonType,
			body: `{"name":"a"} {"name":"b"}`, err: issue("body", "The body has data after the JSON value (at byte offset 13).")},
		{name: "invalid UTF-8", method: http.MethodPost, path: "/v1/projects/7", contentType: jsonType,
			body: "{\"name\":\"\xff\"}", err: issue("body", "The body is not valid UTF-8 (invalid byte at offset 9).")},
		{name: "duplicated key", method: http.MethodPost, path: "/v1/projects/7", contentType: jsonType,
			body: `{"name":"a","name":"b"}`, err: issue("name", "appears more than once in its object.")},
		{name: "empty POST body", method: http.MethodPost, path: "/v1/projects/7", contentType: jsonType,
			err: issue("body", "The body is empty; send a JSON value.")},
		{name: "oversize", method: http.MethodPost, path: "/v1/projects/7", contentType: jsonType,
			body: `{"name":"` + strings.Repeat("x", BinderMaxBytes) + `"}`, err: apierror.PayloadTooLarge(BinderMaxBytes)},
		{name: "a path parameter that does not bind", method: http.MethodPost, path: "/v1/projects/seven", contentType: jsonType,
			body: `{"name":"launch"}`, err: issue("request", "The request could not be parsed.")},
		{name: "a query parameter that does not bind", method: http.MethodGet, path: "/v1/projects/7?limit=many",
			err: issue("request", "The request could not be parsed.")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			var hdr []string
			if tt.contentType != "" {
				hdr = []string{"Content-Type", tt.contentType}
			}
			r := s.do(t, tt.method, tt.path, body, hdr...)
			if tt.err == nil {
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
				assert.JSONEq(t, tt.want, string(r.body))
				return
			}
			requireEnvelope(t, tt.method, r, tt.err)
		})
	}
}
