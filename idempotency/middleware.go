package idempotency

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/principal"
)

// Defaults used when the corresponding IdempotencyConfig field is zero.
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

// IdempotencyConfig configures the Idempotency middleware. Zero fields take
// the values of DefaultIdempotencyConfig; a nil Store is a fresh MemoryStore
// private to the middleware built from the config.
type IdempotencyConfig struct {
	// Skipper, when it returns true, lets the request through untouched.
	Skipper func(c echo.Context) bool
	// Store keeps leases and responses. Give every middleware instance of a
	// service the same RedisStore so that retries reaching any instance
	// replay.
	Store Store
	// KeyFunc returns the caller part of a key's scope, by default the API
	// key ID (principal.KeyID). A request that carries an Idempotency-Key
	// but whose KeyFunc returns "" is answered INTERNAL and logged: the
	// authentication middleware is missing in front of this one, and sharing
	// one scope between all callers would replay one caller's responses to
	// another. Routes without authentication must set a KeyFunc.
	KeyFunc func(c echo.Context) string
	// Methods are the HTTP methods the middleware handles (POST and PATCH by
	// default); requests with other methods pass through.
	Methods []string
	// Required rejects a request without Idempotency-Key with VALIDATION.
	// By default such a request simply runs without idempotency.
	Required bool
	// MaxBodyBytes caps the request body read for the fingerprint; a longer
	// body is answered PAYLOAD_TOO_LARGE with details.maxBytes before
	// hashing. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// TTL is how long a successful response is replayed. Default DefaultTTL.
	TTL time.Duration
	// LeaseTTL is the lifetime of the lease taken while the handler runs. The
	// lease is renewed every LeaseTTL/3 while the handler runs, so a slow
	// handler keeps it; a crashed server frees the key within LeaseTTL.
	// Default DefaultLeaseTTL; at least one millisecond.
	LeaseTTL time.Duration
	// ReplayHeaders are the response headers stored and replayed with the
	// status and body (Content-Type and Location by default).
	ReplayHeaders []string
	// MaxResponseBytes caps the body of a response kept for replay. A 2xx
	// response with a longer body is passed through to the client whole but
	// not stored: the key is released (a retry runs the handler again) and
	// a warning is logged with the request ID. The middleware stops
	// buffering the body once it passes the cap. Default
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// StoreTimeout bounds each store call (through context.WithTimeout): a
	// hung store answers INTERNAL after it instead of holding the request.
	// The Redis client must honour context deadlines
	// (redis.Options.ContextTimeoutEnabled) for the bound to hold on
	// network I/O. Default DefaultStoreTimeout.
	StoreTimeout time.Duration
}

// DefaultIdempotencyConfig is the configuration Idempotency uses.
var DefaultIdempotencyConfig = IdempotencyConfig{
	Skipper:          func(echo.Context) bool { return false },
	KeyFunc:          principal.KeyID,
	Methods:          []string{http.MethodPost, http.MethodPatch},
	MaxBodyBytes:     DefaultMaxBodyBytes,
	TTL:              DefaultTTL,
	LeaseTTL:         DefaultLeaseTTL,
	ReplayHeaders:    []string{echo.HeaderContentType, echo.HeaderLocation},
	MaxResponseBytes: DefaultMaxResponseBytes,
	StoreTimeout:     DefaultStoreTimeout,
}

// errEmptyScope is the logged cause when KeyFunc returns "".
var errEmptyScope = errors.New("idempotency: KeyFunc returned an empty caller scope " +
	"(is the authentication middleware installed before Idempotency?)")

// Idempotency returns the middleware with DefaultIdempotencyConfig and store
// (a private MemoryStore when nil).
func Idempotency(store Store) echo.MiddlewareFunc {
	cfg := DefaultIdempotencyConfig
	cfg.Store = store
	return IdempotencyWithConfig(cfg)
}

// IdempotencyWithConfig returns the middleware for cfg. It panics on a
// configuration error, as echo's own middleware do; use ToMiddleware to get
// the error instead.
func IdempotencyWithConfig(cfg IdempotencyConfig) echo.MiddlewareFunc {
	mw, err := cfg.ToMiddleware()
	if err != nil {
		panic(err)
	}
	return mw
}

