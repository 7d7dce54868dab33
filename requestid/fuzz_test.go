package requestid

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/oklog/ulid/v2"
)

// FuzzValidRequestID checks Valid against the ulid package's strict parser,
// and that whatever inbound value arrives at a trusting Stamper, the
// request's ID is well formed, is the one X-Request-Id of the response, and
// is the inbound value only when that value is valid.
func FuzzValidRequestID(f *testing.F) {
	for _, s := range []string{
		"req_01HXZ9G7KMV2QX8Y1S5RJW3B7T", "req_8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "req_01hxz9g7kmv2qx8y1s5rjw3b7t",
		"req_01HXZ9G7KMV2QX8Y1S5RJW3B7T\r\nX: y", "req_", "", "req_01HXZ9G7KMV2QX8Y1S5RJW3BÄ",
	} {
		f.Add(s)
	}
	st := NewStamper(Config{TrustInbound: true})
	f.Fuzz(func(t *testing.T, s string) {
		valid := Valid(s)
		if len(s) == Len && s[:len(prefix)] == prefix {
			u, err := ulid.ParseStrict(s[len(prefix):])
			want := err == nil && u.String() == s[len(prefix):]
			if valid != want {
				t.Fatalf("Valid(%q) = %v, ulid says %v (%v)", s, valid, want, err)
			}
		} else if valid {
			t.Fatalf("Valid(%q) = true", s)
		}
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.Header[Header] = []string{s}
		h := http.Header{}
		got := FromContext(st.Stamp(h, req).Context())
		if !Valid(got) {
			t.Fatalf("request ID %q is not well formed", got)
		}
		if vs := h[Header]; len(vs) != 1 || vs[0] != got {
			t.Fatalf("X-Request-Id %q, request ID %q", vs, got)
		}
		if (got == s) != valid {
			t.Fatalf("inbound %q valid=%v, request ID %q", s, valid, got)
		}
	})
}
