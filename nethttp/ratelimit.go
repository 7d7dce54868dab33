package nethttp

import (
	"net/http"

	"github.com/layershq/errkit/ratelimit"
)

// RateLimit returns middleware that rate-limits requests with l
// ([ratelimit.Limiter.Limit] on the response header, the request and
// [Route]): an admitted or unlimited request goes on to next with the
// RateLimit headers set; a denied one is answered RATE_LIMITED (with
// Retry-After) through [Error], as is a fail-closed store failure
// (INTERNAL), and next is not called. It panics when l is nil, a mistake of
// configuration caught when the server is built.
//
// Wrap route handlers, inside the ServeMux and after authentication
// (mux.Handle(pattern, auth(nethttp.RateLimit(l)(h)))): ServeMux sets
// r.Pattern only when it routes the request, so around the mux every
// request would have the route "".
func RateLimit(l *ratelimit.Limiter) func(http.Handler) http.Handler {
	if l == nil {
		panic("errkit/nethttp: RateLimit: nil *ratelimit.Limiter")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := l.Limit(w.Header(), r, Route(r)); err != nil {
				Error(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
