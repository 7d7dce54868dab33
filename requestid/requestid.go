package requestid

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"unsafe"

	"github.com/layershq/errkit/internal/reqstate"
)

// Header is the response header that carries the request ID on every
// response.
const Header = "X-Request-Id"

// Config configures a [Stamper].
type Config struct {
	// TrustInbound accepts an inbound X-Request-Id header (from a trusted
	// proxy) when it is exactly one well-formed request ID (see [Valid]).
	// Any other inbound value (several values, wrong length, CRLF,
	// non-ASCII, lowercase, ...) is ignored: a fresh ID is generated and the
	// inbound value is neither echoed nor logged. Default false: the inbound
	// header is always ignored.
	TrustInbound bool

	// Logger is the base of the request-scoped logger returned by [Logger];
	// it gets a requestId attribute. Default [DefaultLogger].
	Logger *slog.Logger
}

// Stamper gives requests their IDs. It is safe for concurrent use.
type Stamper struct {
	base  *slog.Logger
	trust bool
}

// NewStamper returns a Stamper for cfg. Every field's zero value has a
// default.
func NewStamper(cfg Config) *Stamper {
	return &Stamper{base: OrDefault(cfg.Logger), trust: cfg.TrustInbound}
}

// Stamp gives r its request ID: it sets the X-Request-Id header on h (the
// response's header) and returns a copy of r whose context carries the ID
// and the request-scoped logger. It costs one allocation, which holds the
// ID, the header value, the new context and the request copy.
func (st *Stamper) Stamp(h http.Header, r *http.Request) *http.Request {
	s := reqstate.New(st.base)
	if st.trust {
		if vals := r.Header[Header]; len(vals) == 1 && Valid(vals[0]) {
			s.ID = vals[0]
		}
	}
	if s.ID == "" {
		ids.fill(&s.IDBuf)
		// s.IDBuf is never written again, so the string may share it.
		s.ID = unsafe.String(&s.IDBuf[0], Len)
	}
	s.Hdr[0] = s.ID
	h[Header] = s.Hdr[:]
	return s.Attach(r)
}

// FromContext returns the request ID stored in a request's context.Context
// (or any context derived from it), or "" when there is none.
func FromContext(ctx context.Context) string {
	if s := reqstate.From(ctx); s != nil {
		return s.ID
	}
	return ""
}

// Logger returns a logger for the request of ctx that carries its requestId
// attribute. It never returns nil: without a stamped request it returns
// [DefaultLogger], so that what errkit logs (store failures, say) is never
// dropped. The logger is built on the first call for a request and reused
// afterwards; it is safe to call from several goroutines.
func Logger(ctx context.Context) *slog.Logger {
	if s := reqstate.From(ctx); s != nil {
		return s.Logger()
	}
	return DefaultLogger()
}

// defaultLogger is the logger of a config that leaves Logger nil.
var defaultLogger = sync.OnceValue(func() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
})

// DefaultLogger returns the logger every errkit package uses when its
// config leaves Logger nil: JSON lines at info level and above on stderr.
// It is one process-wide *slog.Logger, so that errors and outages are never
// silently dropped by a zero config.
func DefaultLogger() *slog.Logger { return defaultLogger() }

// OrDefault returns l, or [DefaultLogger] when l is nil.
func OrDefault(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return defaultLogger()
}
