package main

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/layershq/errkit/echo5"
)

// newEcho5 serves a's routes on echo v5, with errkit's echo v5 adapter
// (package echo5):
//
//  1. echo5.Install: request IDs, panic recovery, the envelope error
//     handler (and the access log), all logging to e.Logger, the service's
//     *slog.Logger;
//  2. route middleware, by the routes' access: the global kill switch on
//     /v1, then the per-IP limiter on the routes that need no key, or
//     authentication (behind the failed-authentication throttle), the key and organization kill switches,
//     the rate limiter, the body limit and Idempotency-Key handling;
//  3. the handler, whose returned error echo hands to errkit's error
//     handler.
//
// Unlike echo v4, echo v5 composes a route's middleware once, when the
// route is added (and its e.Use chain once per Use), so the chains are
// passed to echo as route middleware: no request re-applies them.
func newEcho5(a *app) (http.Handler, error) {
	// echo's own logger is the service's: echo v5 logs with *slog.Logger,
	// and echo5.Install defaults to e.Logger.
	e := echo.NewWithConfig(echo.Config{Logger: a.log})

	cfg := echo5.Config{Events: a.events}
	cfg.ErrorHandler.StackLogInterval = a.stackLogInterval
	if a.accessLog {
		cfg.AccessLog = &echo5.AccessLogConfig{}
	}
	if err := echo5.Install(e, cfg); err != nil {
		return nil, err
	}

	global := echo5.KillSwitch(a.global)
	keyedChain := []echo.MiddlewareFunc{
		global,
		authenticateEcho5(a.authenticate),
		echo5.KillSwitch(a.switches),
		echo5.RateLimit(a.limiter),
		echo5.BodyLimit(a.maxBodyBytes),
		echo5.Idempotency(a.replay),
	}
	chains := map[access][]echo.MiddlewareFunc{
		public: nil,
		open:   {global, echo5.RateLimit(a.public)},
		keyed:  keyedChain,
	}
	notFound := echo5Handler(a.table.notFound)
	rootNotFound := notFound
	v1NotFound := applyEcho5(notFound, keyedChain)
	for _, rt := range a.table.routes {
		// HEAD with GET, as ServeMux does.
		e.Match(rt.methods(), routeTemplate(rt.path), echo5Handler(rt.handler), append([]echo.MiddlewareFunc{unescapeParams5}, chains[rt.access]...)...)
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
		e.RouteNotFound(p, onTemplate5(template, h))
	}

	// Operators: outside /v1, so never rate limited or switched off.
	if err := echo5.RegisterAdmin(e.Group(adminPrefix), a.admin); err != nil {
		return nil, err
	}
	return e, nil
}

// unescapeParams5 makes echo's path parameters what ServeMux's are, as
// unescapeParams does on echo v4: echo matches a path with escapes
// (URL.RawPath set) raw and leaves the escapes in the values, ServeMux
// unescapes them, so that "RATE%5FLIMITED" is "RATE_LIMITED" on both, and
// the idempotency fingerprint, which holds the values, is the same for
// /v1/projects/prj%5Fauto and /v1/projects/prj_auto. (echo's
// RouterConfig.UnescapePathParamValues would do it too, but also unescape
// the operator API's wildcard, which echo5.RegisterAdmin unescapes
// itself.)
func unescapeParams5(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		values := c.PathValues()
		if c.Request().URL.RawPath == "" || len(values) == 0 {
			return next(c) // no escapes: the values are the decoded path's
		}
		unescaped := make(echo.PathValues, len(values))
		for i, pv := range values {
			unescaped[i] = pv
			if u, err := url.PathUnescape(pv.Value); err == nil {
				unescaped[i].Value = u
			}
		}
		c.SetPathValues(unescaped)
		return next(c)
	}
}

// onTemplate5 runs h as the route template says, whatever route echo
// matched.
func onTemplate5(template string, h echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		c.SetPath(template)
		return h(c)
	}
}

// applyEcho5 wraps h in mws; the first runs first.
func applyEcho5(h echo.HandlerFunc, mws []echo.MiddlewareFunc) echo.HandlerFunc {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// echo5Handler runs a framework-free handler on echo v5: echo's path
// parameters become the request's path values (r.PathValue), as ServeMux
// sets them, and the handler's error goes to echo's error handler.
func echo5Handler(h handlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		r := c.Request()
		for _, pv := range c.PathValues() {
			r.SetPathValue(pv.Name, pv.Value)
		}
		return h(c.Response(), r)
	}
}

// authenticateEcho5 runs the service's authentication as echo middleware:
// a refusal is returned to echo's error handler, and the authenticated
// request (with its principal) replaces the context's.
func authenticateEcho5(authenticate func(http.Header, *http.Request) (*http.Request, error)) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			authed, err := authenticate(c.Response().Header(), c.Request())
			if err != nil {
				return err
			}
			c.SetRequest(authed)
			return next(c)
		}
	}
}
