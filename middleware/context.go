package middleware

import (
	"context"
	"net/http"
	"sync/atomic"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/layershq/errkit/internal/reqstate"
)

// stateKey is the context.Context key of a request's *requestState.
type stateKey struct{}

// requestState is everything errkit keeps for one request, in a single
// allocation: it is the request's context.Context (it wraps the parent and
// answers Value(stateKey{}) with itself), it holds the copy of the
// *http.Request that carries it, the request ID, the backing array of the
// X-Request-Id header value, the lazily built request logger, and what the
// error handler rendered.
//
// The echo context reaches it through c.Request().Context(), which is why no
// entry in echo's context store (a map allocated per request) is needed.
type requestState struct {
	context.Context

	id    string
	idBuf [requestIDLen]byte // backs id when it was generated here
	hdr   [1]string          // X-Request-Id header value; hdr[:] is stored in the header map
	base  *zap.Logger
	log   atomic.Pointer[zap.Logger]

	// The caller, recorded by principal.Set through reqstate.Holder (a
	// *principal.Principal), so that it needs no second request copy.
	principal atomic.Value

	// Set by the error handler.
	rendered    error // the error whose response it wrote
	renderedErr bool  // an error response was written (or attempted)
	code        string

	req http.Request
}

// Value returns the state itself for stateKey{} and reqstate.HolderKey{},
// the recorded principal for reqstate.PrincipalKey{} (when there is one),
// and defers to the parent context otherwise.
func (s *requestState) Value(key any) any {
	switch key.(type) {
	case stateKey, reqstate.HolderKey:
		return s
	case reqstate.PrincipalKey:
		if p := s.principal.Load(); p != nil {
			return p
		}
	}
	return s.Context.Value(key)
}

// SetPrincipal implements reqstate.Holder. p must be a non-nil
// *principal.Principal (the only caller is principal.Set); nil is ignored,
// so that the atomic.Value only ever holds that one type.
func (s *requestState) SetPrincipal(p any) {
	if p != nil {
		s.principal.Store(p)
	}
}

// String describes the context without its values.
func (s *requestState) String() string { return "errkit.requestContext" }

// attach makes s the context of a copy of r, stores that copy in s and
// returns it. The copy is what r.WithContext(s) returns, built in place so
// that the state, the context and the request are one allocation.
func (s *requestState) attach(r *http.Request) *http.Request {
	s.Context = r.Context()
	s.req = *r.WithContext(s)
	return &s.req
}

// stateFromContext returns the request state in ctx, or nil.
func stateFromContext(ctx context.Context) *requestState {
	if ctx == nil {
		return nil
	}
	s, _ := ctx.Value(stateKey{}).(*requestState)
	return s
}

// stateFrom returns the request state of c, or nil when the RequestID
// middleware did not run for it.
func stateFrom(c echo.Context) *requestState {
	r := c.Request()
	if r == nil {
		return nil
	}
	return stateFromContext(r.Context())
}

// logger returns the request-scoped logger, building it on first use.
func (s *requestState) logger() *zap.Logger {
	if l := s.log.Load(); l != nil {
		return l
	}
	l := s.base.With(zap.String(fieldRequestID, s.id))
	if s.log.CompareAndSwap(nil, l) {
		return l
	}
	return s.log.Load()
}

// RequestIDFrom returns the request ID (req_<ULID>) the RequestID middleware
// stamped on c, or "" when it did not run. It reads the ID from the request's
// context.Context, which the echo context carries, so it keeps working after
// a middleware derives a new context with c.SetRequest(r.WithContext(...)).
func RequestIDFrom(c echo.Context) string {
	if s := stateFrom(c); s != nil {
		return s.id
	}
	return ""
}

// RequestIDFromContext returns the request ID stored in a request's
// context.Context (or any context derived from it), or "" when there is none.
func RequestIDFromContext(ctx context.Context) string {
	if s := stateFromContext(ctx); s != nil {
		return s.id
	}
	return ""
}

// LoggerFrom returns a logger for the request that carries its requestId
// field. It never returns nil: without the middleware it returns
// DefaultLogger(), so that what errkit's other middleware log (store
// failures, say) is not dropped when the request ID middleware is missing. The logger is built on the first call for a request (zap's With is
// not free) and the same *zap.Logger is returned afterwards; it is safe to
// call from several goroutines.
func LoggerFrom(c echo.Context) *zap.Logger {
	if s := stateFrom(c); s != nil {
		return s.logger()
	}
	return DefaultLogger()
}

// LoggerFromContext is LoggerFrom for code that only has the request's
// context.Context.
func LoggerFromContext(ctx context.Context) *zap.Logger {
	if s := stateFromContext(ctx); s != nil {
		return s.logger()
	}
	return DefaultLogger()
}
