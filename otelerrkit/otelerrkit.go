package otelerrkit

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/requestid"
)

// ScopeName is the instrumentation scope of the meter [New] creates.
const ScopeName = "github.com/layershq/errkit/otelerrkit"

// The metric names, as OpenTelemetry spells them. Prometheus exports
// errkit.errors as errkit_errors_total, and so on.
const (
	MetricErrors              = "errkit.errors"
	MetricRateLimitDecisions  = "errkit.ratelimit.decisions"
	MetricKillSwitchBlocks    = "errkit.killswitch.blocks"
	MetricIdempotencyOutcomes = "errkit.idempotency.outcomes"
	MetricStoreFailures       = "errkit.store.failures"
	MetricStoreWarnings       = "errkit.store.warnings"
)

// The attribute keys. Those of the HTTP semantic conventions (error.type,
// http.route, http.request.method, http.response.status_code) keep their
// names; errkit's own are under errkit.
const (
	RequestIDKey          = attribute.Key("errkit.request_id")
	ErrorTypeKey          = attribute.Key("error.type")
	RouteKey              = attribute.Key("http.route")
	MethodKey             = attribute.Key("http.request.method")
	StatusCodeKey         = attribute.Key("http.response.status_code")
	RateLimitClassKey     = attribute.Key("errkit.ratelimit.class")
	RateLimitOutcomeKey   = attribute.Key("errkit.ratelimit.outcome")
	KillSwitchScopeKey    = attribute.Key("errkit.killswitch.scope")
	IdempotencyOutcomeKey = attribute.Key("errkit.idempotency.outcome")
	StoreComponentKey     = attribute.Key("errkit.store.component")
	StorePolicyKey        = attribute.Key("errkit.store.policy")
	StoreOutcomeKey       = attribute.Key("errkit.store.outcome")
)

// maxCachedAttributeSets bounds each cache of attribute sets (the error
// counter's, and the one of the other counters together): with the
// overflow series, the SDK's default cardinality limit of 2000 series per
// instrument.
const maxCachedAttributeSets = 1999

// Config configures [New]. The zero Config is valid.
type Config struct {
	// MeterProvider creates the counters. Default: otel.GetMeterProvider()
	// (a no-op until the service sets a global provider).
	MeterProvider metric.MeterProvider

	// RecordInternalCause records the cause of an INTERNAL response on the
	// span, as an exception event (span.RecordError). Default false: the
	// cause is whatever error the handler returned, and may hold secrets
	// (connection strings, tokens) that a trace backend should not store;
	// it is always logged by errkit's error writer.
	RecordInternalCause bool
}

// New returns the Hook that records errkit's events on the request's span
// and on the counters of the package documentation, or an error when an
// instrument cannot be created. The Hook is safe for concurrent use; it
// never blocks and, for a request that succeeds, allocates nothing.
//
// The counters are observable (asynchronous) instruments: a measurement
// is an atomic add to a count errkit keeps per attribute set, which the
// SDK reads when it collects, because a synchronous counter's Add would
// cost every request more than the rest of the Hook. They therefore carry
// no exemplars. Past 1999 attribute sets in one counter (a service with
// that many route templates), further sets are counted in one series
// with otel.metric.overflow=true, as the SDK's cardinality limit (2000 by
// default) does.
func New(cfg Config) (event.Hook, error) {
	mp := cfg.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(ScopeName)
	in := &instruments{recordCause: cfg.RecordInternalCause}
	for _, c := range []struct {
		dst               *metric.Int64ObservableCounter
		name, unit, about string
	}{
		{&in.errors, MetricErrors, "{error}", "Error responses answered with the contract's envelope, by code."},
		{&in.decisions, MetricRateLimitDecisions, "{decision}", "Rate-limit decisions, by class and outcome."},
		{&in.blocks, MetricKillSwitchBlocks, "{request}", "Requests refused by a kill switch, by scope."},
		{&in.idempotency, MetricIdempotencyOutcomes, "{request}", "Idempotency-Key outcomes."},
		{&in.storeFailures, MetricStoreFailures, "{failure}", "Failed store calls, by component and the failure policy applied."},
		{&in.storeWarnings, MetricStoreWarnings, "{warning}", "Store backends that are unsafe or lost data, by component."},
	} {
		ctr, err := m.Int64ObservableCounter(c.name, metric.WithUnit(c.unit), metric.WithDescription(c.about))
		if err != nil {
			return nil, fmt.Errorf("otelerrkit: counter %s: %w", c.name, err)
		}
		*c.dst = ctr
	}
	if _, err := m.RegisterCallback(in.observe, in.errors, in.decisions, in.blocks, in.idempotency, in.storeFailures, in.storeWarnings); err != nil {
		return nil, fmt.Errorf("otelerrkit: register the counters' callback: %w", err)
	}
	return in.hook, nil
}

