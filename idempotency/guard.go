package idempotency

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/requestid"
)

// Defaults used when the corresponding [Config] field is zero.
const (
	// DefaultMaxBodyBytes caps the request body read for the fingerprint.
	DefaultMaxBodyBytes int64 = 1 << 20
	// DefaultTTL is how long a successful response is kept for replay.
	DefaultTTL = 24 * time.Hour
	// DefaultLeaseTTL is how long a running request's lease lasts without
	// renewal, so how soon a crashed server frees the key.
	DefaultLeaseTTL = 10 * time.Second
	// DefaultMaxResponseBytes caps the body of a response kept for replay.
	DefaultMaxResponseBytes int64 = 1 << 20
	// DefaultStoreTimeout bounds each store call.
	DefaultStoreTimeout = time.Second
)

// InUseRetryAfter is the Retry-After sent with CONFLICT
// "idempotency_key_in_use".
const InUseRetryAfter = time.Second

// ReasonKeyInUse is details.reason of the CONFLICT answered while the first
// request with the same key is still running.
const ReasonKeyInUse = "idempotency_key_in_use"

// Config configures a [Guard]. Every zero field has a default; a nil Store
// is a fresh [MemoryStore] private to the Guard built from the config.
type Config struct {
	// Store keeps leases and responses. Give every Guard of a service the
	// same shared store (redisstore.Store) so that retries reaching any
	// instance replay.
	Store Store
	// KeyFunc returns the caller part of a key's scope, by default the API
	// key ID ([principal.KeyID]). A request that carries an Idempotency-Key
	// but whose KeyFunc returns "" is answered INTERNAL and logged: the
	// authentication middleware is missing in front of this one, and sharing
	// one scope between all callers would replay one caller's responses to
	// another. Routes without authentication must set a KeyFunc.
	KeyFunc func(r *http.Request) string
	// Methods are the HTTP methods the Guard handles (POST and PATCH by
	// default); requests with other methods pass through.
	Methods []string
	// Required rejects a request without Idempotency-Key with VALIDATION.
	// By default such a request simply runs without idempotency.
	Required bool
	// MaxBodyBytes caps the request body read for the fingerprint; a longer
	// body is answered PAYLOAD_TOO_LARGE with details.maxBytes before
	// hashing. Default [DefaultMaxBodyBytes].
	MaxBodyBytes int64
	// TTL is how long a successful response is replayed. Default
	// [DefaultTTL].
	TTL time.Duration
	// LeaseTTL is the lifetime of the lease taken while the handler runs. The
	// lease is renewed every LeaseTTL/3 while the handler runs, so a slow
	// handler keeps it; a crashed server frees the key within LeaseTTL.
	// Default [DefaultLeaseTTL]; at least one millisecond.
	LeaseTTL time.Duration
	// ReplayHeaders are the response headers stored and replayed with the
	// status and body (Content-Type and Location by default).
	ReplayHeaders []string
	// MaxResponseBytes caps the body of a response kept for replay. A 2xx
	// response with a longer body is passed through to the client whole but
	// not stored: the key is released (a retry runs the handler again) and
	// a warning is logged with the request ID. The Guard stops buffering
	// the body once it passes the cap. Default [DefaultMaxResponseBytes].
	MaxResponseBytes int64
	// StoreTimeout bounds each store call (through context.WithTimeout): a
	// hung store answers INTERNAL after it instead of holding the request.
	// A Redis client must honour context deadlines
	// (redis.Options.ContextTimeoutEnabled) for the bound to hold on
	// network I/O. Default [DefaultStoreTimeout].
	StoreTimeout time.Duration
	// Events receives one KindIdempotency event per keyed request the
	// Guard finishes, with Method, Route and Component "idempotency" set
	// and Outcome one of OutcomeStored (the response was kept),
	// OutcomeReplayed, OutcomeConflict (IDEMPOTENCY_CONFLICT), OutcomeInUse
	// (CONFLICT idempotency_key_in_use), OutcomeReleased (the handler
	// failed or its response was not kept: the key is free again) or
	// OutcomeFailed (a store call failed, or KeyFunc named no caller; Err
	// is the cause, Policy fail_closed). Requests refused before the store is asked (a
	// malformed key, a body over MaxBodyBytes) emit none. Nil: none.
	Events event.Hook
}

