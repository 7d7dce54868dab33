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

// DefaultMaxBlocked is the number of keys a [Throttle] keeps track of
// locally when [ThrottleConfig].MaxBlocked is zero.
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

	// MaxBlocked bounds the keys the throttle keeps track of locally, all
	// kinds together: blocked keys, keys with part of their budget spent,
	// and keys with attempts in flight (every client with a request between
	// Check and its end). When it is reached, a new key first drops the
	// entries that tell nothing any more (nothing in flight, budget full
	// again), then the one that protects least: among keys without
	// attempts in flight, the one whose block or spent budget ends
	// soonest; only then a key with attempts in flight, which forgets
	// them, so that its next attempts find the whole burst again. Size it
	// above the distinct clients an instance authenticates at once (serves
	// at once, when the service does not call [Throttle.Done]).
	// Default [DefaultMaxBlocked]; negative is a configuration error.
	MaxBlocked int

	// Now is the throttle's clock, for how long a block lasts and how the
	// budget it last saw refills; the private store (nil Store, and the
	// fallback) runs on it too. Default time.Now. Tests inject a fake
	// clock here (and in the Store they pass, such as a MemoryStore's
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
// budget refills. A service calls [Throttle.Check] before authentication,
// [Throttle.Fail] after authentication failed, and [Throttle.Done] after
// it succeeded:
//
//	if err := t.Check(w.Header(), r); err != nil { return err } // 429
//	r, err := bearer.Authenticate(r, lookup)
//	if err != nil {
//		if terr := t.Fail(w.Header(), r); terr != nil { return terr } // 429
//		return err // 401
//	}
//	t.Done(r)
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
// Check decides locally, in a bounded map of the instance (MaxBlocked
// keys): for each key, the budget the store's last decision left (Fail
// records it, refilled at Rate since; Burst for a key not seen failing),
// and the attempts in flight, which Check reserves and which end with
// their outcome: Fail, Done, or at the latest the end of the request (its
// context), so that an attempt can't stay reserved past its request. Check
// refuses an attempt once the attempts in flight use up the budget: a
// concurrent burst of guesses gets no more lookups than the budget, not
// one per guess that arrives before the first Fail. On one instance, the
// lookups a guesser gets run are exactly the budget, Burst then
// PerSecond, each answered 401, and every other attempt is a 429,
// whether it sends its guesses one by one or all at once, once its key
// has a failure on record: a key that never failed is not reserved (see
// [Throttle.Check]), so a guesser's very first concurrent wave runs whole.
//
// The budget itself lives in the Store, so with a shared (Redis) store
// every instance of a fleet spends the same budget; the attempts in flight
// are counted per instance, against what that instance last heard of the
// budget. An instance that did not see the budget run out lets attempts
// through to their lookup, up to its own idea of the budget, and the store
// denies their failures (answered 429 instead of 401); it blocks from
// then on. A guesser spread over n instances therefore gets Burst lookups,
// then about PerSecond, plus, each time its block ends on an instance, at
// most what that instance believes is left (one token after a block; at
// most Burst on an instance that never saw the key fail).
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
// A Throttle is safe for concurrent use and has no goroutine of its own
// (no Close): an attempt still in flight when its request ends is released
// by the short goroutine context.AfterFunc starts then.
type Throttle struct {
	store    Store
	fallback Store // nil when store is already private and in-process
	keyFunc  func(*http.Request) string
	class    Class
	budget   budget
	now      func() time.Time
	events   event.Hook
	logger   *slog.Logger
	attempts attemptSet
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
		budget:   budget{burst: cfg.Rate.Burst, interval: interval},
		now:      cfg.Now,
		events:   cfg.Events,
		logger:   cfg.Logger,
		attempts: attemptSet{max: cfg.MaxBlocked, keys: make(map[string]*entry)},
	}
	// Eviction on insert keeps the private store under its cap (the
	// default, as a Limiter's): no sweeper, no goroutine, no Close. It
	// runs on the throttle's clock, so that its refills and the local
	// blocks agree (and follow a test's fake clock).
	start, now := cfg.Now(), cfg.Now
	private, err := NewMemoryStore(MemoryConfig{SweepInterval: -1, Clock: func() time.Duration { return now().Sub(start) }})
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