// instruments are the counters of one [New] and the counts behind them.
type instruments struct {
	errors, decisions, blocks, idempotency, storeFailures, storeWarnings metric.Int64ObservableCounter
	recordCause                                                          bool

	errorCounts cache[errorKey]
	otherCounts cache[otherKey]
}

// errorKey is what the attributes of an error response depend on.
type errorKey struct {
	code          apierror.Code
	route, method string
	status        int
}

// otherKey is what the attributes of the other counters depend on: kind
// and up to two values.
type otherKey struct {
	kind event.Kind
	a, b string
}

// Cache kinds of otherKey beyond the event kinds.
const (
	kindStoreFailure event.Kind = 100 + iota
	kindStoreWarning
)

// hook is the [event.Hook].
func (in *instruments) hook(ctx context.Context, e event.Event) {
	switch e.Kind {
	case event.KindRequest:
		setRequestID(ctx)
	case event.KindError:
		in.onError(ctx, e)
	case event.KindRateLimit:
		in.other(otherKey{e.Kind, e.Class, string(e.Outcome)}).n.Add(1)
		if e.Outcome == event.OutcomeFailed {
			in.storeFailed(e)
		}
	case event.KindKillSwitch:
		in.other(otherKey{kind: e.Kind, a: string(e.Scope)}).n.Add(1)
	case event.KindIdempotency:
		in.other(otherKey{kind: e.Kind, a: string(e.Outcome)}).n.Add(1)
		if e.Outcome == event.OutcomeFailed {
			in.storeFailed(e)
		}
	case event.KindStore:
		if e.Outcome == event.OutcomeFailed {
			// A failed call of the limiter's or the idempotency guard's
			// store during a request is also reported by that component,
			// with the policy it applied (KindRateLimit/KindIdempotency
			// above): count it once, there. The other stores' failures
			// (kill switch, breaker) and those outside a request have no
			// such second report.
			if (e.Component == event.ComponentRateLimit || e.Component == event.ComponentIdempotency) &&
				requestid.FromContext(ctx) != "" {
				return
			}
			in.storeFailed(e)
			return
		}
		in.other(otherKey{kindStoreWarning, e.Component, string(e.Outcome)}).n.Add(1)
	}
}

// storeFailed counts a failed store call.
func (in *instruments) storeFailed(e event.Event) {
	component := e.Component
	if component == "" {
		component = e.Kind.String()
	}
	in.other(otherKey{kindStoreFailure, component, string(e.Policy)}).n.Add(1)
}

// onError records an error response on the span and counts it.
func (in *instruments) onError(ctx context.Context, e event.Event) {
	s := in.errorSeries(errorKey{e.Code, e.Route, e.Method, e.Status})
	s.n.Add(1)
	span := trace.SpanFromContext(ctx)
	if !recording(span) {
		return
	}
	if s.errorType != nil {
		span.SetAttributes(s.errorType...)
	} else { // the overflow series, shared by many codes
		setAttribute(span, ErrorTypeKey.String(string(e.Code)))
	}
	if e.Status >= 500 {
		span.SetStatus(codes.Error, string(e.Code))
	}
	if in.recordCause && e.Code == apierror.CodeInternal && e.Err != nil {
		span.RecordError(e.Err)
	}
}