// ToMiddleware validates cfg and returns the middleware. It reports a
// negative MaxBodyBytes, MaxResponseBytes, TTL or LeaseTTL, a LeaseTTL under
// a millisecond, and
// an invalid method or header name as an error, and never panics.
func (cfg IdempotencyConfig) ToMiddleware() (echo.MiddlewareFunc, error) {
	d := DefaultIdempotencyConfig
	if cfg.Skipper == nil {
		cfg.Skipper = d.Skipper
	}
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore(0)
	}
	if cfg.KeyFunc == nil {
		cfg.KeyFunc = d.KeyFunc
	}
	if cfg.Methods == nil {
		cfg.Methods = d.Methods
	}
	if cfg.ReplayHeaders == nil {
		cfg.ReplayHeaders = d.ReplayHeaders
	}
	switch {
	case cfg.MaxBodyBytes < 0:
		return nil, fmt.Errorf("idempotency: MaxBodyBytes %d is negative", cfg.MaxBodyBytes)
	case cfg.MaxBodyBytes == 0:
		cfg.MaxBodyBytes = d.MaxBodyBytes
	}
	switch {
	case cfg.MaxResponseBytes < 0:
		return nil, fmt.Errorf("idempotency: MaxResponseBytes %d is negative", cfg.MaxResponseBytes)
	case cfg.MaxResponseBytes == 0:
		cfg.MaxResponseBytes = d.MaxResponseBytes
	}
	switch {
	case cfg.TTL < 0:
		return nil, fmt.Errorf("idempotency: TTL %v is negative", cfg.TTL)
	case cfg.TTL == 0:
		cfg.TTL = d.TTL
	}
	switch {
	case cfg.LeaseTTL < 0:
		return nil, fmt.Errorf("idempotency: LeaseTTL %v is negative", cfg.LeaseTTL)
	case cfg.LeaseTTL == 0:
		cfg.LeaseTTL = d.LeaseTTL
	case cfg.LeaseTTL < time.Millisecond:
		return nil, fmt.Errorf("idempotency: LeaseTTL %v is under one millisecond", cfg.LeaseTTL)
	}
	switch {
	case cfg.StoreTimeout < 0:
		return nil, fmt.Errorf("idempotency: StoreTimeout %v is negative", cfg.StoreTimeout)
	case cfg.StoreTimeout == 0:
		cfg.StoreTimeout = d.StoreTimeout
	}
	if len(cfg.Methods) == 0 {
		return nil, errors.New("idempotency: Methods is empty (nil means POST and PATCH)")
	}
	m := &idempotency{cfg: cfg, methods: make(map[string]bool, len(cfg.Methods))}
	for _, meth := range cfg.Methods {
		if !isToken(meth) {
			return nil, fmt.Errorf("idempotency: invalid method %q", meth)
		}
		m.methods[meth] = true
	}
	for _, h := range cfg.ReplayHeaders {
		if !isToken(h) {
			return nil, fmt.Errorf("idempotency: invalid replay header name %q", h)
		}
		m.replay = append(m.replay, http.CanonicalHeaderKey(h))
	}
	return m.handle, nil
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

// idempotency is a configured middleware.
type idempotency struct {
	cfg     IdempotencyConfig
	methods map[string]bool
	replay  []string // canonical header names
}

