package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEmptyParamPaths: a not-found path for every parameter before a
// route's last segment, none for a last-segment parameter, no duplicates.
func TestEmptyParamPaths(t *testing.T) {
	tests := []struct {
		name   string
		routes []route
		want   []string
	}{
		{"none", []route{{path: "/healthz"}, {path: "/v1/jobs/{jobId}"}}, nil},
		{"one per prefix", []route{
			{path: "/v1/content/{containerId}/approve"},
			{path: "/v1/content/{containerId}/reject"},
			{path: "/v1/errors/{code}/example"},
		}, []string{"/v1/content//*", "/v1/errors//*"}},
		{"a later parameter keeps the earlier ones", []route{{path: "/a/{x}/b/{y}/c"}}, []string{"/a//*", "/a/:x/b//*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, newTable(tt.routes).emptyParamPaths())
		})
	}
	// The demo's own table.
	require.Equal(t, []string{"/v1/errors//*", "/v1/projects//*", "/v1/content//*", "/v1/apps//*"},
		newTable((&handlers{}).routes()).emptyParamPaths())
}
