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

// ctxKey is the context.Context key of a request's *principalCtx.
type ctxKey struct{}

// principalCtx is what Set adds to a request, in a single allocation: the
// request's new context.Context (it wraps the parent and answers
// Value(ctxKey{}) with itself), the principal, and the copy of the
// *http.Request that carries the context. From and FromContext read the
// principal back through c.Request().Context(), so no entry in echo's context
// store (a map allocated per request) is needed.
type principalCtx struct {
	context.Context
	p   Principal
	req http.Request
}

// Value returns the principalCtx itself for ctxKey{} and defers to the parent
// context otherwise.
func (pc *principalCtx) Value(key any) any {
	if _, ok := key.(ctxKey); ok {
		return pc
	}
	return pc.Context.Value(key)
}

// String describes the context without its values (a principal is not for
// logs).
func (pc *principalCtx) String() string { return "errkit.principalContext" }

// Set records p as the caller of the request: the echo context's request is
// replaced by a copy whose context.Context carries p, exactly as
// c.SetRequest(r.WithContext(ctx)) would, in one allocation. Handlers and
// middleware that run afterwards read it with From (or FromContext on the
// request's context and any context derived from it). A later Set wins.
func Set(c echo.Context, p Principal) {
	r := c.Request()
	pc := &principalCtx{Context: r.Context(), p: p}
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
	if pc, ok := ctx.Value(ctxKey{}).(*principalCtx); ok {
		return pc.p, true
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
