// Package principal carries the authenticated caller of a request (API key ID,
// organization ID, scopes) from a service's authentication middleware to the
// errkit middleware that needs it: rate limits are keyed by the key ID, kill
// switches by key and organization.
//
// The service's auth middleware calls Set once it has verified the key; the
// errkit middleware's default extractors read it back with From. The raw
// secret API key is never part of a Principal.
package principal

import (
	"context"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/layershq/errkit/internal/reqstate"
)

// Principal is an authenticated caller.
type Principal struct {
	// KeyID identifies the API key (never the secret key itself).
	KeyID string
	// OrganizationID identifies the organization that owns the key.
	OrganizationID string
	// Scopes are the scopes granted to the key.
	Scopes []string
}

// HasScope reports whether the principal was granted scope.
func (p Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

// principalCtx is what Set adds to a request that has no errkit request
// state, in a single allocation: the request's new context.Context (it
// wraps the parent and answers Value(reqstate.PrincipalKey{}) with the
// principal), the principal, and the copy of the *http.Request that carries
// the context.
type principalCtx struct {
	context.Context
	p   Principal
	req http.Request
}

// Value returns the principal for reqstate.PrincipalKey{} and defers to the
// parent context otherwise.
func (pc *principalCtx) Value(key any) any {
	if _, ok := key.(reqstate.PrincipalKey); ok {
		return &pc.p
	}
	return pc.Context.Value(key)
}

// String describes the context without its values (a principal is not for
// logs).
func (pc *principalCtx) String() string { return "errkit.principalContext" }

// Set records p as the caller of the request. From (on c) and FromContext
// (on the request's context.Context and any context derived from it) read it
// back; a later Set wins.
//
// When errkit's request ID middleware ran for the request, p is stored in
// its request state, which is already the request's context: one small
// allocation, and the request is not replaced (contexts derived from the
// request's before Set then see p too). Otherwise the echo context's
// request is replaced by a copy whose context carries p, exactly as
// c.SetRequest(r.WithContext(ctx)) would, in one allocation.
func Set(c echo.Context, p Principal) {
	r := c.Request()
	ctx := r.Context()
	if h, ok := ctx.Value(reqstate.HolderKey{}).(reqstate.Holder); ok {
		stored := new(Principal) // not &p: p would escape on both paths
		*stored = p
		h.SetPrincipal(stored)
		return
	}
	pc := &principalCtx{Context: ctx, p: p}
	pc.req = *r.WithContext(pc)
	c.SetRequest(&pc.req)
}

// From returns the caller recorded by Set, and false when the request was not
// authenticated.
func From(c echo.Context) (Principal, bool) {
	r := c.Request()
	if r == nil {
		return Principal{}, false
	}
	return FromContext(r.Context())
}

// FromContext returns the caller recorded by Set from a request's
// context.Context, and false when there is none.
func FromContext(ctx context.Context) (Principal, bool) {
	if ctx == nil {
		return Principal{}, false
	}
	if p, ok := ctx.Value(reqstate.PrincipalKey{}).(*Principal); ok {
		return *p, true
	}
	return Principal{}, false
}

// KeyID returns the authenticated key ID of the request, or "" when the
// request was not authenticated. It is the default key extractor of the rate
// limiter, the kill switch and the idempotency middleware.
func KeyID(c echo.Context) string {
	p, _ := From(c)
	return p.KeyID
}

// OrganizationID returns the authenticated organization ID of the request, or
// "" when the request was not authenticated.
func OrganizationID(c echo.Context) string {
	p, _ := From(c)
	return p.OrganizationID
}