// Default methods and replay headers of a zero [Config].
var (
	defaultMethods       = []string{http.MethodPost, http.MethodPatch}
	defaultReplayHeaders = []string{"Content-Type", "Location"}
)

// errEmptyScope is the logged cause when KeyFunc returns "".
var errEmptyScope = errors.New("idempotency: KeyFunc returned an empty caller scope " +
	"(is the authentication middleware installed before the idempotency middleware?)")

// Guard runs requests under the Idempotency-Key contract (see the package
// documentation). It holds no per-request state and is safe for concurrent
// use; adapters call [Guard.Serve] once per request.
type Guard struct {
	cfg     Config
	methods map[string]bool
	replay  []string // canonical header names

	// afterFunc schedules lease renewals; time.AfterFunc outside tests.
	afterFunc func(d time.Duration, f func()) timer
}

// timer is the part of *time.Timer a renewal uses.
type timer interface {
	Stop() bool
	Reset(d time.Duration) bool
}

// New validates cfg and returns its Guard. It reports a negative
// MaxBodyBytes, MaxResponseBytes, TTL, LeaseTTL or StoreTimeout, a LeaseTTL
// under a millisecond, an empty (non-nil) Methods, and an invalid method or
// header name as an error, and never panics.
func New(cfg Config) (*Guard, error) {
	if cfg.Store == nil {
		s, err := NewMemoryStore(MemoryConfig{})
		if err != nil {
			return nil, err
		}
		cfg.Store = s
	}
	if cfg.KeyFunc == nil {
		cfg.KeyFunc = principal.KeyID
	}
	if cfg.Methods == nil {
		cfg.Methods = defaultMethods
	}
	if cfg.ReplayHeaders == nil {
		cfg.ReplayHeaders = defaultReplayHeaders
	}
	switch {
	case cfg.MaxBodyBytes < 0:
		return nil, fmt.Errorf("idempotency: MaxBodyBytes %d is negative", cfg.MaxBodyBytes)
	case cfg.MaxBodyBytes == 0:
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	switch {
	case cfg.MaxResponseBytes < 0:
		return nil, fmt.Errorf("idempotency: MaxResponseBytes %d is negative", cfg.MaxResponseBytes)
	case cfg.MaxResponseBytes == 0:
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	switch {
	case cfg.TTL < 0:
		return nil, fmt.Errorf("idempotency: TTL %v is negative", cfg.TTL)
	case cfg.TTL == 0:
		cfg.TTL = DefaultTTL
	}
	switch {
	case cfg.LeaseTTL < 0:
		return nil, fmt.Errorf("idempotency: LeaseTTL %v is negative", cfg.LeaseTTL)
	case cfg.LeaseTTL == 0:
		cfg.LeaseTTL = DefaultLeaseTTL
	case cfg.LeaseTTL < time.Millisecond:
		return nil, fmt.Errorf("idempotency: LeaseTTL %v is under one millisecond", cfg.LeaseTTL)
	}
	switch {
	case cfg.StoreTimeout < 0:
		return nil, fmt.Errorf("idempotency: StoreTimeout %v is negative", cfg.StoreTimeout)
	case cfg.StoreTimeout == 0:
		cfg.StoreTimeout = DefaultStoreTimeout
	}
	if len(cfg.Methods) == 0 {
		return nil, errors.New("idempotency: Methods is empty (nil means POST and PATCH)")
	}
	g := &Guard{
		cfg:       cfg,
		methods:   make(map[string]bool, len(cfg.Methods)),
		afterFunc: func(d time.Duration, f func()) timer { return time.AfterFunc(d, f) },
	}
	for _, meth := range cfg.Methods {
		if !isToken(meth) {
			return nil, fmt.Errorf("idempotency: invalid method %q", meth)
		}
		g.methods[meth] = true
	}
	for _, h := range cfg.ReplayHeaders {
		if !isToken(h) {
			return nil, fmt.Errorf("idempotency: invalid replay header name %q", h)
		}
		g.replay = append(g.replay, http.CanonicalHeaderKey(h))
	}
	return g, nil
}

// isToken reports whether s is a non-empty RFC 9110 token (method and header
// field names).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Serve answers r under the Idempotency-Key contract, running next at most
// once per key and fingerprint. route is the route template of r (the
// scope and the fingerprint hold it) and params its path parameters, names
// and values in route order (the fingerprint holds them, see
// [Fingerprint]).
//
// A request whose method the Guard does not handle, or that carries no
// Idempotency-Key (unless Required), goes to next(w, r) untouched. Otherwise
// Serve either answers from the store (a replay, written onto w with
// Idempotent-Replayed: true), returns a contract error without calling next
// (VALIDATION, PAYLOAD_TOO_LARGE, CONFLICT with Retry-After set on w,
// IDEMPOTENCY_CONFLICT, INTERNAL), or runs next under the key's lease with
// a writer that passes the response through to w and captures it. A
// response with a 2xx status is stored for replay; an error returned by
// next, a non-2xx status or a panic releases the key, so a retry runs next
// again.
//
// Serve never renders an error: it returns it (next's own error included)
// for the adapter to render through the service's error writer. It replaces
// r.Body, once read for the fingerprint, by a reader of the same bytes.
func (g *Guard) Serve(w http.ResponseWriter, r *http.Request, route string, params []Param,
	next func(w http.ResponseWriter, r *http.Request) error) error {
	if !g.methods[r.Method] {
		return next(w, r)
	}
	vals := r.Header[HeaderKey]
	switch {
	case len(vals) == 0 && g.cfg.Required:
		return invalidKey(msgRequired)
	case len(vals) == 0:
		return next(w, r)
	case len(vals) > 1:
		return invalidKey(msgRepeated)
	}
	key := vals[0]
	if err := ValidateKey(key); err != nil {
		return err
	}
	rc := reqInfo{ctx: r.Context(), method: r.Method, route: route, events: g.cfg.Events}
	scope := g.cfg.KeyFunc(r)
	if scope == "" {
		return g.internal(rc, "scope", errEmptyScope)
	}
	body, err := readBody(r, g.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	fp := Fingerprint(r.Method, route, params, r.URL.RawQuery, body)
	skey := storeKey(scope, r.Method, route, key)
	token := rand.Text()

	actx, cancel := context.WithTimeout(rc.ctx, g.cfg.StoreTimeout)
	lk, err := g.cfg.Store.Acquire(actx, skey, token, fp, g.cfg.LeaseTTL)
	cancel()
	if err != nil {
		return g.internal(rc, "acquire", err)
	}
	switch lk.State {
	case Acquired:
		return g.run(w, r, rc, next, skey, token, fp)
	case InProgress:
		if lk.Fingerprint != "" && lk.Fingerprint != fp {
			// Whatever the running request's outcome, this one is a
			// different request under the same key. (A custom Store
			// that does not report the holder's fingerprint gets
			// idempotency_key_in_use.)
			rc.emit(event.OutcomeConflict, nil)
			return apierror.IdempotencyConflict(lk.Fingerprint, fp)
		}
		// The error writer keeps a Retry-After already on the response.
		w.Header().Set("Retry-After", inUseRetryAfter)
		rc.emit(event.OutcomeInUse, nil)
		return apierror.Conflict(ReasonKeyInUse)
	case Completed:
		if lk.Record == nil {
			return g.internal(rc, "acquire", errors.New("idempotency: store reported Completed without a record"))
		}
		if lk.Record.Fingerprint != fp {
			rc.emit(event.OutcomeConflict, nil)
			return apierror.IdempotencyConflict(lk.Record.Fingerprint, fp)
		}
		replay(w, lk.Record)
		rc.emit(event.OutcomeReplayed, nil)
		return nil
	}
	return g.internal(rc, "acquire", fmt.Errorf("idempotency: store returned unknown state %d", lk.State))
}

// inUseRetryAfter is the Retry-After header value of InUseRetryAfter.
var inUseRetryAfter = strconv.FormatInt(apierror.RetryAfterSeconds(InUseRetryAfter), 10)

// run runs the handler under the lease, stores a 2xx response and releases
// the lease otherwise (also when the handler panics).
func (g *Guard) run(w http.ResponseWriter, r *http.Request, rc reqInfo,
	next func(http.ResponseWriter, *http.Request) error, skey, token, fp string) error {
	cw := &captureWriter{ResponseWriter: w, names: g.replay, max: g.cfg.MaxResponseBytes}
	stopRenew := g.renew(rc, skey, token)
	completed := false
	var failure error // of Complete, for the event
	defer func() {
		stopRenew()
		if completed {
			rc.emit(event.OutcomeStored, nil)
			return
		}
		ctx, cancel := g.storeContext(rc)
		defer cancel()
		if err := g.cfg.Store.Release(ctx, skey, token); err != nil {
			rc.log("release", err)
			failure = errors.Join(failure, err)
		}
		if failure != nil {
			rc.emit(event.OutcomeFailed, failure)
		} else {
			rc.emit(event.OutcomeReleased, nil)
		}
	}()

	if err := next(cw, r); err != nil {
		// The adapter renders it after we return: not work done.
		return err
	}
	status := cw.status
	if status == 0 {
		// Nothing written: net/http (and every framework on it) answers
		// 200 with an empty body once the handler returns.
		status = http.StatusOK
		cw.snapshot()
	}
	if status < 200 || status > 299 {
		return nil
	}
	if cw.overflow {
		// Passed through, not stored: the deferred release frees the key.
		requestid.Logger(rc.ctx).LogAttrs(rc.ctx, slog.LevelWarn,
			"idempotency response not stored: larger than MaxResponseBytes",
			slog.String("method", rc.method),
			slog.String("route", rc.route),
			slog.Int("status", status),
			slog.Int64("maxResponseBytes", g.cfg.MaxResponseBytes))
		return nil
	}
	rec := Record{Fingerprint: fp, Status: status, Header: cw.header, Body: cw.body.Bytes()}
	ctx, cancel := g.storeContext(rc)
	defer cancel()
	if err := g.cfg.Store.Complete(ctx, skey, token, rec, g.cfg.TTL); err != nil {
		// The response is already on its way. Usually nothing was stored
		// and the deferred Release frees the key, so a retry runs the
		// handler again; if the store did apply Complete before failing
		// (a timeout on the reply), Release finds no lease of ours and the
		// retry replays.
		rc.log("complete", err)
		failure = err
		return nil
	}
	completed = true
	return nil
}

// renew keeps the lease alive every LeaseTTL/3 until the returned stop
// function is called; stop waits for a renewal in flight to end. No
// goroutine exists until the first renewal is due (a timer), so handlers
// faster than LeaseTTL/3 pay for a timer only. Renewals run on the timer's
// goroutine and never touch the ResponseWriter or the Request, which are
// not safe for concurrent use: they get the request's context and names
// instead.
func (g *Guard) renew(rc reqInfo, skey, token string) (stop func()) {
	r := &renewal{g: g, rc: rc, skey: skey, token: token, every: g.cfg.LeaseTTL / 3}
	r.mu.Lock()
	r.timer = g.afterFunc(r.every, r.tick)
	r.mu.Unlock()
	return r.stop
}

// renewal is the lease renewal of one running request.
type renewal struct {
	g           *Guard
	rc          reqInfo
	skey, token string
	every       time.Duration

	mu       sync.Mutex
	timer    timer
	stopped  bool
	inFlight sync.WaitGroup
}

// tick renews the lease once and schedules the next renewal.
func (r *renewal) tick() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.inFlight.Add(1)
	r.mu.Unlock()
	defer r.inFlight.Done()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.rc.ctx), min(r.every, r.g.cfg.StoreTimeout))
	err := r.g.cfg.Store.Renew(ctx, r.skey, r.token, r.g.cfg.LeaseTTL)
	cancel()
	if err != nil {
		r.rc.log("renew", err)
	}
	if errors.Is(err, ErrLeaseLost) {
		return
	}
	r.mu.Lock()
	if !r.stopped {
		r.timer.Reset(r.every)
	}
	r.mu.Unlock()
}

