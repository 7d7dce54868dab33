// Package reqstate is the one per-request object errkit allocates: the
// request's context.Context, its ID, and what the error writer rendered. The
// requestid package creates it; the error writer and the access log read and
// record into it. It lives here so that none of those packages imports
// another's internals.
package reqstate

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
)

// IDLen is the length of a request ID (requestid.Len).
const IDLen = 30

// key is the context.Context key of a request's *State.
type key struct{}

// State is everything errkit keeps for one request, in a single allocation:
// it is the request's context.Context (it wraps the parent and answers
// Value(key{}) with itself), it holds the copy of the *http.Request that
// carries it, the request ID and its header value, the lazily built request
// logger, and what the error writer rendered.
type State struct {
	context.Context

	// ID is the request ID.
	ID string
	// IDBuf backs ID when it was generated for this request.
	IDBuf [IDLen]byte
	// Hdr is the X-Request-Id header value; Hdr[:] is stored in the header
	// map, so that setting the header allocates nothing.
	Hdr [1]string

	base *slog.Logger
	log  atomic.Pointer[slog.Logger]

	// Adapter is the adapter's per-service configuration (the net/http
	// adapter keeps its error writer and route hook there), set once before
	// the request is served.
	Adapter any
	// Route is the route template an adapter saw inside the route, for
	// what runs outside it (the access log) when the request it holds is
	// not the one that was routed. Written on the request's goroutine.
	Route string

	// Written by the error writer; atomic, because a handler run on
	// another goroutine (http.TimeoutHandler) may render while the access
	// log reads.
	rendered atomic.Pointer[rendered]

	req http.Request
}

// New returns a state whose request logger derives from base.
func New(base *slog.Logger) *State { return &State{base: base} }

// Value returns the state itself for its key and defers to the parent
// context otherwise.
func (s *State) Value(k any) any {
	if _, ok := k.(key); ok {
		return s
	}
	return s.Context.Value(k)
}

// String describes the context without its values.
func (s *State) String() string { return "errkit.requestContext" }

// Attach makes s the context of a copy of r, stores that copy in s and
// returns it: what r.WithContext(s) returns, built in place, so that the
// state, the context and the request are one allocation.
func (s *State) Attach(r *http.Request) *http.Request {
	s.Context = r.Context()
	s.req = *r.WithContext(s)
	return &s.req
}

// Request returns the request Attach stored in s (with the context
// SetContext last gave it), whose context carries s: for an adapter whose
// framework was handed back a request without s, to answer for the one
// errkit served.
func (s *State) Request() *http.Request { return &s.req }

// Owns reports whether r is the request Attach stored in s: the one request
// errkit made for the chain, and so the one it may update in place.
func (s *State) Owns(r *http.Request) bool { return r == &s.req }

// SetContext gives r, which s owns (see Owns), the context ctx in place, as
// *r = *r.WithContext(ctx) would, without the copy WithContext allocates.
// ctx must be derived from s: the state stays reachable through r.
func (s *State) SetContext(r *http.Request, ctx context.Context) {
	if !s.Owns(r) {
		return
	}
	s.req = *r.WithContext(ctx) // WithContext inlines: its copy stays on the stack
}

// From returns the state in ctx, or nil.
func From(ctx context.Context) *State {
	if ctx == nil {
		return nil
	}
	s, _ := ctx.Value(key{}).(*State)
	return s
}

// Logger returns the request-scoped logger (base with a requestId
// attribute), building it on first use.
func (s *State) Logger() *slog.Logger {
	if l := s.log.Load(); l != nil {
		return l
	}
	l := s.base.With(slog.String("requestId", s.ID))
	if s.log.CompareAndSwap(nil, l) {
		return l
	}
	return s.log.Load()
}

// rendered is what the error writer answered.
type rendered struct {
	err  error
	code string
}

// MarkRendered records that the error writer answered err with code.
func (s *State) MarkRendered(err error, code string) {
	s.rendered.Store(&rendered{err: err, code: code})
}

// Rendered returns the error the error writer answered and its code, and
// false when it answered none.
func (s *State) Rendered() (err error, code string, ok bool) {
	r := s.rendered.Load()
	if r == nil {
		return nil, "", false
	}
	return r.err, r.code, true
}
