package ratelimit

import (
	"fmt"
	"net/http"
	"strconv"
	"unsafe"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/principal"
)

// RateLimitConfig configures the RateLimit middleware. Zero fields take the
// defaults of DefaultRateLimitConfig.
type RateLimitConfig struct {
	// Skipper, when it returns true, lets the request through unlimited and
	// without RateLimit headers. Default: never skip.
	Skipper func(c echo.Context) bool

	// Store makes the decisions. Default (nil): a MemoryStore private to
	// this middleware, with the default cap and no background goroutine
	// (eviction on insert keeps it under the cap). Share one store between
	// routes, or use a RedisStore for a fleet.
	Store Store

	// KeyFunc returns the first half of the bucket key: the authenticated
	// API key ID, never the secret key and never anything the client
	// chooses. Default principal.KeyID (set by the service's auth
	// middleware, which must run before this one). A request with an empty
	// key (unauthenticated) is not limited and gets no RateLimit headers:
	// authentication answers it first.
	KeyFunc func(c echo.Context) string

	// Routes maps route templates (c.Path(), never the raw URL path) to
	// classes: keys "METHOD /template" or "/template" (any method), values
	// a class of Classes, or "" for a route that is not limited. Routes not
	// listed fall back to ClassFunc.
	Routes map[string]string

	// ClassFunc returns the endpoint class of requests whose route is not
	// in Routes; "" means not limited. Default MethodClass (read for GET and
	// HEAD, write otherwise). A class missing from Classes is a store
	// failure (handled by the failure policy).
	ClassFunc func(c echo.Context) string

	// Classes gives each class its rate and burst. Default (nil):
	// ClassRead at DefaultReadRate and ClassWrite at DefaultWriteRate.
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

	// OnStoreError, if set, is called on every failed decision (for
	// metrics), before the failure policy applies.
	OnStoreError func(c echo.Context, err error)

	// Logger logs failed decisions when the request carries no logger of
	// the errkit middleware (middleware.LoggerFrom). Default:
	// middleware.DefaultLogger().
	Logger *zap.Logger
}

// DefaultRateLimitConfig is the default RateLimit configuration: no
// skipper, a private memory store, principal.KeyID keys, MethodClass with
// the default classes, cost 1, fail-open.
var DefaultRateLimitConfig = RateLimitConfig{
	Skipper:   func(echo.Context) bool { return false },
	KeyFunc:   principal.KeyID,
	ClassFunc: MethodClass,
	Cost:      1,
}

// RateLimit returns the rate-limit middleware over store with the default
// configuration (a nil store means a private MemoryStore). The default
// configuration is valid, so it never panics.
func RateLimit(store Store) echo.MiddlewareFunc {
	cfg := DefaultRateLimitConfig
	cfg.Store = store
	return RateLimitWithConfig(cfg)
}

// RateLimitWithConfig returns the rate-limit middleware configured by cfg.
// It panics on a configuration error, as echo's own middleware do; use
// ToMiddleware to get the error instead.
func RateLimitWithConfig(cfg RateLimitConfig) echo.MiddlewareFunc {
	mw, err := cfg.ToMiddleware()
	if err != nil {
		panic(err)
	}
	return mw
}

// classEntry is a configured class with its precomputed policy header and
// token interval.
type classEntry struct {
	class    Class
	policy   string
	interval int64
}

