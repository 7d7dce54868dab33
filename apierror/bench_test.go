package apierror_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/layershq/errkit/apierror"
)

// BenchmarkRender measures rendering an envelope, the work the error handler
// does on every error response: AppendJSON into a reused buffer (the
// middleware's path) and Render (a fresh buffer per call). Target: <= 1 µs and
// <= 4 allocs per render. The json.Marshal sub-benchmarks are the baseline:
// the same bytes (TestAppendJSONMatchesEncodingJSON) through encoding/json.
func BenchmarkRender(b *testing.B) {
	const id = "req_01HXZ9G7KMV2QX8Y1S5RJW3B7T"
	cases := []struct {
		name string
		err  *apierror.Error
	}{
		{"VALIDATION", apierror.Validation(
			apierror.Issue{Path: "items[0].name", Message: "is required"},
			apierror.Issue{Path: "items[1].price", Message: "must be greater than 0"},
			apierror.Issue{Path: "header:Idempotency-Key", Message: "must be at most 255 characters"},
		)},
		{"INTERNAL", apierror.Internal(errors.New("pq: connection refused"))},
	}
	for _, tc := range cases {
		b.Run(tc.name+"/AppendJSON", func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 1024)
			for b.Loop() {
				buf = tc.err.AppendJSON(buf[:0], id)
			}
			b.SetBytes(int64(len(buf)))
		})
		b.Run(tc.name+"/Render", func(b *testing.B) {
			b.ReportAllocs()
			var out []byte
			for b.Loop() {
				out = tc.err.Render(id)
			}
			b.SetBytes(int64(len(out)))
		})
		// The baseline: the same bytes through encoding/json.
		b.Run(tc.name+"/json.Marshal", func(b *testing.B) {
			b.ReportAllocs()
			var out []byte
			for b.Loop() {
				out, _ = json.Marshal(tc.err.Envelope(id))
			}
			b.SetBytes(int64(len(out)))
		})
	}
}
