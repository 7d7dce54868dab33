// Package event is errkit's one observation hook: every outcome of the
// contract (an error rendered, a rate-limit decision, a kill-switch block,
// an idempotency outcome, a store failure or warning) is reported once, as
// an [Event], to the [Hook] a service configures on the component that
// produced it (httperror, ratelimit, killswitch, idempotency and their
// stores each take a Hook in their Config).
//
// The package has no dependency beyond apierror and the standard library:
// metrics, traces and logs are what a Hook does with the events (errkit's
// OpenTelemetry integration is one Hook; a test's recorder is another).
//
// A Hook can also travel in a request's context ([NewContext]): the
// components fire every event of that request to it too ([Fire]), so a
// service can observe a whole server from one wrapping handler, without
// configuring each part.
//
// Every attribute of an Event comes from a fixed set (codes, classes,
// scopes, outcomes, components, route templates, [StandardMethod]'s
// methods), never from what a client sent, so a Hook may use them as
// metric labels without bounding cardinality itself. The one exception is
// Err, the server-side cause of a failure or of an error response, which
// is for logs and span events only.
package event

import (
	"context"
	"net/http"
	"sync/atomic"

	"github.com/layershq/errkit/apierror"
)

// Kind says which outcome an [Event] reports, and so which of its fields
// are set.
type Kind uint8

// The kinds of [Event].
const (
	// KindError: an error response was rendered (or, when the response was
	// already committed, logged): once per request, however often the
	// error is handed to the writer. Code, Status, Category, Route, Method
	// and Err (the error as the handler returned it) are set.
	KindError Kind = iota + 1
	// KindRateLimit: the limiter decided a request. Class and Outcome
	// (OutcomeAllowed, OutcomeDenied or OutcomeFailed) are set; on
	// OutcomeFailed, Policy and Err too.
	KindRateLimit
	// KindKillSwitch: a kill switch refused a request. Scope is set.
	KindKillSwitch
	// KindIdempotency: the idempotency guard finished with a keyed request.
	// Outcome is one of OutcomeStored, OutcomeReplayed, OutcomeConflict,
	// OutcomeInUse, OutcomeReleased or OutcomeFailed (with Err).
	KindIdempotency
	// KindStore: a store failed, or warns about its backend (Outcome
	// OutcomeFailed, OutcomeUnsafe or OutcomeDataLost). Component and Err
	// are set; Policy when a failure policy was applied.
	KindStore
	// KindRequest: an adapter's Install took a request, after stamping its
	// request ID and before anything else runs: once per request, success
	// or not. Method is set; the context carries the request ID and the
	// server span of a tracing middleware mounted outside errkit. It is
	// the hook point for what every request needs, such as the request ID
	// on the span.
	KindRequest
)

// String returns the kind's name, as used in metric names and logs.
func (k Kind) String() string {
	switch k {
	case KindError:
		return "error"
	case KindRateLimit:
		return "ratelimit"
	case KindKillSwitch:
		return "killswitch"
	case KindIdempotency:
		return "idempotency"
	case KindStore:
		return "store"
	case KindRequest:
		return "request"
	}
	return "unknown"
}

// Outcome is what happened, for the kinds that have one.
type Outcome string

// The outcomes of [Event].Outcome.
const (
	OutcomeAllowed  Outcome = "allowed"   // rate limit: admitted
	OutcomeDenied   Outcome = "denied"    // rate limit: answered RATE_LIMITED
	OutcomeStored   Outcome = "stored"    // idempotency: the response was kept for replay
	OutcomeReplayed Outcome = "replayed"  // idempotency: a kept response was replayed
	OutcomeConflict Outcome = "conflict"  // idempotency: same key, different request
	OutcomeInUse    Outcome = "in_use"    // idempotency: same key, first request still running
	OutcomeReleased Outcome = "released"  // idempotency: the key was freed (handler failed, response not kept)
	OutcomeFailed   Outcome = "failed"    // a store call failed
	OutcomeUnsafe   Outcome = "unsafe"    // a store's backend would lose data it must keep (no persistence)
	OutcomeDataLost Outcome = "data_lost" // a store's backend lost its data since the last call
)

// Policy is the failure policy applied to a failed store call.
type Policy string

