package main

import (
	"net/http"
	"path"
	"strings"

	"github.com/layershq/errkit/accesslog"
	"github.com/layershq/errkit/nethttp"
)

// newNetHTTP serves a's routes on net/http's ServeMux, with errkit's nethttp
// adapter:
//
//  1. nethttp.Install: request IDs, panic recovery, the error writer (and
//     the access log);
//  2. per route, by its access: the global kill switch on /v1, then the
//     per-IP limiter on the routes that need no key, or authentication
//     (behind the failed-authentication throttle), the key and organization kill switches, the rate
//     limiter, the body limit and Idempotency-Key handling;
//  3. the handler, whose returned error nethttp.Handler renders.
//
// The concern middleware run inside each ServeMux route, where r.Pattern
// and r.PathValue are set: the idempotency fingerprint holds the path
// parameters, and the limiter and the logs read the route template.
func newNetHTTP(a *app) (http.Handler, error) {
	mux := http.NewServeMux()
	templates := map[string]string{} // ServeMux pattern -> route template

	chains := map[access]func(http.Handler) http.Handler{
		public: func(h http.Handler) http.Handler { return h },
		open:   chain(nethttp.KillSwitch(a.global), nethttp.RateLimit(a.public)),
		keyed: chain(
			nethttp.KillSwitch(a.global),
			authenticateNetHTTP(a.authenticate),
			nethttp.KillSwitch(a.switches),
			nethttp.RateLimit(a.limiter),
			nethttp.BodyLimit(a.maxBodyBytes),
			nethttp.Idempotency(a.replay),
		),
	}
	handle := func(pattern, path string, acc access, h handlerFunc) http.Handler {
		hh := chains[acc](nethttp.Handler(h))
		mux.Handle(pattern, hh)
		templates[pattern] = routeTemplate(path)
		return hh
	}
	for _, rt := range a.table.routes {
		// "GET /p" also matches HEAD: ServeMux's own rule, which the echo
		// wiring mirrors.
		handle(rt.method+" "+rt.path, rt.path, rt.access, rt.handler)
	}
	// Whatever no route serves, after the chain of where it is: unknown
	// /v1 paths and methods need a key first. "/" takes ServeMux's own 404s
	// and 405s too, so that table.notFound answers them all.
	rootNotFound := handle("/", "/", public, a.table.notFound)
	handle(v1Prefix, v1Prefix, keyed, a.table.notFound)
	v1NotFound := handle(v1Prefix+"/", v1Prefix+"/", keyed, a.table.notFound)

	// Operators: outside /v1, so never rate limited or switched off.
	admin := http.StripPrefix(adminPrefix, nethttp.Admin(a.admin))
	for _, pattern := range []string{adminPrefix, adminPrefix + "/"} {
		mux.Handle(pattern, admin)
		templates[pattern] = routeTemplate(pattern)
	}

	cfg := nethttp.Config{
		Logger: a.log,
		Events: a.events,
		Route:  func(r *http.Request) string { return templates[r.Pattern] },
	}
	cfg.ErrorHandler.StackLogInterval = a.stackLogInterval
	if a.accessLog {
		cfg.AccessLog = &accesslog.Config{}
	}
	return nethttp.Install(literalPaths(mux, rootNotFound, v1NotFound), cfg)
}

// literalPaths routes a path that is not clean ("//", "/./", "/../") as it
// is, like echo, rather than letting ServeMux redirect it to the clean path:
// no route has such a path, so it goes to the catch-all that covers it
// (v1NotFound under /v1, rootNotFound elsewhere), with that catch-all's
// pattern (so its route template), and answers NOT_FOUND after the
// catch-all's chain.
func literalPaths(mux *http.ServeMux, rootNotFound, v1NotFound http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case r.Method == http.MethodConnect || p == cleanPath(p):
			mux.ServeHTTP(w, r)
		case strings.HasPrefix(p, v1Prefix+"/"):
			r.Pattern = v1Prefix + "/" // as ServeMux sets it when it routes r
			v1NotFound.ServeHTTP(w, r)
		default:
			r.Pattern = "/"
			rootNotFound.ServeHTTP(w, r)
		}
	})
}

// cleanPath is the path ServeMux would redirect p to (net/http's rule:
// path.Clean, keeping a trailing slash).
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// chain composes middleware; the first runs first.
func chain(mws ...func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		for i := len(mws) - 1; i >= 0; i-- {
			h = mws[i](h)
		}
		return h
	}
}

// authenticateNetHTTP runs the service's authentication as net/http
// middleware: a refusal is rendered by the error writer, and the
// authenticated request (with its principal) goes on.
func authenticateNetHTTP(authenticate func(http.Header, *http.Request) (*http.Request, error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			authed, err := authenticate(w.Header(), r)
			if err != nil {
				nethttp.Error(w, r, err)
				return
			}
			next.ServeHTTP(w, authed)
		})
	}
}
