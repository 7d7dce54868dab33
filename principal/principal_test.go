package principal_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
