package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/layershq/errkit/apierror"
)

// ErrorHandlerConfig configures the error handler built by NewErrorHandler.
type ErrorHandlerConfig struct {
	// Logger receives one line per error response. Default: JSON lines at
	// info level on stderr.
	Logger *zap.Logger

	// ClientErrorLevel is the level 4xx errors are logged at. Default
	// (nil): zapcore.DebugLevel, so a production logger at info leaves
	// callers' mistakes (often a flood: scanners, expired keys, retries
	// past a limit) out of the logs and pays nothing to encode them; the
	// access log, when on, still records each one with its status and
	// code. Point it at zapcore.InfoLevel to log them. INTERNAL and
	// WORKFLOW_START_FAILED are always logged at error level. A pointer, so that an unset field is told
	// apart from InfoLevel (zapcore's zero Level).
	ClientErrorLevel *zapcore.Level

	// UpstreamErrorLevel is the level of the other 5xx codes (KILL_SWITCH,
	// CIRCUIT_OPEN, PLATFORM_ERROR, SCRAPE_FAILED): refusals and upstream
	// failures, not bugs. Default (nil): zapcore.WarnLevel.
	UpstreamErrorLevel *zapcore.Level

	// MaxBodyBytes is the request body limit reported in details.maxBytes
	// when a 413 comes from echo's own BodyLimit middleware (whose error
	// does not carry the limit). Errkit's BodyLimit and http.MaxBytesReader
	// carry their limit and do not need it. Zero: a 413 from echo renders
	// PAYLOAD_TOO_LARGE without details. Negative is a configuration error.
	MaxBodyBytes int64

	// DefaultRetryAfter is the wait reported for a 429 raised by echo or a
	// third-party middleware when no Retry-After header was set on the
	// response before it. Default (0): one second. Negative is a
	// configuration error.
	DefaultRetryAfter time.Duration
}

// DefaultErrorHandlerConfig is the default error handler configuration:
// every field at its default (4xx logged at debug, upstream 5xx at warn,
// INTERNAL at error, a one-second Retry-After for a bare 429), which is what
// any zero field of an ErrorHandlerConfig means too.
var DefaultErrorHandlerConfig = ErrorHandlerConfig{}

// errorHandler is a configured error handler.
type errorHandler struct {
	log               *zap.Logger
	clientLevel       zapcore.Level
	upstreamLevel     zapcore.Level
	maxBodyBytes      int64
	defaultRetryAfter time.Duration
}

// NewErrorHandler returns an echo.HTTPErrorHandler that renders every error
// as the contract's envelope. Install it as e.HTTPErrorHandler (Install does).
//
// For an error err returned anywhere in the chain (or passed to c.Error):
//   - an *apierror.Error found with errors.As renders with its code's
//     status, message and details; a *PanicError always renders INTERNAL;
//   - echo's own errors are mapped onto the contract (see the package
//     documentation for the table); anything else is INTERNAL: status 500,
//     the fixed generic message, no details, the cause only in the log;
//   - the X-Request-Id header is set and equals the body's requestId (a
//     fresh ID is generated when the RequestID middleware did not run);
//   - Retry-After is set for RATE_LIMITED (whole seconds rounded up, >= 1,
//     consistent with details.retryAfterMs), CIRCUIT_OPEN
//     (details.retryAfterSeconds) and PLATFORM_ERROR with retryAfterMs;
//     every other header already set on the response is kept;
//   - Content-Type is application/json; a HEAD request gets no body;
//   - when the response is already committed nothing is written and the
//     error is logged; an error that was already rendered for this request
//     (echo's Logger middleware, for example, calls c.Error and returns the
//     error too) is not rendered or logged again.
//
// Every error is logged once with requestId, code, status, method, route
// (the route template c.Path(), not the raw URL) and the full error; a
// recovered panic adds its stack. INTERNAL and WORKFLOW_START_FAILED are
// logged at error level, other levels come from cfg.
//
// It returns an error when cfg is invalid.
func NewErrorHandler(cfg ErrorHandlerConfig) (echo.HTTPErrorHandler, error) {
	h, err := newErrorHandler(cfg)
	if err != nil {
		return nil, err
	}
	return h.handle, nil
}

