package echo5

import (
	"context"
	"net/http"
	"testing"

	"github.com/labstack/echo/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/requestid"
)

// TestSetPrincipal: behind errkit's request IDs, SetPrincipal gives c's
// request (the one errkit made for the chain, updated in place rather than
// copied) a context that carries the caller: PrincipalFrom,
// principal.KeyID and contexts derived afterwards see it, contexts derived
// before do not (contexts are immutable), the request ID and the request
// logger stay the same, and a later SetPrincipal wins.
func TestSetPrincipal(t *testing.T) {
	type otherKey struct{}
	e, _ := newEcho(t, Config{})
	done := make(chan struct{})
	e.GET("/x", func(c *echo.Context) error {
		defer close(done)
		id, log := RequestIDFrom(c), LoggerFrom(c)
		before := c.Request()
		ctxBefore := before.Context()
		derivedBefore := context.WithValue(before.Context(), otherKey{}, 1)
		_, ok := PrincipalFrom(c)
		require.False(t, ok)

		SetPrincipal(c, principal.Principal{KeyID: "key_a", OrganizationID: "org_a", Scopes: []string{"read"}})
		assert.Same(t, before, c.Request(), "errkit's own request is updated in place, not copied")
		p, ok := PrincipalFrom(c)
		require.True(t, ok)
		assert.Equal(t, principal.Principal{KeyID: "key_a", OrganizationID: "org_a", Scopes: []string{"read"}}, p)
		assert.Equal(t, "key_a", principal.KeyID(c.Request()))
		assert.Equal(t, "org_a", principal.OrganizationID(c.Request()))
		_, ok = principal.FromContext(derivedBefore)
		assert.False(t, ok, "a context derived before SetPrincipal does not see it")
		_, ok = principal.FromContext(ctxBefore)
		assert.False(t, ok, "nor does the request's context of before")

		derivedAfter, cancel := context.WithCancel(c.Request().Context())
		defer cancel()
		p, ok = principal.FromContext(derivedAfter)
		require.True(t, ok)
		assert.Equal(t, []string{"read"}, p.Scopes)
		assert.Equal(t, id, RequestIDFrom(c), "the request ID is still there")
		assert.Equal(t, id, requestid.FromContext(derivedAfter))
		assert.Same(t, log, LoggerFrom(c), "and the request logger")

		SetPrincipal(c, principal.Principal{KeyID: "key_b"})
		assert.Equal(t, "key_b", principal.KeyID(c.Request()))
		assert.Empty(t, principal.OrganizationID(c.Request()))
		p, _ = principal.FromContext(derivedAfter)
		assert.Equal(t, "key_a", p.KeyID, "what was derived before keeps the first caller")
		return c.NoContent(http.StatusNoContent)
	})
	require.Equal(t, http.StatusNoContent, do(e, http.MethodGet, "/x", nil).Code)
	<-done

	// Without errkit's request IDs it works the same, on a copy: the
	// request errkit did not make is not changed.
	req := httptestRequest()
	c := echo.New().NewContext(req, nil)
	SetPrincipal(c, principal.Principal{KeyID: "key_c"})
	p, ok := PrincipalFrom(c)
	require.True(t, ok)
	assert.Equal(t, "key_c", p.KeyID)
	assert.NotSame(t, req, c.Request())
	_, ok = principal.From(req)
	assert.False(t, ok)
}