// handle is the echo.MiddlewareFunc.
func (m *idempotency) handle(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if m.cfg.Skipper(c) || !m.methods[req.Method] {
			return next(c)
		}
		vals := req.Header.Values(HeaderKey)
		switch {
		case len(vals) == 0 && m.cfg.Required:
			return invalidKey(msgRequired)
		case len(vals) == 0:
			return next(c)
		case len(vals) > 1:
			return invalidKey(msgRepeated)
		}
		key := vals[0]
		if err := ValidateKey(key); err != nil {
			return err
		}
		rc := info(c)
		scope := m.cfg.KeyFunc(c)
		if scope == "" {
			return m.internal(rc, "scope", errEmptyScope)
		}
		body, err := readBody(req, m.cfg.MaxBodyBytes)
		if err != nil {
			return err
		}
		route := c.Path()
		fp := fingerprint(req.Method, route, c.ParamNames(), c.ParamValues(), req.URL.RawQuery, body)
		skey := storeKey(scope, req.Method, route, key)
		token := rand.Text()

		actx, cancel := context.WithTimeout(rc.ctx, m.cfg.StoreTimeout)
		lk, err := m.cfg.Store.Acquire(actx, skey, token, fp, m.cfg.LeaseTTL)
		cancel()
		if err != nil {
			return m.internal(rc, "acquire", err)
		}
		switch lk.State {
		case Acquired:
			return m.run(c, rc, next, skey, token, fp)
		case InProgress:
			if lk.Fingerprint != "" && lk.Fingerprint != fp {
				// Whatever the running request's outcome, this one is a
				// different request under the same key. (A custom Store
				// that does not report the holder's fingerprint gets
				// idempotency_key_in_use.)
				return apierror.IdempotencyConflict(lk.Fingerprint, fp)
			}
			c.Response().Header().Set(echo.HeaderRetryAfter, strconv.Itoa(int(InUseRetryAfter/time.Second)))
			return apierror.Conflict(ReasonKeyInUse)
		case Completed:
			if lk.Record == nil {
				return m.internal(rc, "acquire", errors.New("idempotency: store reported Completed without a record"))
			}
			if lk.Record.Fingerprint != fp {
				return apierror.IdempotencyConflict(lk.Record.Fingerprint, fp)
			}
			replay(c, lk.Record)
			return nil
		}
		return m.internal(rc, "acquire", fmt.Errorf("idempotency: store returned unknown state %d", lk.State))
	}
}

// run runs the handler under the lease, stores a 2xx response and releases
// the lease otherwise (also when the handler panics).
func (m *idempotency) run(c echo.Context, rc reqInfo, next echo.HandlerFunc, skey, token, fp string) error {
	res := c.Response()
	cw := &captureWriter{ResponseWriter: res.Writer, names: m.replay, max: m.cfg.MaxResponseBytes}
	res.Writer = cw
	stopRenew := m.renew(rc, skey, token)
	completed := false
	defer func() {
		res.Writer = cw.ResponseWriter
		stopRenew()
		if !completed {
			ctx, cancel := m.storeContext(rc)
			defer cancel()
			if err := m.cfg.Store.Release(ctx, skey, token); err != nil {
				rc.log("release", err)
			}
		}
	}()

	if err := next(c); err != nil {
		// The error handler renders it after we return: not work done.
		return err
	}
	status := res.Status
	if status < 200 || status > 299 {
		return nil
	}
	if cw.overflow {
		// Passed through, not stored: the deferred release frees the key.
		middleware.LoggerFromContext(rc.ctx).Warn("idempotency response not stored: larger than MaxResponseBytes",
			zap.String("method", rc.method),
			zap.String("route", rc.route),
			zap.Int("status", status),
			zap.Int64("maxResponseBytes", m.cfg.MaxResponseBytes))
		return nil
	}
	if !cw.headerSeen {
		cw.snapshot()
	}
	rec := Record{Fingerprint: fp, Status: status, Header: cw.header, Body: cw.body.Bytes()}
	ctx, cancel := m.storeContext(rc)
	defer cancel()
	if err := m.cfg.Store.Complete(ctx, skey, token, rec, m.cfg.TTL); err != nil {
		// The response is already on its way. Usually nothing was stored
		// and the deferred Release frees the key, so a retry runs the
		// handler again; if the store did apply Complete before failing
		// (a timeout on the reply), Release finds no lease of ours and the
		// retry replays.
		rc.log("complete", err)
		return nil
	}
	completed = true
	return nil
}

