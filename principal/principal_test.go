package principal_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/principal"
)

func TestSetAndFrom(t *testing.T) {
	e := echo.New()
	c := e.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), httptest.NewRecorder())

	_, ok := principal.From(c)
	assert.False(t, ok, "no principal before Set")
	_, ok = principal.FromContext(c.Request().Context())
	assert.False(t, ok)
	assert.Empty(t, principal.KeyID(c))
	assert.Empty(t, principal.OrganizationID(c))

	p := principal.Principal{KeyID: "key_full", OrganizationID: "org_demo", Scopes: []string{"content:read", "jobs:read"}}
	principal.Set(c, p)

	got, ok := principal.From(c)
	require.True(t, ok)
	assert.Equal(t, p, got)
	got, ok = principal.FromContext(c.Request().Context())
	require.True(t, ok, "Set also stores the principal in the request context")
	assert.Equal(t, p, got)
	assert.Equal(t, "key_full", principal.KeyID(c))
	assert.Equal(t, "org_demo", principal.OrganizationID(c))
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

// TestSetSurvivesDerivedContext: a middleware that derives the request's
// context after Set (c.SetRequest(r.WithContext(...))) keeps the principal
// visible, and a later Set wins.
func TestSetSurvivesDerivedContext(t *testing.T) {
	type otherKey struct{}
	c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), httptest.NewRecorder())
	principal.Set(c, principal.Principal{KeyID: "key_a", OrganizationID: "org_a"})
	r := c.Request()
	c.SetRequest(r.WithContext(context.WithValue(r.Context(), otherKey{}, "v")))
	assert.Equal(t, "key_a", principal.KeyID(c))
	assert.Equal(t, "v", c.Request().Context().Value(otherKey{}))

	principal.Set(c, principal.Principal{KeyID: "key_b", OrganizationID: "org_b"})
	assert.Equal(t, "key_b", principal.KeyID(c))
	assert.Equal(t, "org_b", principal.OrganizationID(c))
	assert.Equal(t, "v", c.Request().Context().Value(otherKey{}), "values set before stay visible")
}

// TestSetAllocations: Set costs one allocation (context, principal and the
// request copy together) and reading the principal back costs none.
func TestSetAllocations(t *testing.T) {
	c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), httptest.NewRecorder())
	r := c.Request()
	p := principal.Principal{KeyID: "key_a", OrganizationID: "org_a", Scopes: []string{"read"}}
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() {
		c.SetRequest(r)
		principal.Set(c, p)
	}))
	assert.Equal(t, 0.0, testing.AllocsPerRun(100, func() {
		if principal.KeyID(c) != "key_a" {
			t.Fatal("lost")
		}
	}))
}

// TestFromWithoutRequest: an echo context without a request reads as
// unauthenticated rather than panicking.
func TestFromWithoutRequest(t *testing.T) {
	c := echo.New().NewContext(nil, httptest.NewRecorder())
	_, ok := principal.From(c)
	assert.False(t, ok)
	_, ok = principal.FromContext(nil)
	assert.False(t, ok)
}

// TestSetWithErrkitRequestState: behind errkit's request ID middleware, Set
// stores the caller in the middleware's request state instead of copying
// the request (the request pointer stays the same, one small allocation),
// and it reads back the same way: from c, from the request's context, from
// contexts derived before or after Set; a later Set wins.
func TestSetWithErrkitRequestState(t *testing.T) {
	type otherKey struct{}
	e := echo.New()
	e.Use(middleware.RequestID())
	var allocs float64
	e.GET("/x", func(c echo.Context) error {
		before := c.Request()
		derivedBefore := context.WithValue(before.Context(), otherKey{}, 1)
		_, ok := principal.From(c)
		require.False(t, ok)

		principal.Set(c, principal.Principal{KeyID: "key_a", OrganizationID: "org_a", Scopes: []string{"read"}})
		assert.Same(t, before, c.Request(), "no request copy")
		assert.Equal(t, "key_a", principal.KeyID(c))
		got, ok := principal.FromContext(derivedBefore)
		require.True(t, ok)
		assert.Equal(t, "org_a", got.OrganizationID)
		derivedAfter, cancel := context.WithCancel(c.Request().Context())
		defer cancel()
		got, ok = principal.FromContext(derivedAfter)
		require.True(t, ok)
		assert.Equal(t, []string{"read"}, got.Scopes)
		assert.NotEmpty(t, middleware.RequestIDFromContext(derivedAfter), "the request ID is still there")

		principal.Set(c, principal.Principal{KeyID: "key_b"})
		assert.Equal(t, "key_b", principal.KeyID(c))
		p := principal.Principal{KeyID: "key_c"}
		allocs = testing.AllocsPerRun(100, func() { principal.Set(c, p) })
		return c.NoContent(http.StatusNoContent)
	})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	require.Equal(t, http.StatusNoContent, rec.Code)
	assert.Equal(t, 1.0, allocs, "one small allocation, no request copy")
}
