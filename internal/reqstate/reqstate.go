// Package reqstate lets errkit's packages share the one per-request object
// that errkit's request ID middleware allocates (its request state, which is
// also the request's context.Context), so that a package that needs to add
// a request-scoped value does not copy the *http.Request a second time to
// carry a new context.
//
// It holds only context keys and an interface: the middleware package
// implements the holder, the principal package uses it, and neither imports
// the other.
package reqstate

// HolderKey is the context key under which the request state of errkit's
// middleware answers with itself, as a Holder.
type HolderKey struct{}

// PrincipalKey is the context key of the request's authenticated caller, a
// *principal.Principal, wherever it is stored (the request state, or a
// context the principal package added when there is no request state).
type PrincipalKey struct{}

// Holder stores request-scoped values in the request state.
type Holder interface {
	// SetPrincipal records p, a non-nil *principal.Principal (always that
	// type: the holder may keep it in an atomic.Value), as the request's
	// caller; the state then answers PrincipalKey with it. It is safe for
	// concurrent use with Value.
	SetPrincipal(p any)
}
