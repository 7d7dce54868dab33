package ratelimit

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/requestid"
)

// DefaultThrottleClass is the class name of a [Throttle]'s buckets when
// [ThrottleConfig].Class is empty.
const DefaultThrottleClass = "auth_failure"

// DefaultThrottleRate is the failure budget of a [Throttle] whose
// [ThrottleConfig].Rate is zero: bursts of 10 failed authentications per
// key (client IP), then one a second.
var DefaultThrottleRate = Rate{PerSecond: 1, Burst: 10}

// DefaultMaxBlocked is the number of blocked keys a [Throttle] remembers
// when [ThrottleConfig].MaxBlocked is zero.
const DefaultMaxBlocked = 10_000

// ThrottleConfig configures a [Throttle]. KeyFunc is required; every other
// zero field takes a default.
type ThrottleConfig struct {
	// Store counts failures. Default (nil): a MemoryStore private to the
	// throttle, without background goroutine. Pass a Redis store
	// (ratelimit/redisstore) so that a fleet shares each key's failure
	// budget; it may be the store of a [Limiter] too (the class name keeps
	// the buckets apart).
	Store Store

	// Rate is the failure budget of one key: Burst failures at once, then
	// PerSecond. Default [DefaultThrottleRate]. Set it above what the
	// clients behind one address fail legitimately (a partner's office
	// behind one NAT rotating a key): they share it.
	Rate Rate

	// KeyFunc returns the key failures are counted by, from the request as
	// it was before authentication: clientip's Resolver.Key (the client IP,
	// which the client cannot choose). Required. A request with an empty
	// key is neither checked nor counted. Never key by anything the client
	// sends unverified (the token, a forwarding header from an untrusted
	// peer): the guesser would pick a fresh key per attempt.
	KeyFunc func(r *http.Request) string

	// Class names the buckets (1-64 bytes of [A-Za-z0-9_.-]), and is the
	// Class of the throttle's events. Default [DefaultThrottleClass].
	Class string

	// MaxBlocked bounds the blocked keys the throttle remembers locally.
	// When it is reached, a new block first drops the blocks that have
	// ended, then the one that ends soonest (the one that protects least).
	// Default [DefaultMaxBlocked]; negative is a configuration error.
	MaxBlocked int

	// Now is the throttle's clock, for how long a block lasts. Default
	// time.Now. Tests inject a fake clock here (and the MemoryStore's
	// Clock).
	Now func() time.Time

	// Events, if set, receives one event.KindRateLimit, with Class, per
	// refusal (Outcome event.OutcomeDenied, from Check or Fail), per
	// failure counted (event.OutcomeAllowed: the caller answers its 401)
	// and per failure the store could not count (event.OutcomeFailed,
	// Component event.ComponentRateLimit, Policy event.PolicyFailOpen, the
	// cause in Err). A Hook in the request's context (event.NewContext)
	// receives them too.
	Events event.Hook

	// Logger logs store failures of requests that carry no request ID
	// (requests with one are logged with [requestid.Logger]). Default
	// [requestid.DefaultLogger].
	Logger *slog.Logger
}

// Throttle slows down guessing of credentials by counting failed
// authentications per client (per IP, with KeyFunc) and refusing every
// request of a client that failed too often, with RATE_LIMITED, until its
// budget refills. A service calls [Throttle.Check] before authentication
// and [Throttle.Fail] after authentication failed:
//
//	if err := t.Check(w.Header(), r); err != nil { return err } // 429
//	r, err := bearer.Authenticate(r, lookup)
//	if err != nil {
//		if terr := t.Fail(w.Header(), r); terr != nil { return terr } // 429
//		return err // 401
//	}
//
// Why both halves, and why failures only: a limiter keyed by IP in front
// of authentication charges every request, so the customers behind one
// NAT share one budget for all their traffic, and a budget generous enough
// for them lets a guesser through at that rate. Counting failures after
// authentication does not stop a guesser either if only failures are
// refused: the guess that is right still succeeds. Here a client that
// never fails is never charged (Check costs no store call; Fail is called
// only on failures), and a client that spent its failure budget is refused
// before authentication runs, so a right guess made during the block is
// refused too, and the guesser learns nothing from it.
//
// Blocks are local: Fail records "key blocked until t" in a bounded map of
// the instance that saw the budget run out, and Check reads only that map.
// The instance that spends the last token blocks at once, until the next
// token exists: on one instance, the lookups a guesser gets run are
// exactly the budget, Burst then PerSecond, each answered 401, and every
// other attempt is a 429. The budget itself lives in the Store, so with a
// shared (Redis) store every instance of a fleet spends the same budget;
// an instance that did not see it run out lets one more failure through
// to the store, which denies it (answered 429 instead of 401), and blocks
// from then on. A guesser spread over n instances therefore gets Burst
// lookups, then about PerSecond, plus at most one per instance each time
// its block there ends.
//
// The responses: while blocked, Check returns apierror.RateLimited with
// the time left, and sets the matching Retry-After header, so the error
// writer renders 429 with details.retryAfterMs. No RateLimit-* headers are
// set: those describe the (key ID, class) quota of the contract, not this
// budget.
//
// Store failures fail open: the failure is logged with the request ID,
// reported to Events, and counted in a private in-process store instead (a
// MemoryStore with the same rate), so during a Redis outage each instance
// still throttles on its own, and the request is answered as the caller
// answers it (401). There is no fail-closed option: the request has
// already failed authentication, and refusing it with INTERNAL would
// protect nothing the local count does not.
//
// A Throttle is safe for concurrent use and holds no goroutine (no Close).
type Throttle struct {
	store    Store
	fallback Store // nil when store is already private and in-process
	keyFunc  func(*http.Request) string
	class    Class
	interval time.Duration // of one token of class
	now      func() time.Time
	events   event.Hook
	logger   *slog.Logger
	blocked  blockSet
}

