package principal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/requestid"
)

type otherKey struct{}

// TestSetAndFrom: Set returns a copy of the request that carries the
// principal; the request it was given is not changed.
func TestSetAndFrom(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/v1/whoami?x=1", nil)
	_, ok := principal.From(r)
	assert.False(t, ok, "no principal before Set")
	_, ok = principal.FromContext(r.Context())
	assert.False(t, ok)
	assert.Empty(t, principal.KeyID(r))
	assert.Empty(t, principal.OrganizationID(r))

	p := principal.Principal{KeyID: "key_full", OrganizationID: "org_demo", Scopes: []string{"content:read", "jobs:read"}}
	r2 := principal.Set(r, p)
	require.NotSame(t, r, r2)
	got, ok := principal.From(r2)
	require.True(t, ok)
	assert.Equal(t, p, got)
	got, ok = principal.FromContext(r2.Context())
	require.True(t, ok)
	assert.Equal(t, p, got)
	assert.Equal(t, "key_full", principal.KeyID(r2))
	assert.Equal(t, "org_demo", principal.OrganizationID(r2))

	// The copy is the same request otherwise.
	assert.Equal(t, r.Method, r2.Method)
	assert.Equal(t, r.URL, r2.URL)
	assert.Equal(t, r.Header, r2.Header)

	// The original is unchanged.
	_, ok = principal.From(r)
	assert.False(t, ok)
	assert.Empty(t, principal.KeyID(r))

	// A principal is not for logs: the context does not print it.
	assert.NotContains(t, fmt.Sprint(r2.Context()), "key_full")
}

// TestContextsAreImmutable is the fixed defect "principal.Set mutates state
// already reachable from contexts derived before it": contexts derived
// before Set, on a plain request, on the request errkit stamped with a
// request ID and on a request derived from that one, do not see the
// principal; contexts derived after it do. Only the request errkit made
// for the chain is updated in place (r2 is r); any other request is copied
// and left as it was.
func TestContextsAreImmutable(t *testing.T) {
	stamp := func() *http.Request {
		return requestid.NewStamper(requestid.Config{}).Stamp(http.Header{}, httptest.NewRequest(http.MethodGet, "/", nil))
	}
	for _, tt := range []struct {
		name    string
		r       *http.Request
		inPlace bool
	}{
		{"plain request", httptest.NewRequest(http.MethodGet, "/", nil), false},
		{"stamped request", stamp(), true},
		{"request derived from the stamped one", stamp().WithContext(context.WithValue(stamp().Context(), otherKey{}, "v")), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			id := requestid.FromContext(r.Context())
			original := r.Context()
			before, cancel := context.WithCancel(r.Context())
			defer cancel()

			r2 := principal.Set(r, principal.Principal{KeyID: "key_a", OrganizationID: "org_a"})
			_, ok := principal.FromContext(before)
			assert.False(t, ok, "a context derived before Set does not see the principal")
			_, ok = principal.FromContext(original)
			assert.False(t, ok, "nor does the request's context of before the call")
			if tt.inPlace {
				assert.Same(t, r, r2, "errkit's own request is updated in place")
			} else {
				assert.NotSame(t, r, r2)
				assert.Equal(t, original, r.Context(), "any other request is not changed")
			}

			after := context.WithValue(r2.Context(), otherKey{}, "v")
			got, ok := principal.FromContext(after)
			require.True(t, ok)
			assert.Equal(t, "key_a", got.KeyID)
			assert.Equal(t, id, requestid.FromContext(after), "the request ID stays visible")
			assert.Equal(t, id, requestid.FromContext(r2.Context()))
		})
	}
}

// TestLaterSetWins: a second Set on the returned request wins; values set
// on the context before stay visible; what was derived between the two
// keeps the first principal.
func TestLaterSetWins(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r = r.WithContext(context.WithValue(r.Context(), otherKey{}, "v"))
	r = principal.Set(r, principal.Principal{KeyID: "key_a", OrganizationID: "org_a"})
	between := r.Context()
	r = r.WithContext(context.WithValue(r.Context(), otherKey{}, "w")) // a middleware derives a context
	assert.Equal(t, "key_a", principal.KeyID(r))

	r = principal.Set(r, principal.Principal{KeyID: "key_b", OrganizationID: "org_b"})
	assert.Equal(t, "key_b", principal.KeyID(r))
	assert.Equal(t, "org_b", principal.OrganizationID(r))
	assert.Equal(t, "w", r.Context().Value(otherKey{}), "values set before stay visible")
	p, ok := principal.FromContext(between)
	require.True(t, ok)
	assert.Equal(t, "key_a", p.KeyID)
}