// renew keeps the lease alive every LeaseTTL/3 until the returned stop
// function is called; stop waits for a renewal in flight to end. No
// goroutine exists until the first renewal is due (a timer), so handlers
// faster than LeaseTTL/3 pay for a timer only. Renewals never touch the
// echo.Context, which is not safe for concurrent use: they get the
// request's context and names instead.
func (m *idempotency) renew(rc reqInfo, skey, token string) (stop func()) {
	r := &renewal{m: m, rc: rc, skey: skey, token: token, every: m.cfg.LeaseTTL / 3}
	r.mu.Lock()
	r.timer = time.AfterFunc(r.every, r.tick)
	r.mu.Unlock()
	return r.stop
}

// renewal is the lease renewal of one running request.
type renewal struct {
	m           *idempotency
	rc          reqInfo
	skey, token string
	every       time.Duration

	mu       sync.Mutex
	timer    *time.Timer
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

	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.rc.ctx), min(r.every, r.m.cfg.StoreTimeout))
	err := r.m.cfg.Store.Renew(ctx, r.skey, r.token, r.m.cfg.LeaseTTL)
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
}

// info captures c's request context, method and route template.
func info(c echo.Context) reqInfo {
	r := c.Request()
	return reqInfo{ctx: r.Context(), method: r.Method, route: c.Path()}
}

// storeContext bounds the store calls made after the handler by
// StoreTimeout: they must run even when the client has gone away.
func (m *idempotency) storeContext(rc reqInfo) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(rc.ctx), m.cfg.StoreTimeout)
}

// internal logs a store failure and returns INTERNAL with it as cause.
func (m *idempotency) internal(rc reqInfo, op string, err error) error {
	rc.log(op, err)
	return apierror.Internal(err)
}

// log logs a store failure with the request-scoped logger, which carries the
// request ID. A lost lease is a warning: the work was done, only its replay
// is lost.
func (rc reqInfo) log(op string, err error) {
	lvl := zap.ErrorLevel
	if errors.Is(err, ErrLeaseLost) {
		lvl = zap.WarnLevel
	}
	middleware.LoggerFromContext(rc.ctx).Log(lvl, "idempotency store failed",
		zap.String("op", op),
		zap.String("method", rc.method),
		zap.String("route", rc.route),
		zap.Error(err))
}

// replay writes a stored response with Idempotent-Replayed: true.
func replay(c echo.Context, rec *Record) {
	res := c.Response()
	h := res.Header()
	for k, v := range rec.Header {
		h[k] = append([]string(nil), v...)
	}
	h.Set(HeaderReplayed, "true")
	res.WriteHeader(rec.Status)
	if len(rec.Body) > 0 {
		// A write error means the client went away; there is nobody left
		// to answer.
		_, _ = res.Write(rec.Body)
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

// captureWriter passes a response through while keeping its body (up to
// max bytes) and the replay headers as they were when the status was
// written.
type captureWriter struct {
	http.ResponseWriter
	names      []string
	max        int64
	header     http.Header
	headerSeen bool
	body       bytes.Buffer
	overflow   bool // the body passed max; body is no longer kept
}

// WriteHeader implements http.ResponseWriter.
func (w *captureWriter) WriteHeader(code int) {
	if !w.headerSeen {
		w.snapshot()
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *captureWriter) Write(b []byte) (int, error) {
	if !w.headerSeen {
		w.snapshot()
	}
	n, err := w.ResponseWriter.Write(b)
	switch {
	case w.overflow:
	case int64(w.body.Len())+int64(n) > w.max:
		w.overflow = true
		w.body = bytes.Buffer{} // let the partial copy go
	default:
		w.body.Write(b[:n])
	}
	return n, err
}

// Flush implements http.Flusher when the underlying writer can flush.
func (w *captureWriter) Flush() {
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *captureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// snapshot copies the replay headers as they are now.
func (w *captureWriter) snapshot() {
	w.headerSeen = true
	h := w.ResponseWriter.Header()
	for _, name := range w.names {
		if v := h[name]; len(v) > 0 {
			if w.header == nil {
				w.header = make(http.Header, len(w.names))
			}
			w.header[name] = append([]string(nil), v...)
		}
	}
}