// stop ends the renewals and waits for one in flight.
func (r *renewal) stop() {
	r.mu.Lock()
	r.stopped = true
	r.timer.Stop()
	r.mu.Unlock()
	r.inFlight.Wait()
}

// reqInfo is what the store calls and their logs need from a request.
type reqInfo struct {
	ctx    context.Context // the request's context: carries request ID and logger
	method string
	route  string
	events event.Hook
}

// emit reports the request's outcome to the configured hook and to the
// hook the request's context carries (event.NewContext). With neither, it
// builds no event: the common case costs nothing.
func (rc reqInfo) emit(o event.Outcome, err error) {
	if rc.events == nil && event.FromContext(rc.ctx) == nil {
		return
	}
	e := event.Event{Kind: event.KindIdempotency, Method: rc.method, Route: rc.route,
		Outcome: o, Component: event.ComponentIdempotency, Err: err}
	if o == event.OutcomeFailed {
		e.Policy = event.PolicyFailClosed
	}
	event.Fire(rc.ctx, rc.events, e)
}

// storeContext bounds the store calls made after the handler by
// StoreTimeout: they must run even when the client has gone away.
func (g *Guard) storeContext(rc reqInfo) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(rc.ctx), g.cfg.StoreTimeout)
}

// internal logs a store failure, reports it and returns INTERNAL with it
// as cause.
func (g *Guard) internal(rc reqInfo, op string, err error) error {
	rc.log(op, err)
	rc.emit(event.OutcomeFailed, err)
	return apierror.Internal(err)
}