// Check decides r before authentication and, once r's key has a failure
// on record, reserves one of the key's attempts for it. It refuses r (apierror.RateLimited, with the matching
// Retry-After header, whole seconds rounded up, see
// [apierror.RetryAfterSeconds], set on h, the response's header) when the
// attempts of r's key already in flight on this instance, that is checked
// and not yet decided, use up what this instance knows of the key's failure
// budget: Burst for a key it has not seen fail, else what the store's
// last [Decision] for the key left, refilled at Rate since (nothing until
// the retry time of a denial). So, once a key has failed, a burst of
// concurrent guesses gets at most the budget's lookups run, not one per
// guess. The time left it reports assumes the attempts in flight all fail.
//
// A key with no failure on record (none yet, or its budget refilled since)
// is let through without a reservation: its requests may authenticate as
// many at once as they like, as the requests of a partner's NAT do, and
// pay nothing for the throttle but one map lookup. The price is the first
// wave of a guesser that has never failed: its concurrent guesses all run
// their lookup, and the first failure puts the key on record, after which
// the budget bounds every wave.
//
// The reservation lasts until the attempt's outcome is known:
// [Throttle.Fail] ends it once the failure is counted, [Throttle.Done]
// once authentication succeeded, and in any case the end of r's context,
// which net/http cancels as the handler returns, so an attempt whose
// caller forgot both (or whose request was abandoned) can't stay reserved
// past its request. Requests are told apart by their context's Done
// channel: r and the requests derived from it with a context.WithValue
// child (principal.Set, the request ID stamping) are one attempt, which
// checking again does not reserve twice. A request whose context can
// never end (context.Background, as httptest.NewRequest makes) reserves
// nothing: it is checked against the budget only.
//
// Check makes no store call: a short critical section on the throttle's
// bounded map, and a context.AfterFunc registration on r's context (for
// net/http's request contexts, no goroutine until the context ends; then
// one, which ends the reservation if nothing else did).
func (t *Throttle) Check(h http.Header, r *http.Request) error {
	ctx := r.Context()
	done := ctx.Done()
	if done == nil && t.attempts.n.Load() == 0 {
		return nil
	}
	key := t.keyFunc(r)
	if key == "" {
		return nil
	}
	if !t.attempts.known(key) {
		// No failure of this key is on record (or its budget refilled
		// since): nothing to limit, and nothing reserved, so that a client
		// whose requests authenticate pays no reservation and any number
		// of them may authenticate at once (a partner's whole NAT).
		return nil
	}
	var s *attempt
	if done != nil {
		// Registered before the attempt is published: if ctx has already
		// ended, release may run first, and then Check reserves nothing.
		s = &attempt{done: done}
		s.stop = context.AfterFunc(ctx, func() { t.release(s) })
	}
	left, ok, attached := t.attempts.reserve(key, s, t.now(), t.budget)
	if s != nil && !attached {
		s.stop() // nothing to release: refused, or r holds an attempt already
	}
	if ok {
		return nil
	}
	t.fire(r, event.OutcomeDenied, "", nil)
	return deny(h, left)
}

