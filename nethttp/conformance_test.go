package nethttp_test

import (
	"testing"

	"github.com/layershq/errkit/conformance"
	"github.com/layershq/errkit/internal/conformancehttp"
)

// TestConformance runs errkit's conformance suite on net/http's ServeMux
// (the server is internal/conformancehttp's, shared with the OpenAPI
// validation of the generated docs).
func TestConformance(t *testing.T) {
	conformance.Run(t, conformancehttp.NewServer)
}