// ToMiddleware validates cfg and returns the middleware. It never panics.
//
// For a limited request (not skipped, non-empty key, a class) it asks the
// store for a decision and, when the store answers, sets RateLimit-Policy
// and RateLimit on the response. Admitted requests go on to the next
// handler. Denied requests are answered by returning
// apierror.RateLimited(decision.RetryAfter) (429 RATE_LIMITED with
// details.retryAfterMs) to the error handler, with the matching Retry-After
// header (whole seconds, rounded up) already set.
func (cfg RateLimitConfig) ToMiddleware() (echo.MiddlewareFunc, error) {
	if cfg.Skipper == nil {
		cfg.Skipper = DefaultRateLimitConfig.Skipper
	}
	if cfg.KeyFunc == nil {
		cfg.KeyFunc = DefaultRateLimitConfig.KeyFunc
	}
	if cfg.ClassFunc == nil {
		cfg.ClassFunc = DefaultRateLimitConfig.ClassFunc
	}
	if cfg.Cost == 0 {
		cfg.Cost = DefaultRateLimitConfig.Cost
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
		iv, _ := cl.Rate.interval() // valid: checked above
		classes[name] = classEntry{class: cl, policy: PolicyHeader(cl), interval: iv}
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
	m := &limiter{cfg: cfg, store: store, classes: classes, routes: routes}
	m.memory, _ = store.(*MemoryStore)
	return m.middleware, nil
}

// limiter is a configured middleware.
type limiter struct {
	cfg     RateLimitConfig
	store   Store
	classes map[string]classEntry
	routes  routeTable
	// memory is store when it is a *MemoryStore: its decisions skip the
	// class and cost validation ToMiddleware already did.
	memory *MemoryStore
}

// Canonical forms of the RateLimit header names, the map keys Header.Set
// would use: assigning them directly skips a canonicalization that
// allocates for these two names.
var (
	keyRateLimitPolicy = http.CanonicalHeaderKey(HeaderRateLimitPolicy)
	keyRateLimit       = http.CanonicalHeaderKey(HeaderRateLimit)
)

// headerValues holds both RateLimit header values of one response and the
// bytes of the state value, so that setting both headers costs one
// allocation.
type headerValues struct {
	vals [2]string
	buf  [stateHeaderCap]byte
}

// setHeaders sets RateLimit-Policy and RateLimit on h for a decision on
// class entry cl named name (what Header.Set would do, in one allocation).
// The values are capacity-1 slices, so a later Header.Add copies rather
// than writes into the other header's value.
func setHeaders(h http.Header, name string, cl classEntry, d Decision) {
	hv := new(headerValues)
	b := appendStateHeader(hv.buf[:0], name, d)
	hv.vals[0] = cl.policy
	// b is never written again (it lives in hv.buf, or in its own array
	// if a future format outgrew the buffer), so viewing it as a string is
	// safe.
	hv.vals[1] = unsafe.String(unsafe.SliceData(b), len(b))
	h[keyRateLimitPolicy] = hv.vals[0:1:1]
	h[keyRateLimit] = hv.vals[1:2:2]
}

func (l *limiter) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if l.cfg.Skipper(c) {
			return next(c)
		}
		key := l.cfg.KeyFunc(c)
		if key == "" {
			return next(c)
		}
		name, ok := l.routes.lookup(c)
		if !ok {
			name = l.cfg.ClassFunc(c)
		}
		if name == "" {
			return next(c)
		}
		cl, ok := l.classes[name]
		if !ok {
			return l.failed(c, next, fmt.Errorf("ratelimit: ClassFunc returned class %q, which is not in Classes", name))
		}
		var d Decision
		var err error
		if l.memory != nil {
			d, err = l.memory.allow(key, cl.class, cl.interval, l.cfg.Cost)
		} else {
			d, err = l.store.Allow(c.Request().Context(), key, cl.class, l.cfg.Cost)
		}
		if err != nil {
			return l.failed(c, next, err)
		}
		h := c.Response().Header()
		setHeaders(h, name, cl, d)
		if !d.Allowed {
			h.Set(echo.HeaderRetryAfter, strconv.FormatInt(apierror.RetryAfterSeconds(d.RetryAfter), 10))
			return apierror.RateLimited(d.RetryAfter)
		}
		return next(c)
	}
}

// failed applies the failure policy to a decision that could not be made.
func (l *limiter) failed(c echo.Context, next echo.HandlerFunc, err error) error {
	if l.cfg.OnStoreError != nil {
		l.cfg.OnStoreError(c, err)
	}
	log := middleware.LoggerFrom(c)
	if l.cfg.Logger != nil && middleware.RequestIDFrom(c) == "" {
		log = l.cfg.Logger
	}
	if l.cfg.FailClosed {
		log.Error("ratelimit: decision failed; request refused (fail-closed)", zap.Error(err))
		return apierror.Internal(fmt.Errorf("ratelimit: decision failed (fail-closed): %w", err))
	}
	log.Warn("ratelimit: decision failed; request allowed (fail-open)", zap.Error(err))
	return next(c)
}