// Fail counts one failed authentication of r, whose request is answered
// with the error Fail returns, or, when it returns nil, with the caller's
// own error (UNAUTHENTICATED). It ends the attempt [Throttle.Check]
// reserved for r, once the failure is counted, and spends one token of
// r's key through the Store:
//   - admitted with tokens left: nil;
//   - admitted, and it was the last token: nil, and the key is blocked
//     locally until the next token exists, so that [Throttle.Check]
//     refuses the next attempt before its lookup runs;
//   - denied (the budget was spent elsewhere: another instance): the key
//     is blocked locally until now+RetryAfter, and Fail returns
//     apierror.RateLimited(RetryAfter) with Retry-After set on h as
//     Check does.
//
// A key already blocked locally is refused without a store call. Fail
// without a Check before it counts the failure all the same.
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
	ctx := r.Context()
	s, left, blocked := t.attempts.failing(key, ctx.Done(), t.now(), t.budget)
	if blocked {
		t.attempts.finish(key, s, Decision{}, t.now(), t.budget, false)
		t.fire(r, event.OutcomeDenied, "", nil)
		return deny(h, left)
	}
	// The attempt stays reserved while the store decides, so that no Check
	// meanwhile sees it ended and its token unspent.
	d, err := t.store.Allow(ctx, key, t.class, 1)
	if err != nil {
		d, err = t.failed(r, key, err)
	}
	counted := err == nil
	t.attempts.finish(key, s, d, t.now(), t.budget, counted)
	if !counted {
		return nil // nothing could count it: fail open
	}
	if d.Allowed {
		t.fire(r, event.OutcomeAllowed, "", nil)
		return nil
	}
	t.fire(r, event.OutcomeDenied, "", nil)
	return deny(h, max(d.RetryAfter, time.Millisecond))
}