// errorSeries returns the series of k. The front list is scanned here, with
// the key's own comparisons, rather than in the generic [cache.get]: there
// the comparison of a key is a call to the runtime's equality of its type,
// which cost the Hook more than the rest of the lookup.
func (in *instruments) errorSeries(k errorKey) *series {
	if f := in.errorCounts.front.Load(); f != nil {
		for i := range *f {
			if e := &(*f)[i]; e.k.status == k.status && e.k.code == k.code && e.k.route == k.route && e.k.method == k.method {
				return e.s
			}
		}
	}
	return in.errorCounts.miss(k, buildError)
}

// other returns the series of k, as errorSeries does for errors.
func (in *instruments) other(k otherKey) *series {
	if f := in.otherCounts.front.Load(); f != nil {
		for i := range *f {
			if e := &(*f)[i]; e.k.kind == k.kind && e.k.b == k.b && e.k.a == k.a {
				return e.s
			}
		}
	}
	return in.otherCounts.miss(k, buildOther)
}

// observe reports every count to the SDK.
func (in *instruments) observe(_ context.Context, o metric.Observer) error {
	for _, s := range in.errorCounts.byKey() {
		o.ObserveInt64(in.errors, s.n.Load(), s.opt)
	}
	for k, s := range in.otherCounts.byKey() {
		var ctr metric.Int64ObservableCounter
		switch k.kind {
		case event.KindRateLimit:
			ctr = in.decisions
		case event.KindKillSwitch:
			ctr = in.blocks
		case event.KindIdempotency:
			ctr = in.idempotency
		case kindStoreFailure:
			ctr = in.storeFailures
		case kindStoreWarning:
			ctr = in.storeWarnings
		default:
			continue
		}
		o.ObserveInt64(ctr, s.n.Load(), s.opt)
	}
	return nil
}

// scratch is a goroutine's loan from scratchPool: the one-attribute slice
// of setAttribute (a variadic argument passed to an interface method
// escapes, which would cost every request an allocation; spans copy the
// attributes they are given), and the counter shard it adds to.
type scratch struct {
	kv    [1]attribute.KeyValue
	shard uint32
}

// nextShard numbers the scratches, so that each P's gets its own shard.
var nextShard atomic.Uint32

// scratchPool holds the scratches.
var scratchPool = sync.Pool{New: func() any { return &scratch{shard: nextShard.Add(1)} }}

// recording reports whether span may record what it is given. A span that
// does not record ignores what it is given, so asking first only saves
// work; for a sampled span context (an SDK span of a traced request, which
// records until it ends) the answer is taken as yes without asking, which
// would cost the SDK's lock on every request. Other spans (sampled out,
// record-only, none at all) are asked.
func recording(span trace.Span) bool {
	return span.SpanContext().IsSampled() || span.IsRecording()
}

// setRequestID puts the request ID on the recording span of ctx.
func setRequestID(ctx context.Context) {
	span := trace.SpanFromContext(ctx)
	if !recording(span) {
		return
	}
	id := requestid.FromContext(ctx)
	if id == "" {
		return
	}
	// setAttribute, written out, so that the KeyValue is built in place.
	sc := scratchPool.Get().(*scratch)
	sc.kv[0] = RequestIDKey.String(id)
	span.SetAttributes(sc.kv[:]...)
	sc.kv[0] = attribute.KeyValue{} // the pool must not keep the request's ID alive
	scratchPool.Put(sc)
}

// setAttribute sets one attribute on span without allocating.
func setAttribute(span trace.Span, a attribute.KeyValue) {
	sc := scratchPool.Get().(*scratch)
	sc.kv[0] = a
	span.SetAttributes(sc.kv[:]...)
	sc.kv[0] = attribute.KeyValue{}
	scratchPool.Put(sc)
}