func newErrorHandler(cfg ErrorHandlerConfig) (*errorHandler, error) {
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("errkit/middleware: ErrorHandlerConfig.MaxBodyBytes is negative (%d)", cfg.MaxBodyBytes)
	}
	if cfg.DefaultRetryAfter < 0 {
		return nil, fmt.Errorf("errkit/middleware: ErrorHandlerConfig.DefaultRetryAfter is negative (%s)", cfg.DefaultRetryAfter)
	}
	h := &errorHandler{
		log:               orDefault(cfg.Logger),
		clientLevel:       zapcore.DebugLevel,
		upstreamLevel:     zapcore.WarnLevel,
		maxBodyBytes:      cfg.MaxBodyBytes,
		defaultRetryAfter: cfg.DefaultRetryAfter,
	}
	if cfg.ClientErrorLevel != nil {
		h.clientLevel = *cfg.ClientErrorLevel
	}
	if cfg.UpstreamErrorLevel != nil {
		h.upstreamLevel = *cfg.UpstreamErrorLevel
	}
	if h.defaultRetryAfter == 0 {
		h.defaultRetryAfter = time.Second
	}
	return h, nil
}

// defaultHandler is the handler of HTTPErrorHandler.
var defaultHandler = sync.OnceValue(func() *errorHandler {
	h, err := newErrorHandler(DefaultErrorHandlerConfig)
	if err != nil {
		panic(err) // DefaultErrorHandlerConfig is valid
	}
	return h
})

// HTTPErrorHandler is the error handler of NewErrorHandler with
// DefaultErrorHandlerConfig (logging to stderr). Prefer Install or
// NewErrorHandler with your own logger.
func HTTPErrorHandler(err error, c echo.Context) { defaultHandler().handle(err, c) }

// jsonContentType is the Content-Type header value of every error body.
// It is shared between responses: net/http only reads it, and Header.Set
// replaces rather than mutates a value slice.
var jsonContentType = []string{echo.MIMEApplicationJSON}

// bufPool holds the buffers envelopes are rendered into.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// handle is the echo.HTTPErrorHandler.
func (h *errorHandler) handle(err error, c echo.Context) {
	if err == nil {
		return
	}
	s := stateFrom(c)
	if s != nil && s.renderedErr && s.rendered != nil && errors.Is(err, s.rendered) {
		return // the same error again: already rendered and logged
	}
	e := h.convert(err, c)
	res := c.Response()
	hdr := res.Header()

	var id string
	if s != nil {
		id = s.id
		s.rendered, s.renderedErr, s.code = err, true, string(e.Code())
	} else {
		id = ids.newID()
	}
	if res.Committed {
		h.logError(c, e, err, id, true)
		return
	}
	if s != nil {
		hdr[HeaderRequestID] = s.hdr[:]
	} else {
		hdr[HeaderRequestID] = []string{id}
	}
	hdr[echo.HeaderContentType] = jsonContentType
	switch e.Code() {
	case apierror.CodeRateLimited, apierror.CodeCircuitOpen, apierror.CodePlatformError:
		if d, ok := e.RetryAfter(); ok {
			hdr[echo.HeaderRetryAfter] = []string{strconv.FormatInt(apierror.RetryAfterSeconds(d), 10)}
		}
	}
	h.logError(c, e, err, id, false)

	status := e.Status()
	if c.Request().Method == http.MethodHead {
		res.WriteHeader(status)
		return
	}
	bp := bufPool.Get().(*[]byte)
	buf := e.AppendJSON((*bp)[:0], id)
	res.WriteHeader(status)
	_, _ = res.Write(buf) // a failed write means the client is gone
	if cap(buf) <= 64<<10 {
		*bp = buf
		bufPool.Put(bp)
	}
}

// logError writes the one log line of an error response.
func (h *errorHandler) logError(c echo.Context, e *apierror.Error, err error, id string, committed bool) {
	var level zapcore.Level
	internal := e.Code() == apierror.CodeInternal || e.Code() == apierror.CodeWorkflowStartFailed
	switch status := e.Status(); {
	case internal:
		level = zapcore.ErrorLevel
	case status >= 500:
		level = h.upstreamLevel
	default:
		level = h.clientLevel
	}
	msg := "request failed"
	if committed {
		msg = "request failed after the response was committed"
	}
	ce := h.log.Check(level, msg)
	if ce == nil {
		return
	}
	fields := make([]zap.Field, 0, 7)
	fields = append(fields,
		zap.String(fieldRequestID, id),
		zap.String(fieldCode, string(e.Code())),
		zap.Int(fieldStatus, e.Status()),
		zap.String(fieldMethod, c.Request().Method),
		zap.String(fieldRoute, c.Path()),
	)
	if internal || error(e) != err || e.Unwrap() != nil {
		// The error adds something to code and status: always for
		// INTERNAL, and when it wraps or was mapped from another error.
		fields = append(fields, zap.Error(err))
	}
	var pe *PanicError
	if errors.As(err, &pe) {
		fields = append(fields, zap.ByteString(fieldStack, pe.Stack))
	}
	ce.Write(fields...)
}