// Done ends the attempt [Throttle.Check] reserved for r without counting
// anything: a service calls it once authentication succeeded, with the
// request authentication returned or r itself:
//
//	r, err := bearer.Authenticate(r, lookup)
//	if err != nil { ... t.Fail(w.Header(), r) ... }
//	t.Done(r) // authenticated: no longer an attempt in flight
//
// Without Done the attempt ends with the request (its context), which is
// correct but keeps it counted while the handler runs: the requests of
// one address that are being served at once then use up its failure
// budget between them, and the next concurrent ones are refused. With
// Done, only authentications under way are counted. Done does nothing for
// a request that holds no attempt (not checked, ended by Fail, already
// done, or ended), so calling it twice, or after Fail, is harmless.
func (t *Throttle) Done(r *http.Request) {
	done := r.Context().Done()
	if done == nil || t.attempts.n.Load() == 0 {
		return
	}
	key := t.keyFunc(r)
	if key == "" {
		return
	}
	t.attempts.done(key, done, t.now())
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

// Blocked returns the number of keys the throttle keeps track of locally:
// blocked, with part of their budget spent, or with attempts in flight,
// entries that have ended but were not dropped yet included. It never
// exceeds MaxBlocked.
func (t *Throttle) Blocked() int { return int(t.attempts.n.Load()) }

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

// budget is what the local map needs to know of a throttle's class: its
// bucket's capacity and the interval of one token.
type budget struct {
	burst    int
	interval time.Duration
}

// tokens returns the whole tokens a bucket full at fullAt holds at now.
func (b budget) tokens(fullAt, now time.Time) int {
	deficit := fullAt.Sub(now)
	if deficit <= 0 {
		return b.burst
	}
	spent := (deficit + b.interval - 1) / b.interval
	if spent >= time.Duration(b.burst) {
		return 0
	}
	return b.burst - int(spent)
}

// wait returns how long a bucket full at fullAt takes from now to hold k
// tokens (0 when it does; k may exceed Burst by the attempts in flight of
// a full bucket: then the time its bucket takes to refill what they spend).
func (b budget) wait(fullAt, now time.Time, k int) time.Duration {
	deficit := max(fullAt.Sub(now), 0)
	return max(deficit-time.Duration(b.burst-k)*b.interval, 0)
}

// attemptSet is the throttle's bounded local map, one entry per key it
// knows something about: attempts in flight, the budget the store's last
// decision left, a denial's block. A min-heap orders the entries by how
// little they protect (entries without attempts in flight first, then the
// soonest to end), so that dropping ended entries and evicting at the cap
// are the same cheap operation (pop the top).
type attemptSet struct {
	mu   sync.Mutex
	keys map[string]*entry
	heap entryHeap
	max  int
	n    atomic.Int64 // len(keys), read without the lock by Check's fast path
}

// entry is what the throttle knows of one key.
type entry struct {
	key    string
	fullAt time.Time  // when the key's bucket, as the store last told, is full again
	until  time.Time  // the end of a store denial's block
	slots  []*attempt // attempts in flight, at most Burst
	index  int        // in the heap; -1 once dropped
}

// end is when the entry stops telling anything but its attempts in flight.
func (e *entry) end() time.Time {
	if e.until.After(e.fullAt) {
		return e.until
	}
	return e.fullAt
}

// find returns e's slot of the request whose context's Done is done.
func (e *entry) find(done <-chan struct{}) *attempt {
	for _, s := range e.slots {
		if s.done == done {
			return s
		}
	}
	return nil
}

// attempt is one attempt in flight. Requests are told apart by their
// context's Done channel, which principal.Set and every context.WithValue
// child keep, so that Fail finds the slot Check reserved from the request
// authentication returned.
type attempt struct {
	done  <-chan struct{}
	stop  func() bool // stops the context.AfterFunc that releases the slot
	entry *entry      // nil until reserved, and once released
}

// ended reports whether done is closed.
func ended(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// reserve decides an attempt of key at now, and, when it is admitted and
// s is not nil, reserves s for it (attached reports whether it did). A
// refused attempt is told how long until its attempt fits the budget,
// if every attempt in flight fails.
func (a *attemptSet) reserve(key string, s *attempt, now time.Time, b budget) (left time.Duration, ok, attached bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.keys[key]
	if e == nil {
		if s == nil || ended(s.done) {
			return 0, true, false // nothing known, nothing to reserve
		}
		e = a.insert(key, now)
	}
	own := s != nil && e.find(s.done) != nil
	others := func() int {
		if own {
			return len(e.slots) - 1
		}
		return len(e.slots)
	}
	admits := func() bool { return !e.until.After(now) && others() < b.tokens(e.fullAt, now) }
	if !admits() {
		// Attempts whose request has ended but whose release has not run
		// yet (it runs in the goroutine context.AfterFunc starts) are not
		// in flight: a client whose requests succeed one after another is
		// never refused for its own last one.
		for i := 0; i < len(e.slots); {
			if sl := e.slots[i]; ended(sl.done) {
				a.detach(sl)
				continue
			}
			i++
		}
		own = s != nil && e.find(s.done) != nil
		if !admits() {
			left = max(e.until.Sub(now), b.wait(e.fullAt, now, others()+1), time.Nanosecond)
			return left, false, false
		}
	}
	if s != nil && !own && !ended(s.done) {
		s.entry = e
		e.slots = append(e.slots, s)
		heap.Fix(&a.heap, e.index)
		return 0, true, true
	}
	a.dropIfEnded(e, now)
	return 0, true, false
}

// known reports whether the set holds key: a key with a failure on record
// whose budget has not refilled yet, or with attempts in flight.
func (a *attemptSet) known(key string) bool {
	if a.n.Load() == 0 {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.keys[key] != nil
}

// failing looks up a failure of key at now: the slot of its request (nil
// if none), and whether the key is blocked, for how much longer.
func (a *attemptSet) failing(key string, done <-chan struct{}, now time.Time, b budget) (s *attempt, left time.Duration, blocked bool) {
	if a.n.Load() == 0 {
		return nil, 0, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.keys[key]
	if e == nil {
		return nil, 0, false
	}
	if done != nil {
		s = e.find(done)
	}
	if e.until.After(now) || b.tokens(e.fullAt, now) < 1 {
		return s, max(e.until.Sub(now), b.wait(e.fullAt, now, 1), time.Nanosecond), true
	}
	return s, 0, false
}

// finish ends a failed attempt of key: when counted, it records the
// store's decision d, made at now, then it releases s.
func (a *attemptSet) finish(key string, s *attempt, d Decision, now time.Time, b budget, counted bool) {
	if s == nil && !counted {
		return
	}
	a.mu.Lock()
	if counted {
		e := a.keys[key]
		if e == nil {
			e = a.insert(key, now)
		}
		// Decisions of concurrent failures return in any order; the
		// bucket's full time only moves forward with each spend.
		if full := now.Add(d.ResetAfter); full.After(e.fullAt) {
			e.fullAt = full
		}
		if until := now.Add(max(d.RetryAfter, time.Millisecond)); !d.Allowed && until.After(e.until) {
			e.until = until
		}
		heap.Fix(&a.heap, e.index)
		a.dropIfEnded(e, now)
	}
	if s != nil && s.entry != nil {
		e := s.entry
		a.detach(s)
		a.dropIfEnded(e, now)
	}
	a.mu.Unlock()
	if s != nil {
		s.stop()
	}
}

// done ends the attempt of key whose request's context has Done channel
// done, if there is one.
func (a *attemptSet) done(key string, done <-chan struct{}, now time.Time) {
	a.mu.Lock()
	var s *attempt
	if e := a.keys[key]; e != nil {
		if s = e.find(done); s != nil {
			a.detach(s)
			a.dropIfEnded(e, now)
		}
	}
	a.mu.Unlock()
	if s != nil {
		s.stop()
	}
}

// release ends the attempt s when its request's context has ended; it
// does nothing for an attempt already ended by Fail.
func (t *Throttle) release(s *attempt) {
	a := &t.attempts
	a.mu.Lock()
	defer a.mu.Unlock()
	if e := s.entry; e != nil {
		a.detach(s)
		a.dropIfEnded(e, t.now())
	}
}

// detach releases the reserved slot s. Called with the lock held.
func (a *attemptSet) detach(s *attempt) {
	e := s.entry
	s.entry = nil
	for i, sl := range e.slots {
		if sl == s {
			last := len(e.slots) - 1
			e.slots[i] = e.slots[last]
			e.slots[last] = nil
			e.slots = e.slots[:last]
			break
		}
	}
	if e.index >= 0 {
		heap.Fix(&a.heap, e.index)
	}
}

// dropIfEnded drops e when it tells nothing any more: no attempt in
// flight, and its bucket full again. Called with the lock held.
func (a *attemptSet) dropIfEnded(e *entry, now time.Time) {
	if e.index >= 0 && len(e.slots) == 0 && !e.end().After(now) {
		heap.Remove(&a.heap, e.index)
		a.drop(e)
	}
}

// insert adds an empty entry for key at now. Ended entries are dropped
// first; at the cap, the entry that protects least makes room. Called with
// the lock held.
func (a *attemptSet) insert(key string, now time.Time) *entry {
	for len(a.heap) > 0 {
		top := a.heap[0]
		if len(a.heap) < a.max && (len(top.slots) > 0 || top.end().After(now)) {
			break
		}
		heap.Pop(&a.heap)
		a.drop(top)
	}
	e := &entry{key: key}
	heap.Push(&a.heap, e)
	a.keys[key] = e
	a.n.Store(int64(len(a.keys)))
	return e
}

// drop forgets e, already out of the heap. Its slots, if any, are
// released by their own requests, into nothing. Called with the lock held.
func (a *attemptSet) drop(e *entry) {
	e.index = -1
	delete(a.keys, e.key)
	a.n.Store(int64(len(a.keys)))
}

// entryHeap orders entries by how little they protect (container/heap):
// those without attempts in flight first, then the soonest to end.
type entryHeap []*entry

func (h entryHeap) Len() int { return len(h) }
func (h entryHeap) Less(i, j int) bool {
	if fi, fj := len(h[i].slots) > 0, len(h[j].slots) > 0; fi != fj {
		return fj
	}
	return h[i].end().Before(h[j].end())
}
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return e
}