// buildError returns the series of an error response: its attributes,
// and error.type for the span, built once.
func buildError(k errorKey) *series {
	kvs := make([]attribute.KeyValue, 0, 4)
	kvs = append(kvs, ErrorTypeKey.String(string(k.code)), MethodKey.String(k.method), StatusCodeKey.Int(k.status))
	if route := pathTemplate(k.route); route != "" {
		kvs = append(kvs, RouteKey.String(route))
	}
	return newSeries(metric.WithAttributeSet(attribute.NewSet(kvs...)), // sorts kvs
		[]attribute.KeyValue{ErrorTypeKey.String(string(k.code))})
}

// buildOther returns the series of the other counters.
func buildOther(k otherKey) *series {
	return newSeries(metric.WithAttributeSet(otherSet(k)), nil)
}

// otherSet returns the attributes of the other counters.
func otherSet(k otherKey) attribute.Set {
	switch k.kind {
	case event.KindRateLimit:
		return attribute.NewSet(RateLimitClassKey.String(k.a), RateLimitOutcomeKey.String(k.b))
	case event.KindKillSwitch:
		return attribute.NewSet(KillSwitchScopeKey.String(k.a))
	case event.KindIdempotency:
		return attribute.NewSet(IdempotencyOutcomeKey.String(k.a))
	case kindStoreFailure:
		if k.b == "" {
			return attribute.NewSet(StoreComponentKey.String(k.a))
		}
		return attribute.NewSet(StoreComponentKey.String(k.a), StorePolicyKey.String(k.b))
	case kindStoreWarning:
		return attribute.NewSet(StoreComponentKey.String(k.a), StoreOutcomeKey.String(k.b))
	}
	return attribute.NewSet()
}

// pathTemplate is the http.route of an adapter's route template: the path
// alone, without the method and host a ServeMux pattern may start with
// ("GET example.com/v1/x/{id}" is "/v1/x/{id}").
func pathTemplate(route string) string {
	if route == "" || route[0] == '/' {
		return route
	}
	if i := strings.IndexByte(route, '/'); i >= 0 {
		return route[i:]
	}
	return route
}

// series is the count of one attribute set.
type series struct {
	opt metric.ObserveOption
	// errorType is error.type of an error series' code, for the span: built
	// with the series and never written again, so every request may pass
	// it to SetAttributes as it is (spans copy what they are given). Nil
	// for the other counters' series and for the overflow series.
	errorType []attribute.KeyValue
	n         counter
}

// newSeries returns a series at zero.
func newSeries(opt metric.ObserveOption, errorType []attribute.KeyValue) *series {
	return &series{opt: opt, errorType: errorType, n: counter{shards: make([]shard, shardCount)}}
}

// counter is a count split in shards of a cache line each, so that the
// cores of a busy server each add to their own line: with one count for
// all, every add waits for the line to come back from the core that added
// last, which cost more than the rest of the Hook (BenchmarkHookParallel).
// A goroutine adds to the shard of the scratch the pool gives it, which is
// in practice the one its P keeps (sync.Pool hands each P its own); which
// shard is only a matter of speed, the sum is exact.
type counter struct{ shards []shard }

// shard is one cache line of a counter.
type shard struct {
	n atomic.Int64
	_ [56]byte
}

// shardCount is the number of shards of a counter: a power of two, the
// number of CPUs up to 16. A machine with one CPU has one shard, and its
// adds skip the pool.
var shardCount = func() int {
	n := 1
	for n < min(runtime.NumCPU(), 16) {
		n *= 2
	}
	return n
}()

// Add adds d to the count.
func (c *counter) Add(d int64) {
	if len(c.shards) == 1 {
		c.shards[0].n.Add(d)
		return
	}
	sc := scratchPool.Get().(*scratch)
	c.shards[sc.shard&uint32(len(c.shards)-1)].n.Add(d)
	scratchPool.Put(sc)
}

