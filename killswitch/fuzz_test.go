package killswitch

import (
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/layershq/errkit/apierror"
)

// FuzzParsePutBody feeds arbitrary PUT bodies: parsing never panics, every
// refusal is a VALIDATION error, and what it accepts is within bounds.
func FuzzParsePutBody(f *testing.F) {
	f.Add([]byte(`{"reason":"incident","expectedDurationSeconds":600}`))
	f.Add([]byte(``))
	f.Add([]byte(`{"reason":1}`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte(`{"expectedDurationSeconds":1e99}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := parsePutBody(raw)
		if err != nil {
			if apierror.CodeOf(err) != apierror.CodeValidation {
				t.Fatalf("refusal %v is not VALIDATION", err)
			}
			return
		}
		if len(b.Reason) > MaxReasonLength || b.ExpectedDurationSeconds < 0 || b.ExpectedDurationSeconds > maxExpectedSeconds {
			t.Fatalf("accepted out-of-bounds body %+v", b)
		}
		if !utf8.ValidString(b.Reason) {
			t.Fatalf("accepted invalid UTF-8 reason %q", b.Reason)
		}
	})
}

// FuzzAdminRoute feeds arbitrary request paths to the operator API's
// router: it never panics, and every (scope, id) it accepts is routed back
// to from its canonical escaped path.
func FuzzAdminRoute(f *testing.F) {
	f.Add("/")
	f.Add("/global")
	f.Add("/key/k1")
	f.Add("/organization/team%2Fa")
	f.Add("/key/%zz")
	f.Add("/key/")
	f.Add("//global")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		scope, id, ok := route(u)
		if !ok || scope == "" {
			return
		}
		canonical := "/" + string(scope)
		if scope != ScopeGlobal {
			canonical += "/" + url.PathEscape(id)
		} else if id != "" {
			t.Fatalf("global route with id %q", id)
		}
		cu, err := url.Parse(canonical)
		if err != nil {
			t.Fatalf("canonical path %q does not parse: %v", canonical, err)
		}
		s2, id2, ok2 := route(cu)
		if !ok2 || s2 != scope || id2 != id {
			t.Fatalf("route(%q) = (%q, %q, %v), want (%q, %q)", canonical, s2, id2, ok2, scope, id)
		}
	})
}
