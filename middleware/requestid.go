package middleware

import (
	"unsafe"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"go.uber.org/zap"
)

// HeaderRequestID is the response header that carries the request ID on
// every response.
const HeaderRequestID = echo.HeaderXRequestID // "X-Request-Id"

// RequestIDConfig configures the RequestID middleware.
type RequestIDConfig struct {
	// Skipper skips the middleware for a request. A skipped request has no
	// request ID in its context; the error handler still gives an error
	// response a fresh one. Default: never skip.
	Skipper echomw.Skipper

	// TrustInbound accepts an inbound X-Request-Id header (from a trusted
	// proxy) when it is exactly one well-formed req_<ULID> value (see
	// ValidRequestID). Any other inbound value (several values, wrong length,
	// CRLF, non-ASCII, lowercase, ...) is ignored: a fresh ID is generated and
	// the inbound value is neither echoed nor logged. Default: false, the
	// inbound header is always ignored.
	TrustInbound bool

	// Logger is the base of the request-scoped logger returned by LoggerFrom;
	// it gets a requestId field. Default: JSON lines at info level on stderr.
	Logger *zap.Logger
}

// DefaultRequestIDConfig is the default RequestID configuration: inbound
// request IDs ignored, default logger.
var DefaultRequestIDConfig = RequestIDConfig{Skipper: echomw.DefaultSkipper}

// RequestID returns the RequestID middleware with the default configuration.
//
// The middleware gives every request a fresh request ID before anything else
// runs, sets the X-Request-Id response header, and stores the ID in the
// request's context.Context (which the echo context carries), where
// RequestIDFrom, RequestIDFromContext and LoggerFrom find it. Register it
// first, with e.Use (echo runs it around the router's 404 and 405 handlers
// too) or with e.Pre to put e.Pre middleware inside it as well. It costs
// one allocation per request: the request state, which holds the ID, the
// header value, the new context.Context and the request copy. The request-scoped logger is only built when LoggerFrom asks for it.
func RequestID() echo.MiddlewareFunc { return RequestIDWithConfig(DefaultRequestIDConfig) }

// RequestIDWithConfig returns the RequestID middleware with cfg. It panics
// on a configuration error, as echo's own middleware do; use
// cfg.ToMiddleware to get the error instead.
func RequestIDWithConfig(cfg RequestIDConfig) echo.MiddlewareFunc {
	mw, err := cfg.ToMiddleware()
	if err != nil {
		panic(err)
	}
	return mw
}

// ToMiddleware returns the RequestID middleware for cfg. Every field's zero
// value has a default, so it currently never fails; the error is there for
// echo's convention and future fields.
func (cfg RequestIDConfig) ToMiddleware() (echo.MiddlewareFunc, error) {
	st := cfg.stamper()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !st.skipper(c) {
				st.stamp(c)
			}
			return next(c)
		}
	}, nil
}

// stamper is a configured RequestID middleware, separate from the closure so
// that Install can fuse it with recovery into one middleware.
type stamper struct {
	skipper echomw.Skipper
	base    *zap.Logger
	trust   bool
}

func (cfg RequestIDConfig) stamper() *stamper {
	st := &stamper{skipper: cfg.Skipper, base: orDefault(cfg.Logger), trust: cfg.TrustInbound}
	if st.skipper == nil {
		st.skipper = echomw.DefaultSkipper
	}
	return st
}

// stamp gives the request its ID: one allocation, the request state, which
// holds the ID's bytes, the header value, the new context and the request
// copy.
func (st *stamper) stamp(c echo.Context) {
	r := c.Request()
	s := &requestState{base: st.base}
	if st.trust {
		s.id = trustedInbound(r.Header[HeaderRequestID])
	}
	if s.id == "" {
		ids.fill(&s.idBuf)
		// s.idBuf is never written again, so the string may share it.
		s.id = unsafe.String(&s.idBuf[0], requestIDLen)
	}
	s.hdr[0] = s.id
	c.Response().Header()[HeaderRequestID] = s.hdr[:]
	c.SetRequest(s.attach(r))
}

// trustedInbound returns the inbound request ID when the header has exactly
// one value and it is well formed, and "" otherwise.
func trustedInbound(vals []string) string {
	if len(vals) == 1 && ValidRequestID(vals[0]) {
		return vals[0]
	}
	return ""
}