// Load returns the count.
func (c *counter) Load() int64 {
	var sum int64
	for i := range c.shards {
		sum += c.shards[i].n.Load()
	}
	return sum
}

// overflowSet is the attributes of the series that counts what a full
// cache cannot.
var overflowSet = attribute.NewSet(attribute.Bool("otel.metric.overflow", true))

// cache maps keys to the series of their attribute set, so that a
// measurement builds no attributes and allocates nothing. Reads are
// lock-free: the first keys live in a short list scanned in order
// (comparing a few short strings is cheaper than hashing them, and a
// service has a handful of classes and common errors), the others in a
// map; both are replaced, never changed, when a key is added. The number
// of keys is bounded by the fixed sets the events' values come from, and
// by maxCachedAttributeSets should a service's route templates be many.
type cache[K comparable] struct {
	mu    sync.Mutex
	front atomic.Pointer[[]entry[K]]
	m     atomic.Pointer[map[K]*series]
}

// entry is a key of a cache's front list and its series.
type entry[K comparable] struct {
	k K
	s *series
}

// frontLen is the length of a cache's front list.
const frontLen = 16

// lookup returns the series of k, if the cache has it.
func (c *cache[K]) lookup(k K) (*series, bool) {
	if f := c.front.Load(); f != nil {
		for i := range *f {
			if (*f)[i].k == k {
				return (*f)[i].s, true
			}
		}
	}
	if m := c.m.Load(); m != nil {
		s, ok := (*m)[k]
		return s, ok
	}
	return nil, false
}

// get returns the series of k, building it with build the first time.
func (c *cache[K]) get(k K, build func(K) *series) *series {
	if f := c.front.Load(); f != nil {
		for i := range *f {
			if (*f)[i].k == k {
				return (*f)[i].s
			}
		}
	}
	return c.miss(k, build)
}

// miss returns the series of k, which is not in the front list when the
// caller looked: from the map, or added under the lock, building it with
// build.
func (c *cache[K]) miss(k K, build func(K) *series) *series {
	if m := c.m.Load(); m != nil {
		if s, ok := (*m)[k]; ok {
			return s
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.lookup(k); ok {
		return s
	}
	var front []entry[K]
	if f := c.front.Load(); f != nil {
		front = *f
	}
	old := c.m.Load()
	if len(front) < frontLen {
		s := build(k)
		next := append(append(make([]entry[K], 0, len(front)+1), front...), entry[K]{k, s})
		c.front.Store(&next)
		return s
	}
	var s *series
	if len(front)+lenOf(old) >= maxCachedAttributeSets {
		k = overflowKey(k)
		if prev, ok := c.lookup(k); ok {
			return prev
		}
		s = newSeries(metric.WithAttributeSet(overflowSet), nil)
	} else {
		s = build(k)
	}
	next := make(map[K]*series, 1+lenOf(old))
	if old != nil {
		for key, v := range *old {
			next[key] = v
		}
	}
	next[k] = s
	c.m.Store(&next)
	return s
}

// byKey returns every series by key.
func (c *cache[K]) byKey() map[K]*series {
	out := map[K]*series{}
	if f := c.front.Load(); f != nil {
		for _, e := range *f {
			out[e.k] = e.s
		}
	}
	if m := c.m.Load(); m != nil {
		for k, s := range *m {
			out[k] = s
		}
	}
	return out
}

// overflowKey is the key under which a full cache counts k: the zero key
// of k's counter.
func overflowKey[K comparable](k K) K {
	switch ok := any(k).(type) {
	case otherKey:
		return any(otherKey{kind: ok.kind, a: "\x00overflow"}).(K)
	case errorKey:
		return any(errorKey{code: "\x00overflow"}).(K)
	}
	return k
}

// lenOf is the length of *m, 0 for nil.
func lenOf[K comparable, V any](m *map[K]V) int {
	if m == nil {
		return 0
	}
	return len(*m)
}
