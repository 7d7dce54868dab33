package requestid

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/oklog/ulid/v2"
)

// BenchmarkRequestIDParallel measures request ID generation alone, as the
// Stamper does it: into the request state's buffer, no allocation.
func BenchmarkRequestIDParallel(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var buf [Len]byte
		for pb.Next() {
			ids.fill(&buf)
		}
	})
}

// BenchmarkULIDMakeParallel is the baseline: ulid.Make, which serialises on
// one global lock, encoded the same way.
func BenchmarkULIDMakeParallel(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var buf [Len]byte
		copy(buf[:], prefix)
		for pb.Next() {
			_ = ulid.Make().MarshalTextTo(buf[len(prefix):])
		}
	})
}

// BenchmarkStampParallel measures what an adapter pays per request for its
// ID: the ID, the header, the context and the request copy.
func BenchmarkStampParallel(b *testing.B) {
	st := NewStamper(Config{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		h := make(http.Header, 1)
		for pb.Next() {
			_ = st.Stamp(h, req)
		}
	})
}
