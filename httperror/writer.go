package httperror

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/internal/reqstate"
	"github.com/layershq/errkit/requestid"
)

// Config configures a [Writer]. Every zero field has a default.
type Config struct {
	// Logger receives one line per error response. Default
	// requestid.DefaultLogger().
	Logger *slog.Logger

	// ClientErrorLevel is the level 4xx errors are logged at. Default (nil):
	// slog.LevelDebug, so a production logger at info leaves callers'
	// mistakes (often a flood: scanners, expired keys, retries past a limit)
	// out of the logs and pays nothing to encode them; the access log, when
	// on, still records each one with its status and code. INTERNAL and
	// WORKFLOW_START_FAILED are always logged at error level.
	ClientErrorLevel slog.Leveler

	// UpstreamErrorLevel is the level of the other 5xx codes (KILL_SWITCH,
	// CIRCUIT_OPEN, PLATFORM_ERROR, SCRAPE_FAILED): refusals and upstream
	// failures, not bugs. Default (nil): slog.LevelWarn.
	UpstreamErrorLevel slog.Leveler

	// MaxBodyBytes is the request body limit reported in details.maxBytes
	// when a 413 comes from a framework's own body limit (whose error does
	// not carry the limit). [LimitBody] and http.MaxBytesReader carry their
	// limit and do not need it. Zero: such a 413 renders PAYLOAD_TOO_LARGE
	// without details. Negative is a configuration error.
	MaxBodyBytes int64

	// DefaultRetryAfter is the wait reported for a 429 raised by a framework
	// or a third-party middleware when no Retry-After header was set on the
	// response before it. Default (0): one second. Negative is a
	// configuration error.
	DefaultRetryAfter time.Duration

	// Translate describes a framework's own errors (its HTTP errors, its
	// binding errors) as a [*StatusError]; it returns nil for an error it
	// does not know. Adapters set it. Errors that are a *StatusError, or
	// have a StatusCode() int method, need no translation.
	Translate func(err error) *StatusError

	// Route returns the route template of a request for the log line when
	// the caller of [Writer.Write] does not give one. Default: r.Pattern
	// (set by Go 1.22+ ServeMux), or "" outside a route.
	Route func(r *http.Request) string

	// Events, if set, receives one event.KindError per request that ends
	// in an error: code, status, category, route template (as the log line
	// has it), method (event.StandardMethod) and the error itself, fired
	// before the response is written. The same error handed to the writer
	// again, or a second error for a request already answered, fires
	// nothing more. A Hook in the request's context (event.NewContext)
	// receives it too.
	Events event.Hook

	// StackLogInterval is how often the stack of identical recovered
	// panics (same frames, same call site) is logged in full. Between
	// two full lines, a panic's line carries stackId and stackRepeat (its
	// count since the full line) instead of the stack, and still its
	// requestId and cause; the next full line carries stackRepeats, the
	// number left out. Default (0): [DefaultStackLogInterval]. Negative:
	// every panic's stack in full.
	StackLogInterval time.Duration
}

// Writer renders errors as the contract's envelope. It is safe for
// concurrent use.
type Writer struct {
	log               *slog.Logger
	clientLevel       slog.Leveler
	upstreamLevel     slog.Leveler
	maxBodyBytes      int64
	defaultRetryAfter time.Duration
	translate         func(error) *StatusError
	route             func(*http.Request) string
	events            event.Hook
	stacks            *stackLog
}

// New returns a Writer for cfg, or an error when cfg is invalid.
func New(cfg Config) (*Writer, error) {
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("httperror: Config.MaxBodyBytes is negative (%d)", cfg.MaxBodyBytes)
	}
	if cfg.DefaultRetryAfter < 0 {
		return nil, fmt.Errorf("httperror: Config.DefaultRetryAfter is negative (%s)", cfg.DefaultRetryAfter)
	}
	w := &Writer{
		log:               requestid.OrDefault(cfg.Logger),
		clientLevel:       cfg.ClientErrorLevel,
		upstreamLevel:     cfg.UpstreamErrorLevel,
		maxBodyBytes:      cfg.MaxBodyBytes,
		defaultRetryAfter: cfg.DefaultRetryAfter,
		translate:         cfg.Translate,
		route:             cfg.Route,
		events:            cfg.Events,
		stacks:            newStackLog(cfg.StackLogInterval),
	}
	if w.clientLevel == nil {
		w.clientLevel = slog.LevelDebug
	}
	if w.upstreamLevel == nil {
		w.upstreamLevel = slog.LevelWarn
	}
	if w.defaultRetryAfter == 0 {
		w.defaultRetryAfter = time.Second
	}
	if w.route == nil {
		w.route = func(r *http.Request) string { return r.Pattern }
	}
	return w, nil
}

// Default returns the Writer of the zero [Config], logging to
// requestid.DefaultLogger(). Prefer [New] with the service's logger.
var Default = sync.OnceValue(func() *Writer {
	w, err := New(Config{})
	if err != nil {
		panic(err) // the zero Config is valid
	}
	return w
})

// Meta is what an adapter knows of the response an error answers.
type Meta struct {
	// Route is the route template of the request ("" outside a route).
	Route string
	// Committed reports that the response's header was already written:
	// the error is then logged and nothing is written.
	Committed bool
}

// Write renders err onto rw as the answer to r, with the route from
// [Config].Route. It does nothing for a nil err. See the package
// documentation for what is written and logged.
func (w *Writer) Write(rw http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		return
	}
	w.WriteMeta(rw, r, err, Meta{Route: w.route(r)})
}

