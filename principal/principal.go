// Package principal carries the authenticated caller of a request (API key
// ID, organization ID, scopes) from a service's authentication to the parts
// of errkit that need it: rate limits are keyed by the key ID, kill switches
// by key and organization, idempotency records by key.
//
// The service's authentication calls [Set] (or [NewContext]) once it has
// verified the key; errkit's default extractors ([KeyID],
// [OrganizationID]) read it back. The raw secret API key is never part of a
// Principal. The package knows no web framework: the adapters' own Set
// helpers replace the framework's request with the one Set returns.
package principal

import (
	"context"
	"net/http"
	"slices"
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

// key is the context.Context key of the principal.
type key struct{}

// principalCtx is what Set adds to a request, in a single allocation: the
// request's new context.Context (it wraps the parent and answers
// Value(key{}) with the principal), the principal, and the copy of the
// *http.Request that carries the context.
type principalCtx struct {
	context.Context
	p   Principal
	req http.Request
}

// Value returns the principal for key{} and defers to the parent context
// otherwise.
func (pc *principalCtx) Value(k any) any {
	if _, ok := k.(key); ok {
		return &pc.p
	}
	return pc.Context.Value(k)
}

// String describes the context without its values (a principal is not for
// logs).
func (pc *principalCtx) String() string { return "errkit.principalContext" }

// NewContext returns a copy of ctx that carries p. ctx itself is not
// changed: contexts derived from it before the call do not see p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return &principalCtx{Context: ctx, p: p}
}

// Set returns a copy of r whose context carries p, as
// r.WithContext(NewContext(r.Context(), p)) would, in one allocation. r and
// its context are not changed. A later Set on the returned request wins.
func Set(r *http.Request, p Principal) *http.Request {
	pc := &principalCtx{Context: r.Context(), p: p}
	pc.req = *r.WithContext(pc)
	return &pc.req
}

// FromContext returns the caller recorded by Set or NewContext, and false
// when there is none. The returned Scopes share memory with the recorded
// principal, which every later reader sees: treat them as read-only.
func FromContext(ctx context.Context) (Principal, bool) {
	if ctx == nil {
		return Principal{}, false
	}
	if p, ok := ctx.Value(key{}).(*Principal); ok {
		return *p, true
	}
	return Principal{}, false
}

// From returns the caller of r, and false when r was not authenticated.
func From(r *http.Request) (Principal, bool) {
	if r == nil {
		return Principal{}, false
	}
	return FromContext(r.Context())
}

// KeyID returns the authenticated key ID of r, or "" when r was not
// authenticated. It is the default key extractor of the rate limiter, the
// kill switch and the idempotency middleware.
func KeyID(r *http.Request) string {
	if r == nil {
		return ""
	}
	if p, ok := r.Context().Value(key{}).(*Principal); ok {
		return p.KeyID
	}
	return ""
}

// OrganizationID returns the authenticated organization ID of r, or "" when
// r was not authenticated.
func OrganizationID(r *http.Request) string {
	if r == nil {
		return ""
	}
	if p, ok := r.Context().Value(key{}).(*Principal); ok {
		return p.OrganizationID
	}
	return ""
}
