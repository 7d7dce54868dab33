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

// echoKey is the echo.Context key under which Set stores the principal.
const echoKey = "errkit.principal"

type ctxKey struct{}

// Set records p as the caller of the request in the echo context and in the
// request's context.Context.
func Set(c echo.Context, p Principal) {
	c.Set(echoKey, p)
	r := c.Request()
	c.SetRequest(r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
}

// From returns the caller recorded by Set, and false when the request was not
// authenticated.
func From(c echo.Context) (Principal, bool) {
	p, ok := c.Get(echoKey).(Principal)
	return p, ok
}

// FromContext returns the caller recorded by Set from a request's
// context.Context, and false when there is none.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
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
