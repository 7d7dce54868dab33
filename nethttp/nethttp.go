package nethttp

import (
	"errors"
	"net/http"

	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/internal/reqstate"
)

var (
	errNilHandler    = errors.New("errkit/nethttp: Install: nil http.Handler")
	errNegativeStack = errors.New("errkit/nethttp: Config.StackSize is negative")
)

// serviceOf returns the installed configuration serving r, or nil outside
// [Install].
func serviceOf(r *http.Request) *service {
	if st := reqstate.From(r.Context()); st != nil {
		s, _ := st.Adapter.(*service)
		return s
	}
	return nil
}

// Error renders err as the contract's envelope onto w, through the error
// writer of the [Install] serving r (httperror.Default() outside one), with
// r's route template. When the response was already committed it only
// logs. It does nothing for a nil err.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		return
	}
	if s := serviceOf(r); s != nil {
		s.errors.WriteMeta(w, r, err, httperror.Meta{Route: s.route(r), Committed: written(w)})
		return
	}
	httperror.Default().WriteMeta(w, r, err, httperror.Meta{Route: r.Pattern, Committed: written(w)})
}

// Route returns the route template of r: what [Config].Route returns under
// [Install], else r.Pattern ("" before ServeMux has routed r). Under
// Install it also records a non-empty template for the access log, which
// runs outside the route and may hold another copy of the request.
func Route(r *http.Request) string {
	st := reqstate.From(r.Context())
	if st == nil {
		return r.Pattern
	}
	s, ok := st.Adapter.(*service)
	if !ok {
		return r.Pattern
	}
	route := s.route(r)
	if route != "" {
		st.Route = route
	}
	return route
}

// Handler adapts a handler that returns errors: a non-nil error is
// rendered with [Error], so a handler can return apierror.NotFound().
func Handler(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Route(r) // for the access log
		if err := h(w, r); err != nil {
			Error(w, r, err)
		}
	})
}

// BodyLimit returns middleware that caps request bodies at maxBytes:
// PAYLOAD_TOO_LARGE with details.maxBytes, at once when Content-Length
// announces more, and otherwise when the handler reads past the cap (see
// httperror.LimitBody). It panics when maxBytes is not positive, a mistake
// of configuration caught when the server is built.
func BodyLimit(maxBytes int64) func(http.Handler) http.Handler {
	if maxBytes <= 0 {
		panic("errkit/nethttp: BodyLimit: maxBytes must be positive")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := httperror.LimitBody(w, r, maxBytes); err != nil {
				Error(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
