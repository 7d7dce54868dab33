package nethttp

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/idempotency"
)

// Idempotency's wire behaviour (replay, conflict with the pattern and its
// path parameters in the fingerprint, key in use, release after a failure
// or a panic, a bad key) is checked by the conformance suite
// (conformance_test.go).

// TestIdempotencyPathParams: the parameters are the pattern's wildcards in
// order, "{name...}" included and "{$}" not, with their values.
func TestIdempotencyPathParams(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          []idempotency.Param
	}{
		{"POST /v1/orders", "/v1/orders", nil},
		{"/v1/orders/{$}", "/v1/orders/", nil},
		{"POST /v1/projects/{projectId}/content", "/v1/projects/prj_1/content",
			[]idempotency.Param{{Name: "projectId", Value: "prj_1"}}},
		{"PATCH /v1/orgs/{org}/things/{id}/{$}", "/v1/orgs/o1/things/t%202/",
			[]idempotency.Param{{Name: "org", Value: "o1"}, {Name: "id", Value: "t 2"}}},
		{"POST example.com/files/{bucket}/{path...}", "/files/b/a/b/c.txt",
			[]idempotency.Param{{Name: "bucket", Value: "b"}, {Name: "path", Value: "a/b/c.txt"}}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			var got []idempotency.Param
			called := false
			mux := http.NewServeMux()
			mux.HandleFunc(tt.pattern, func(_ http.ResponseWriter, r *http.Request) {
				called = true
				got = pathParams(nil, r)
			})
			method, _, ok := strings.Cut(tt.pattern, " ")
			if !ok || strings.HasPrefix(method, "/") {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, "http://example.com"+tt.path, nil)
			mux.ServeHTTP(httptest.NewRecorder(), req)
			require.True(t, called)
			assert.Equal(t, tt.want, got)
		})
	}
	// Outside a route there is no pattern and so no parameter.
	assert.Empty(t, pathParams(nil, httptest.NewRequest(http.MethodPost, "/x", nil)))

	// A router with regexp wildcards (chi: {id:[0-9]+}) that sets Pattern
	// and the path values: the name is what precedes the colon.
	r := httptest.NewRequest(http.MethodPost, "/p/42", nil)
	r.Pattern = "/p/{id:[0-9]+}"
	r.SetPathValue("id", "42")
	assert.Equal(t, []idempotency.Param{{Name: "id", Value: "42"}}, pathParams(nil, r))
}

func TestIdempotencyNilGuardPanics(t *testing.T) {
	assert.PanicsWithValue(t, "errkit/nethttp: Idempotency: nil *idempotency.Guard", func() { Idempotency(nil) })
}