// Shared header values: net/http only reads them, and Header.Set replaces
// rather than mutates a value slice.
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
	noSniff         = []string{"nosniff"}
)

// representationHeaders describe a response body; an envelope replaces that
// body, so they are dropped.
var representationHeaders = []string{"Content-Length", "Content-Encoding", "Content-Range",
	"Content-Disposition", "Etag", "Last-Modified", "Location"}

// sameError reports whether target is err itself or in err's chain: the
// same error value, not one that errors.Is matches (an *apierror.Error
// matches every error of its code).
func sameError(err, target error) bool {
	if !reflect.TypeOf(target).Comparable() {
		return false
	}
	for err != nil {
		if err == target {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if e != nil && sameError(e, target) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// bufPool holds the buffers envelopes are rendered into.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// WriteMeta is [Writer.Write] for adapters that know the route template and
// whether the response is committed. An error already rendered for this
// request (the same error handed to the writer twice, as echo's own Logger
// middleware does) is not rendered or logged again.
func (w *Writer) WriteMeta(rw http.ResponseWriter, r *http.Request, err error, m Meta) {
	if err == nil {
		return
	}
	if e, ok := err.(*apierror.Error); ok && e == nil {
		err = errNilAPIError // its Error method would panic when logged
	}
	s := reqstate.From(r.Context())
	first := true // this request's first error: the one its event reports
	if s != nil {
		prev, _, ok := s.Rendered()
		if ok && prev != nil && sameError(err, prev) {
			return // the same error again: already rendered and logged
		}
		first = !ok
	}
	hdr := rw.Header()
	e := w.Map(err, hdr)
	if first {
		w.fire(r, m.Route, e, err)
	}

	var id string
	if s != nil {
		id = s.ID
		s.MarkRendered(err, string(e.Code()))
	} else {
		id = requestid.New()
	}
	if m.Committed {
		w.logError(r, m.Route, e, err, id, true)
		return
	}
	if s != nil {
		hdr[requestid.Header] = s.Hdr[:]
	} else {
		hdr[requestid.Header] = []string{id}
	}
	hdr["Content-Type"] = jsonContentType
	hdr["Cache-Control"] = noStore
	hdr["X-Content-Type-Options"] = noSniff
	for _, h := range representationHeaders {
		delete(hdr, h) // they described the success the handler did not finish
	}
	switch e.Code() {
	case apierror.CodeRateLimited, apierror.CodeCircuitOpen, apierror.CodePlatformError:
		if d, ok := e.RetryAfter(); ok {
			hdr["Retry-After"] = []string{strconv.FormatInt(apierror.RetryAfterSeconds(d), 10)}
		} else {
			delete(hdr, "Retry-After") // retryAfterMs null: "treat as non-transient"
		}
	}
	w.logError(r, m.Route, e, err, id, false)
	closing := closeIfBodyUnread(hdr, r)

	status := e.Status()
	if r.Method == http.MethodHead {
		rw.WriteHeader(status)
	} else {
		bp := bufPool.Get().(*[]byte)
		buf := e.AppendJSON((*bp)[:0], id)
		rw.WriteHeader(status)
		_, _ = rw.Write(buf) // a failed write means the client is gone
		if cap(buf) <= 64<<10 {
			*bp = buf
			bufPool.Put(bp)
		}
	}
	if closing {
		stopReading(rw) // once the response is written
	}
}

// logError writes the one log line of an error response.
func (w *Writer) logError(r *http.Request, route string, e *apierror.Error, err error, id string, committed bool) {
	var level slog.Level
	internal := e.Code() == apierror.CodeInternal || e.Code() == apierror.CodeWorkflowStartFailed
	switch status := e.Status(); {
	case internal:
		level = slog.LevelError
	case status >= 500:
		level = w.upstreamLevel.Level()
	default:
		level = w.clientLevel.Level()
	}
	ctx := r.Context()
	if !w.log.Enabled(ctx, level) {
		return
	}
	msg := "request failed"
	if committed {
		msg = "request failed after the response was committed"
	}
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs,
		slog.String("requestId", id),
		slog.String("code", string(e.Code())),
		slog.Int("status", e.Status()),
		slog.String("method", r.Method),
		slog.String("route", route),
	)
	if internal || error(e) != err || e.Unwrap() != nil {
		// The error adds something to code and status: always for
		// INTERNAL, and when it wraps or was mapped from another error.
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	var pe *PanicError
	if errors.As(err, &pe) {
		attrs = w.stacks.appendAttrs(attrs, pe.Stack)
	}
	w.log.LogAttrs(ctx, level, msg, attrs...)
}

// categories is the category of every code, read once from the catalogue
// (whose Lookup copies a row).
var categories = func() map[apierror.Code]apierror.Category {
	m := map[apierror.Code]apierror.Category{}
	for _, spec := range apierror.Catalogue() {
		m[spec.Code] = spec.Category
	}
	return m
}()

// fire reports the error response e (mapped from err) of r.
func (w *Writer) fire(r *http.Request, route string, e *apierror.Error, err error) {
	ctx := r.Context()
	if w.events == nil && event.FromContext(ctx) == nil {
		return // nothing listens: build no event
	}
	event.Fire(ctx, w.events, event.Event{
		Kind:     event.KindError,
		Method:   event.StandardMethod(r.Method),
		Route:    route,
		Code:     e.Code(),
		Status:   e.Status(),
		Category: categories[e.Code()],
		Err:      err,
	})
}
