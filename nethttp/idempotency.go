package nethttp

import (
	"net/http"
	"strings"

	"github.com/layershq/errkit/idempotency"
)

// Idempotency returns middleware that runs requests under g's
// Idempotency-Key contract ([idempotency.Guard.Serve], with [Route] and the
// path parameters named by the ServeMux pattern, r.Pattern, in order): a
// replay is written with Idempotent-Replayed: true and next is not called;
// a refusal (VALIDATION, PAYLOAD_TOO_LARGE, CONFLICT with Retry-After,
// IDEMPOTENCY_CONFLICT, INTERNAL) is answered through [Error] and next is
// not called; otherwise next runs once under the key's lease and its 2xx
// response is stored. next renders its own errors (with [Handler] or
// [Error]): a non-2xx answer, or a panic, releases the key. It panics when
// g is nil, a mistake of configuration caught when the server is built.
//
// Wrap route handlers, inside the ServeMux and after authentication
// (mux.Handle(pattern, auth(nethttp.Idempotency(g)(h)))): ServeMux sets
// r.Pattern, which names the path parameters and is the default route
// template, only when it routes the request, so around the mux every
// request would have the route "" and no parameters.
func Idempotency(g *idempotency.Guard) func(http.Handler) http.Handler {
	if g == nil {
		panic("errkit/nethttp: Idempotency: nil *idempotency.Guard")
	}
	return func(next http.Handler) http.Handler {
		// net/http handlers render their own errors: the Guard sees them
		// as the non-2xx status they wrote.
		serve := func(w http.ResponseWriter, r *http.Request) error {
			next.ServeHTTP(w, r)
			return nil
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var buf [4]idempotency.Param // most routes: no allocation
			if err := g.Serve(w, r, Route(r), pathParams(buf[:0], r), serve); err != nil {
				Error(w, r, err)
			}
		})
	}
}

// pathParams appends to dst the wildcards of r.Pattern ("{name}" and
// "{name...}", in the order the pattern names them, not "{$}"; chi's
// "{name:regexp}" too) with their values from r.PathValue.
func pathParams(dst []idempotency.Param, r *http.Request) []idempotency.Param {
	p := r.Pattern
	// "[METHOD ][HOST]/PATH": wildcards live in the path only.
	i := strings.IndexByte(p, '/')
	if i < 0 {
		return dst
	}
	p = p[i:]
	for {
		open := strings.IndexByte(p, '{')
		if open < 0 {
			return dst
		}
		n := strings.IndexByte(p[open:], '}')
		if n < 0 {
			return dst
		}
		name := strings.TrimSuffix(p[open+1:open+n], "...")
		name, _, _ = strings.Cut(name, ":") // chi's {id:[0-9]+}: the name before the pattern
		p = p[open+n+1:]
		if name == "" || name == "$" {
			continue
		}
		dst = append(dst, idempotency.Param{Name: name, Value: r.PathValue(name)})
	}
}