// log logs a store failure with the request-scoped logger, which carries the
// request ID. A lost lease is a warning: the work was done, only its replay
// is lost.
func (rc reqInfo) log(op string, err error) {
	lvl := slog.LevelError
	if errors.Is(err, ErrLeaseLost) {
		lvl = slog.LevelWarn
	}
	requestid.Logger(rc.ctx).LogAttrs(rc.ctx, lvl, "idempotency store failed",
		slog.String("op", op),
		slog.String("method", rc.method),
		slog.String("route", rc.route),
		slog.String("error", err.Error()))
}

// replay writes a stored response with Idempotent-Replayed: true.
func replay(w http.ResponseWriter, rec *Record) {
	h := w.Header()
	for k, v := range rec.Header {
		h[k] = append([]string(nil), v...)
	}
	h.Set(HeaderReplayed, "true")
	w.WriteHeader(rec.Status)
	if len(rec.Body) > 0 {
		// A write error means the client went away; there is nobody left
		// to answer.
		_, _ = w.Write(rec.Body)
	}
}

// readBody reads the request body up to max bytes and puts it back for the
// handler. A longer body is PAYLOAD_TOO_LARGE.
func readBody(req *http.Request, max int64) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	if req.ContentLength > max {
		return nil, apierror.PayloadTooLarge(max)
	}
	limit := max
	if limit < math.MaxInt64 {
		limit++
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apierror.PayloadTooLarge(min(mbe.Limit, max))
		}
		return nil, apierror.Internal(fmt.Errorf("idempotency: read request body: %w", err))
	}
	if int64(len(b)) > max {
		return nil, apierror.PayloadTooLarge(max)
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	return b, nil
}