// NewThrottle validates cfg and returns its Throttle, or a configuration
// error: no KeyFunc, an invalid Class name or Rate, a negative MaxBlocked.
func NewThrottle(cfg ThrottleConfig) (*Throttle, error) {
	if cfg.KeyFunc == nil {
		return nil, errors.New("ratelimit: ThrottleConfig.KeyFunc is required (for example clientip's Resolver.Key)")
	}
	if cfg.Class == "" {
		cfg.Class = DefaultThrottleClass
	}
	if cfg.Rate == (Rate{}) {
		cfg.Rate = DefaultThrottleRate
	}
	class := Class{Name: cfg.Class, Rate: cfg.Rate}
	interval, err := class.Check(1)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: ThrottleConfig: %w", err)
	}
	switch {
	case cfg.MaxBlocked == 0:
		cfg.MaxBlocked = DefaultMaxBlocked
	case cfg.MaxBlocked < 0:
		return nil, fmt.Errorf("ratelimit: ThrottleConfig.MaxBlocked must not be negative, got %d", cfg.MaxBlocked)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	t := &Throttle{
		store:    cfg.Store,
		keyFunc:  cfg.KeyFunc,
		class:    class,
		interval: interval,
		now:      cfg.Now,
		events:   cfg.Events,
		logger:   cfg.Logger,
		blocked:  blockSet{max: cfg.MaxBlocked, keys: make(map[string]*block)},
	}
	// Eviction on insert keeps the private store under its cap (the
	// default, as a Limiter's): no sweeper, no goroutine, no Close.
	private, err := NewMemoryStore(MemoryConfig{SweepInterval: -1})
	if err != nil {
		return nil, err
	}
	if t.store == nil {
		t.store = private
	} else {
		t.fallback = private
	}
	return t, nil
}

// Check decides r before authentication. It returns nil unless r's key is
// blocked (a [Throttle.Fail] of this instance spent the key's last token
// or was denied, and the block has not ended); then it returns
// apierror.RateLimited with the time left and sets the matching
// Retry-After header (whole seconds, rounded up, see
// [apierror.RetryAfterSeconds]) on h, the response's header. It makes no
// store call: one read of a local map, not even that while the map is
// empty.
func (t *Throttle) Check(h http.Header, r *http.Request) error {
	if t.blocked.n.Load() == 0 {
		return nil
	}
	key := t.keyFunc(r)
	if key == "" {
		return nil
	}
	left, ok := t.blocked.left(key, t.now())
	if !ok {
		return nil
	}
	t.fire(r, event.OutcomeDenied, "", nil)
	return deny(h, left)
}

// Fail counts one failed authentication of r, whose request is answered
// with the error Fail returns, or, when it returns nil, with the caller's
// own error (UNAUTHENTICATED). It spends one token of r's key through the
// Store:
//   - admitted with tokens left: nil;
//   - admitted, and it was the last token: nil, and the key is blocked
//     locally until the next token exists, so that [Throttle.Check]
//     refuses the next attempt before its lookup runs;
//   - denied (the budget was spent elsewhere: another instance): the key
//     is blocked locally until now+RetryAfter, and Fail returns
//     apierror.RateLimited(RetryAfter) with Retry-After set on h as
//     Check does.
//
// A key already blocked locally is refused without a store call.
//
// A store failure is logged (with the request ID, [requestid.Logger]) and
// reported to Events, and the failure is counted in the throttle's private
// in-process store instead, whose denial blocks as the store's would. Fail
// never returns anything but nil or RATE_LIMITED.
func (t *Throttle) Fail(h http.Header, r *http.Request) error {
	key := t.keyFunc(r)
	if key == "" {
		return nil
	}
	if left, ok := t.blocked.left(key, t.now()); ok {
		t.fire(r, event.OutcomeDenied, "", nil)
		return deny(h, left)
	}
	ctx := r.Context()
	d, err := t.store.Allow(ctx, key, t.class, 1)
	if err != nil {
		d, err = t.failed(r, key, err)
		if err != nil {
			return nil // nothing could count it: fail open
		}
	}
	if d.Allowed {
		// The last token spent: block until the next one exists, so that
		// the next attempt is refused by Check before its lookup runs.
		if wait := d.ResetAfter - time.Duration(t.class.Rate.Burst-1)*t.interval; d.Remaining == 0 && wait > 0 {
			now := t.now()
			t.blocked.add(key, now, now.Add(wait))
		}
		t.fire(r, event.OutcomeAllowed, "", nil)
		return nil
	}
	left := max(d.RetryAfter, time.Millisecond)
	now := t.now()
	t.blocked.add(key, now, now.Add(left))
	t.fire(r, event.OutcomeDenied, "", nil)
	return deny(h, left)
}