// The policies of [Event].Policy.
const (
	PolicyFailOpen   Policy = "fail_open"   // the request went on without the store's answer
	PolicyFailClosed Policy = "fail_closed" // the request was refused (INTERNAL)
)

// The components of [Event].Component.
const (
	ComponentRateLimit   = "ratelimit"
	ComponentKillSwitch  = "killswitch"
	ComponentIdempotency = "idempotency"
	ComponentBreaker     = "breaker"
)

// Event is one outcome. Which fields are set depends on Kind; the others
// are zero. An Event is passed by value and holds no pointer into the
// request, so a Hook may keep it.
type Event struct {
	Kind Kind

	// Method is the request's method as [StandardMethod] gives it, and
	// Route its route template ("" when the request matched no route, or
	// the event is not a request's; never the raw path).
	Method, Route string

	// Code, Status and Category describe the rendered error (KindError).
	Code     apierror.Code
	Status   int
	Category apierror.Category

	// Class is the rate-limit class (KindRateLimit).
	Class string
	// Scope is the kill switch's scope (KindKillSwitch).
	Scope apierror.KillSwitchScope
	// Outcome is what happened (KindRateLimit, KindIdempotency, KindStore).
	Outcome Outcome
	// Component is the part whose store failed (KindStore; and
	// KindRateLimit/KindIdempotency failures name theirs too).
	Component string
	// Policy is the failure policy applied (failed store calls).
	Policy Policy
	// Err is the server-side cause of a failure or warning, or the error
	// an error response answers (KindError). It may hold internal detail:
	// log it, never render it or use it as a label.
	Err error
}

// Hook receives events. It is called synchronously on the request's
// goroutine (or the store's, for events outside a request), so it must be
// fast and must not block; it must be safe for concurrent use. ctx is the
// request's context when there is one (carrying the request ID and the
// active span), else context.Background().
type Hook func(ctx context.Context, e Event)

// Emit calls h with e when h is not nil. Components call it so that a nil
// Hook costs one comparison.
func (h Hook) Emit(ctx context.Context, e Event) {
	if h != nil {
		h(ctx, e)
	}
}

// Hooks returns a Hook that calls each non-nil hook of hs in order, or nil
// when there is none.
func Hooks(hs ...Hook) Hook {
	var live []Hook
	for _, h := range hs {
		if h != nil {
			live = append(live, h)
		}
	}
	switch len(live) {
	case 0:
		return nil
	case 1:
		return live[0]
	}
	return func(ctx context.Context, e Event) {
		for _, h := range live {
			h(ctx, e)
		}
	}
}

// Fire reports e: to h, the Hook of the firing component's Config, then to
// the Hook ctx carries ([NewContext]), each when not nil. Components fire
// every event through it, so that both kinds of hook see the same events.
// When no context ever carried a Hook, the lookup costs one atomic load.
func Fire(ctx context.Context, h Hook, e Event) {
	if h != nil {
		h(ctx, e)
	}
	if ch := FromContext(ctx); ch != nil {
		ch(ctx, e)
	}
}

// ctxKey is the context key of a Hook.
type ctxKey struct{}

// carried is set once a context carries a Hook: until then [FromContext]
// does not search contexts.
var carried atomic.Bool

// NewContext returns a copy of ctx that carries h: errkit's components
// fire the events of a request whose context carries h to h, after the
// Hook of their own Config. A wrapping handler that sets it on every
// request (r.WithContext) observes the whole server; it costs that
// handler one allocation per request, which the Config hooks do not. A
// nil h removes the Hook an outer context carries.
func NewContext(ctx context.Context, h Hook) context.Context {
	carried.Store(true)
	return context.WithValue(ctx, ctxKey{}, h)
}

// FromContext returns the Hook ctx carries, or nil.
func FromContext(ctx context.Context) Hook {
	if ctx == nil || !carried.Load() {
		return nil
	}
	h, _ := ctx.Value(ctxKey{}).(Hook)
	return h
}

// MethodOther is what [StandardMethod] returns for a method outside the
// standard set, as OpenTelemetry's HTTP conventions name it.
const MethodOther = "_OTHER"

// StandardMethod returns m when it is one of the methods of RFC 9110 and
// PATCH (CONNECT, DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, TRACE;
// case-sensitive, as methods are), and [MethodOther] for anything else, so
// that a client inventing methods cannot grow a metric's series. It does
// not allocate.
func StandardMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return MethodOther
}