// TestNewContext: NewContext returns a new context; the one it was given is
// unchanged, and the newest principal wins.
func TestNewContext(t *testing.T) {
	parent := context.WithValue(context.Background(), otherKey{}, "v")
	ctx := principal.NewContext(parent, principal.Principal{KeyID: "key_job", Scopes: []string{"jobs:write"}})
	p, ok := principal.FromContext(ctx)
	require.True(t, ok)
	assert.Equal(t, principal.Principal{KeyID: "key_job", Scopes: []string{"jobs:write"}}, p)
	assert.Equal(t, "v", ctx.Value(otherKey{}))
	_, ok = principal.FromContext(parent)
	assert.False(t, ok)

	inner := principal.NewContext(ctx, principal.Principal{KeyID: "key_inner"})
	p, _ = principal.FromContext(inner)
	assert.Equal(t, "key_inner", p.KeyID)
	p, _ = principal.FromContext(ctx)
	assert.Equal(t, "key_job", p.KeyID)

	// A request carrying such a context reads the same.
	r := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
	assert.Equal(t, "key_job", principal.KeyID(r))
	assert.Empty(t, principal.OrganizationID(r))
}

// TestUnauthenticated: nil requests and contexts, and requests without a
// principal, read as unauthenticated rather than panicking.
func TestUnauthenticated(t *testing.T) {
	_, ok := principal.From(nil)
	assert.False(t, ok)
	_, ok = principal.FromContext(nil) // a nil context reads as none
	assert.False(t, ok)
	assert.Empty(t, principal.KeyID(nil))
	assert.Empty(t, principal.OrganizationID(nil))

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	assert.Empty(t, principal.KeyID(r))
	assert.Empty(t, principal.OrganizationID(r))
	_, ok = principal.FromContext(context.Background())
	assert.False(t, ok)

	// Authenticated with an empty key ID is still authenticated.
	r = principal.Set(r, principal.Principal{})
	_, ok = principal.From(r)
	assert.True(t, ok)
	assert.Empty(t, principal.KeyID(r))
}

func TestHasScope(t *testing.T) {
	p := principal.Principal{Scopes: []string{"content:read", "jobs:read"}}
	for _, tc := range []struct {
		scope string
		want  bool
	}{
		{"content:read", true},
		{"jobs:read", true},
		{"content:write", false},
		{"", false},
		{"content", false},
	} {
		assert.Equal(t, tc.want, p.HasScope(tc.scope), tc.scope)
	}
	assert.False(t, principal.Principal{}.HasScope("content:read"))
}

// TestSetAllocations: Set costs one allocation (context, principal and the
// request copy together) and reading the principal back costs none.
func TestSetAllocations(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	p := principal.Principal{KeyID: "key_a", OrganizationID: "org_a", Scopes: []string{"read"}}
	var r2 *http.Request
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { r2 = principal.Set(r, p) }))
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		if principal.KeyID(r2) != "key_a" || principal.OrganizationID(r2) != "org_a" {
			t.Fatal("lost")
		}
	}))
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		if got, ok := principal.From(r2); !ok || got.KeyID != "key_a" {
			t.Fatal("lost")
		}
	}))
}

// BenchmarkSet: on the request errkit made for the chain, Set allocates only
// the context (about 80 bytes: "stamp+set" less "stamp"); on any other
// request, the context and the copy of the request (about 380 bytes).
func BenchmarkSet(b *testing.B) {
	p := principal.Principal{KeyID: "key_a", OrganizationID: "org_a"}
	st := requestid.NewStamper(requestid.Config{})
	h := http.Header{}
	base := httptest.NewRequest(http.MethodGet, "/", nil)
	b.Run("stamp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = st.Stamp(h, base)
		}
	})
	b.Run("stamp+set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = principal.Set(st.Stamp(h, base), p)
		}
	})
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = principal.Set(base, p)
		}
	})
}
