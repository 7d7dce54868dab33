package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/requestid"
)

// Config configures a [Limiter]. Every zero field takes a default, so the
// zero Config is valid: a private memory store, [principal.KeyID] keys,
// [MethodClass] with the default classes, cost 1, fail-open.
type Config struct {
	// Store makes the decisions. Default (nil): a MemoryStore private to
	// the limiter, with the default cap and no background goroutine
	// (eviction on insert keeps it under the cap), so the limiter needs no
	// Close. Share one store between limiters, or use a Redis store
	// (ratelimit/redisstore) for a fleet.
	Store Store

	// KeyFunc returns the first half of the bucket key: the authenticated
	// API key ID, never the secret key and never anything the client
	// chooses. Default [principal.KeyID] (recorded by the service's
	// authentication, which must run before the limiter). A request with an
	// empty key (unauthenticated) is not limited and gets no RateLimit
	// headers: authentication answers it first.
	KeyFunc func(r *http.Request) string

	// Routes maps route templates (the route argument of [Limiter.Limit],
	// never the raw URL path) to classes: keys "METHOD /template" (that
	// method only) or "/template" (any method), values a class of Classes,
	// or "" for a route that is not limited. Routes not listed fall back to
	// ClassFunc.
	Routes map[string]string

	// ClassFunc returns the endpoint class of requests whose route is not
	// in Routes; "" means not limited. Default [MethodClass] (read for GET
	// and HEAD, write otherwise). A class missing from Classes is a failed
	// decision (handled by the failure policy), never a denial.
	ClassFunc func(r *http.Request) string

	// Classes gives each class its rate and burst. Default (nil):
	// [ClassRead] at [DefaultReadRate] and [ClassWrite] at
	// [DefaultWriteRate].
	Classes map[string]Rate

	// Cost is the number of tokens one request takes. Default 1. It must
	// not exceed any class's burst.
	Cost int

	// FailClosed answers requests whose decision failed (store error,
	// timeout, unknown class) with INTERNAL (500; the cause is logged and
	// never rendered) instead of letting them through. Default false:
	// fail-open, the request passes. Either way the failure is logged with
	// the request ID and reported to OnStoreError, and it is never answered
	// as RATE_LIMITED.
	FailClosed bool

	// OnStoreError, if set, is called on every failed decision, before the
	// failure policy applies. It predates Events, whose OutcomeFailed
	// event reports the same failures (after OnStoreError, with the policy
	// applied); new code should use Events.
	OnStoreError func(r *http.Request, err error)

	// Events, if set, receives one event.KindRateLimit per decided request
	// (limited requests only: not the unauthenticated or unclassed ones):
	// Class, Method, Route and Outcome event.OutcomeAllowed or
	// event.OutcomeDenied; on a failed decision event.OutcomeFailed with
	// Component event.ComponentRateLimit, the Policy applied and the cause
	// in Err (Class is then "" when ClassFunc named a class that is not in
	// Classes). A Hook in the request's context (event.NewContext)
	// receives them too.
	Events event.Hook

	// Logger logs failed decisions of requests that carry no request ID
	// (requests with one are logged with [requestid.Logger]). Default
	// [requestid.DefaultLogger].
	Logger *slog.Logger
}

// classEntry is a configured class with its precomputed policy header.
type classEntry struct {
	class  Class
	policy string
}

// Limiter makes the rate-limit decision of requests and sets the RateLimit
// headers; framework adapters (errkit's nethttp and middleware packages)
// call [Limiter.Limit] and answer the error it returns. It is safe for
// concurrent use and holds no goroutine of its own.
type Limiter struct {
	store      Store
	keyFunc    func(*http.Request) string
	classFunc  func(*http.Request) string
	classes    map[string]classEntry
	routes     routeTable
	cost       int
	failClosed bool
	onError    func(*http.Request, error)
	events     event.Hook
	logger     *slog.Logger
}

// New validates cfg and returns its Limiter, or a configuration error: a
// Cost below 1 or above a class's burst, an empty Classes, an invalid
// class, or a Routes key or value that is malformed or names no class.
func New(cfg Config) (*Limiter, error) {
	if cfg.KeyFunc == nil {
		cfg.KeyFunc = principal.KeyID
	}
	if cfg.ClassFunc == nil {
		cfg.ClassFunc = MethodClass
	}
	if cfg.Cost == 0 {
		cfg.Cost = 1
	}
	if cfg.Cost < 1 {
		return nil, fmt.Errorf("ratelimit: Cost must be at least 1, got %d", cfg.Cost)
	}
	rates := cfg.Classes
	if rates == nil {
		rates = map[string]Rate{ClassRead: DefaultReadRate, ClassWrite: DefaultWriteRate}
	}
	if len(rates) == 0 {
		return nil, fmt.Errorf("ratelimit: Classes is empty")
	}
	classes := make(map[string]classEntry, len(rates))
	for name, r := range rates {
		cl := Class{Name: name, Rate: r}
		if err := cl.Validate(); err != nil {
			return nil, fmt.Errorf("ratelimit: class %q: %w", name, err)
		}
		if cfg.Cost > r.Burst {
			return nil, fmt.Errorf("ratelimit: Cost %d exceeds the burst %d of class %q: no request could pass", cfg.Cost, r.Burst, name)
		}
		classes[name] = classEntry{class: cl, policy: PolicyHeader(cl)}
	}
	routes, err := compileRoutes(cfg.Routes, classes)
	if err != nil {
		return nil, err
	}
	store := cfg.Store
	if store == nil {
		ms, err := NewMemoryStore(MemoryConfig{SweepInterval: -1})
		if err != nil {
			return nil, err
		}
		store = ms
	}
	return &Limiter{
		store:      store,
		keyFunc:    cfg.KeyFunc,
		classFunc:  cfg.ClassFunc,
		classes:    classes,
		routes:     routes,
		cost:       cfg.Cost,
		failClosed: cfg.FailClosed,
		onError:    cfg.OnStoreError,
		events:     cfg.Events,
		logger:     cfg.Logger,
	}, nil
}

