package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/layershq/errkit/middleware"
)

// newEcho4 serves a's routes on echo v4, with errkit's echo v4 adapter (the
// middleware package):
//
//  1. middleware.Install: request IDs, panic recovery, the envelope error
//     handler (and the access log);
//  2. group middleware, by the routes' access: the global kill switch on
//     /v1, then the per-IP limiter on the routes that need no key, or
//     authentication (behind the failed-authentication throttle), the key and organization kill switches,
//     the rate limiter, the body limit and Idempotency-Key handling;
//  3. the handler, whose returned error echo hands to errkit's error
//     handler.
func newEcho4(a *app) (http.Handler, error) {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard) // errkit logs; echo itself has nothing to say

	cfg := middleware.Config{Logger: a.log, Events: a.events}
	cfg.ErrorHandler.StackLogInterval = a.stackLogInterval
	if a.accessLog {
		cfg.AccessLog = &middleware.AccessLogConfig{}
	}
	if err := middleware.Install(e, cfg); err != nil {
		return nil, err
	}

	// Each route's chain is composed once, here, rather than passed to
	// echo as route or group middleware: echo v4 applies those again on
	// every request, one closure allocation per middleware.
	global := middleware.KillSwitch(a.global)
	publicLimit := middleware.RateLimit(a.public)
	keyedChain := []echo.MiddlewareFunc{
		authenticateEcho4(a.authenticate),
		middleware.KillSwitch(a.switches),
		middleware.RateLimit(a.limiter),
		middleware.BodyLimit(a.maxBodyBytes),
		middleware.Idempotency(a.replay),
	}
	notFound := echo4Handler(a.table.notFound)
	rootNotFound := notFound
	v1NotFound := global(applyEcho4(notFound, keyedChain))
	chains := map[access]func(echo.HandlerFunc) echo.HandlerFunc{
		public: func(h echo.HandlerFunc) echo.HandlerFunc { return h },
		open:   func(h echo.HandlerFunc) echo.HandlerFunc { return global(publicLimit(h)) },
		keyed:  func(h echo.HandlerFunc) echo.HandlerFunc { return global(applyEcho4(h, keyedChain)) },
	}
	for _, rt := range a.table.routes {
		// HEAD with GET, as ServeMux does.
		e.Match(rt.methods(), routeTemplate(rt.path), unescapeParams(chains[rt.access](echo4Handler(rt.handler))))
	}
	// Whatever no route serves, after the chain of where it is: unknown
	// /v1 paths and methods need a key first. The not-found routes take
	// echo's own 405s and OPTIONS answers too (echo prefers a not-found
	// route to them), so that table.notFound answers them all.
	e.RouteNotFound("/*", rootNotFound)
	e.RouteNotFound(v1Prefix, v1NotFound)
	e.RouteNotFound(v1Prefix+"/*", v1NotFound)
	// echo matches an empty segment to a parameter ("/v1/content//approve"
	// to /v1/content/:containerId/approve), ServeMux never does: such paths
	// have not-found routes of their own, which echo prefers to the
	// parameter, answered as the catch-all that covers them, on its route
	// template. The covering catch-all alone would not do: to a 404 of a
	// not-found route without Allow, the errkit error handler adds the
	// methods echo's router serves at the path, which would include the
	// route that matches the empty parameter.
	for _, p := range a.table.emptyParamPaths() {
		h, template := rootNotFound, routeTemplate("/")
		if strings.HasPrefix(p, v1Prefix+"/") {
			h, template = v1NotFound, routeTemplate(v1Prefix+"/")
		}
		e.RouteNotFound(p, onTemplate(template, h))
	}

	// Operators: outside /v1, so never rate limited or switched off.
	if err := middleware.RegisterAdmin(e.Group(adminPrefix), a.admin); err != nil {
		return nil, err
	}
	return e, nil
}

// unescapeParams makes echo's path parameters what ServeMux's are: echo
// matches a path with escapes (URL.RawPath set) raw and leaves the escapes
// in the values, ServeMux unescapes them, so that "RATE%5FLIMITED" is
// "RATE_LIMITED" on both, and the idempotency fingerprint, which holds the
// values, is the same for /v1/projects/prj%5Fauto and /v1/projects/prj_auto.
// (It stands in for errkit's echo adapter, whose Idempotency middleware
// reads c.ParamValues() as they are; remove it when the adapter unescapes
// them.)
func unescapeParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		values := c.ParamValues()
		if c.Request().URL.RawPath == "" || len(values) == 0 {
			return next(c) // no escapes: the values are the decoded path's
		}
		unescaped := make([]string, len(values))
		for i, v := range values {
			unescaped[i] = v
			if u, err := url.PathUnescape(v); err == nil {
				unescaped[i] = u
			}
		}
		c.SetParamValues(unescaped...)
		return next(c)
	}
}

// onTemplate runs h as the route template says, whatever route echo
// matched.
func onTemplate(template string, h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.SetPath(template)
		return h(c)
	}
}

// applyEcho4 wraps h in mws; the first runs first.
func applyEcho4(h echo.HandlerFunc, mws []echo.MiddlewareFunc) echo.HandlerFunc {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// echo4Handler runs a framework-free handler on echo v4: echo's path
// parameters become the request's path values (r.PathValue), as ServeMux
// sets them, and the handler's error goes to echo's error handler.
func echo4Handler(h handlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		values := c.ParamValues()
		for i, name := range c.ParamNames() {
			if i < len(values) {
				r.SetPathValue(name, values[i])
			}
		}
		return h(c.Response(), r)
	}
}

// authenticateEcho4 runs the service's authentication as echo middleware:
// a refusal is returned to echo's error handler, and the authenticated
// request (with its principal) replaces the context's.
func authenticateEcho4(authenticate func(http.Header, *http.Request) (*http.Request, error)) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			authed, err := authenticate(c.Response().Header(), c.Request())
			if err != nil {
				return err
			}
			c.SetRequest(authed)
			return next(c)
		}
	}
}