// failed handles a decision the store could not make: it logs and reports
// err, then decides with the fallback store.
func (t *Throttle) failed(r *http.Request, key string, err error) (Decision, error) {
	t.fire(r, event.OutcomeFailed, event.PolicyFailOpen, err)
	ctx := r.Context()
	log := t.logFor(ctx)
	if t.fallback == nil {
		log.LogAttrs(ctx, slog.LevelWarn, "ratelimit: throttle: failure not counted (fail-open)",
			slog.String("class", t.class.Name), slog.String("error", err.Error()))
		return Decision{}, err
	}
	log.LogAttrs(ctx, slog.LevelWarn, "ratelimit: throttle: store failed; failure counted by this instance only (fail-open)",
		slog.String("class", t.class.Name), slog.String("error", err.Error()))
	d, ferr := t.fallback.Allow(ctx, key, t.class, 1)
	if ferr != nil {
		return Decision{}, ferr
	}
	return d, nil
}

// Blocked returns the number of keys the throttle remembers as blocked,
// blocks that have ended but were not dropped yet included; it never
// exceeds MaxBlocked.
func (t *Throttle) Blocked() int { return int(t.blocked.n.Load()) }

// deny sets Retry-After for left on h and returns RATE_LIMITED.
func deny(h http.Header, left time.Duration) error {
	h.Set("Retry-After", strconv.FormatInt(apierror.RetryAfterSeconds(left), 10))
	return apierror.RateLimited(left)
}

// fire reports an outcome of r, when anything listens.
func (t *Throttle) fire(r *http.Request, o event.Outcome, p event.Policy, err error) {
	ctx := r.Context()
	if t.events == nil && event.FromContext(ctx) == nil {
		return
	}
	e := event.Event{Kind: event.KindRateLimit, Method: event.StandardMethod(r.Method),
		Class: t.class.Name, Outcome: o, Policy: p, Err: err}
	if o == event.OutcomeFailed {
		e.Component = event.ComponentRateLimit
	}
	event.Fire(ctx, t.events, e)
}

// logFor returns the logger of a failed decision: the request's own when it
// has a request ID, else Config.Logger, else the default.
func (t *Throttle) logFor(ctx context.Context) *slog.Logger {
	if t.logger != nil && requestid.FromContext(ctx) == "" {
		return t.logger
	}
	return requestid.Logger(ctx)
}

// blockSet is the bounded set of blocked keys: a map for Check's lookup and
// a min-heap by end time, so that dropping ended blocks and evicting the
// one that ends soonest are the same cheap operation (pop the top).
type blockSet struct {
	mu   sync.RWMutex
	keys map[string]*block
	heap blockHeap
	max  int
	n    atomic.Int64 // len(keys), read without the lock by Check's fast path
}

// block is one blocked key.
type block struct {
	key   string
	until time.Time
	index int // in the heap
}

// left reports whether key is blocked at now, and for how much longer.
func (s *blockSet) left(key string, now time.Time) (time.Duration, bool) {
	s.mu.RLock()
	b, ok := s.keys[key]
	var until time.Time
	if ok {
		until = b.until
	}
	s.mu.RUnlock()
	if !ok || !until.After(now) {
		return 0, false
	}
	return until.Sub(now), true
}

// add blocks key from now until until (or keeps a later end it already
// had). Blocks ended at now are dropped first; at the cap, the block that
// ends soonest makes room.
func (s *blockSet) add(key string, now, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.keys[key]; ok {
		if until.After(b.until) {
			b.until = until
			heap.Fix(&s.heap, b.index)
		}
		return
	}
	for len(s.heap) > 0 && (len(s.heap) >= s.max || !s.heap[0].until.After(now)) {
		b := heap.Pop(&s.heap).(*block)
		delete(s.keys, b.key)
	}
	b := &block{key: key, until: until}
	heap.Push(&s.heap, b)
	s.keys[key] = b
	s.n.Store(int64(len(s.keys)))
}

// blockHeap orders blocks by end time, soonest first (container/heap).
type blockHeap []*block

func (h blockHeap) Len() int           { return len(h) }
func (h blockHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h blockHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *blockHeap) Push(x any) {
	b := x.(*block)
	b.index = len(*h)
	*h = append(*h, b)
}
func (h *blockHeap) Pop() any {
	old := *h
	n := len(old)
	b := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return b
}
