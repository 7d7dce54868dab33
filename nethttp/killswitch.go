package nethttp

import (
	"net/http"

	"github.com/layershq/errkit/killswitch"
)

// KillSwitch returns middleware that refuses the requests a kill switch
// turns off ([killswitch.Guard.Check] on the response header and the
// request): a refused request is answered KILL_SWITCH (503, details.scope,
// and Retry-After for a global switch with an expected duration) through
// [Error], and next is not called; any other request goes on to next
// untouched. It panics when g is nil, a mistake of configuration caught
// when the server is built.
//
// Mount the per-caller guard after authentication and before
// [RateLimit], so a switched-off key spends no rate-limit tokens. A guard
// built with killswitch.Config.GlobalOnly needs no principal and may wrap
// the whole ServeMux, before authentication.
func KillSwitch(g *killswitch.Guard) func(http.Handler) http.Handler {
	if g == nil {
		panic("errkit/nethttp: KillSwitch: nil *killswitch.Guard")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := g.Check(w.Header(), r); err != nil {
				Error(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Admin returns the operator API a as a handler whose errors are rendered
// with [Error], through the service's error writer and logger. a serves
// paths relative to its mount point, so mount it with http.StripPrefix:
//
//	h := http.StripPrefix("/admin/killswitch", nethttp.Admin(a))
//	mux.Handle("/admin/killswitch", h) // the list, without a redirect
//	mux.Handle("/admin/killswitch/", h)
//
// It panics when a is nil, a mistake of configuration caught when the
// server is built.
func Admin(a *killswitch.Admin) http.Handler {
	if a == nil {
		panic("errkit/nethttp: Admin: nil *killswitch.Admin")
	}
	return Handler(a.Serve)
}