// Limit decides r, whose route template is route (echo's c.Path(), or a
// ServeMux pattern, whose "METHOD " and host are ignored), and sets the
// response headers of the decision on h, the response's header.
//
// It returns nil to let the request through: it is not limited (empty
// key, or no class), it was admitted (RateLimit-Policy and RateLimit are
// set on h), or its decision failed and the limiter fails open. Otherwise
// it returns the error to answer with:
//   - denied: apierror.RateLimited(retryAfter) (429 RATE_LIMITED with
//     details.retryAfterMs), with RateLimit-Policy, RateLimit and the
//     matching Retry-After (whole seconds, rounded up, see
//     [apierror.RetryAfterSeconds]) set on h;
//   - decision failed and FailClosed: apierror.Internal(cause), whose cause
//     is logged by the error writer and never rendered; h is not changed.
//
// Every decision goes through the Store's Allow. A failed decision is
// reported to OnStoreError and logged (with the request ID) before the
// failure policy applies. Each decided request fires one event to
// Config.Events (see there).
func (l *Limiter) Limit(h http.Header, r *http.Request, route string) error {
	key := l.keyFunc(r)
	if key == "" {
		return nil
	}
	name, ok := l.routes.lookup(route, r.Method)
	if !ok {
		name = l.classFunc(r)
	}
	if name == "" {
		return nil
	}
	cl, ok := l.classes[name]
	if !ok {
		return l.failed(r, route, "", fmt.Errorf("ratelimit: ClassFunc returned class %q, which is not in Classes", name))
	}
	d, err := l.store.Allow(r.Context(), key, cl.class, l.cost)
	if err != nil {
		return l.failed(r, route, name, err)
	}
	setHeaders(h, name, cl.policy, d)
	if !d.Allowed {
		l.fire(r, route, name, event.OutcomeDenied, "", nil)
		h.Set("Retry-After", strconv.FormatInt(apierror.RetryAfterSeconds(d.RetryAfter), 10))
		return apierror.RateLimited(d.RetryAfter)
	}
	l.fire(r, route, name, event.OutcomeAllowed, "", nil)
	return nil
}

// fire reports a decision of r, when anything listens.
func (l *Limiter) fire(r *http.Request, route, class string, o event.Outcome, p event.Policy, err error) {
	ctx := r.Context()
	if l.events == nil && event.FromContext(ctx) == nil {
		return
	}
	e := event.Event{Kind: event.KindRateLimit, Method: event.StandardMethod(r.Method), Route: route,
		Class: class, Outcome: o, Policy: p, Err: err}
	if o == event.OutcomeFailed {
		e.Component = event.ComponentRateLimit
	}
	event.Fire(ctx, l.events, e)
}

// failed applies the failure policy to a decision of class that could not
// be made.
func (l *Limiter) failed(r *http.Request, route, class string, err error) error {
	if l.onError != nil {
		l.onError(r, err)
	}
	ctx := r.Context()
	log := l.logFor(ctx)
	if l.failClosed {
		l.fire(r, route, class, event.OutcomeFailed, event.PolicyFailClosed, err)
		log.LogAttrs(ctx, slog.LevelError, "ratelimit: decision failed; request refused (fail-closed)",
			slog.String("error", err.Error()))
		return apierror.Internal(fmt.Errorf("ratelimit: decision failed (fail-closed): %w", err))
	}
	l.fire(r, route, class, event.OutcomeFailed, event.PolicyFailOpen, err)
	log.LogAttrs(ctx, slog.LevelWarn, "ratelimit: decision failed; request allowed (fail-open)",
		slog.String("error", err.Error()))
	return nil
}

// logFor returns the logger of a failed decision: the request's own when it
// has a request ID, else Config.Logger, else the default.
func (l *Limiter) logFor(ctx context.Context) *slog.Logger {
	if l.logger != nil && requestid.FromContext(ctx) == "" {
		return l.logger
	}
	return requestid.Logger(ctx)
}
