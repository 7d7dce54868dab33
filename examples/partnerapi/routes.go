package main

import (
	"net/http"
	"slices"
	"strings"

	"github.com/layershq/errkit/apierror"
)

// access says what runs in front of a route's handler.
type access int

const (
	// public routes run the handler alone: health, never switched off.
	public access = iota
	// open routes are under /v1 but need no API key: the global kill
	// switch, then the handler.
	open
	// keyed routes need an API key: the global kill switch,
	// authentication, the key and organization kill switches, the rate
	// limiter, the body limit and Idempotency-Key handling, then the
	// handler (whose scope check is part of it, see scoped).
	keyed
)

// route is one route of the API, framework-free. Every framework's wiring
// mounts the same table.
type route struct {
	// method is the HTTP method; a GET route answers HEAD too.
	method string
	// path is the path in ServeMux syntax ("/v1/content/{containerId}").
	path string
	// access is what runs in front of handler.
	access access
	// handler is the route's business logic.
	handler handlerFunc
}

// routes is the API: every route and what runs in front of it. Anything
// the table does not serve answers NOT_FOUND (see [table.notFound]); under
// /v1 it runs the keyed chain first, so an unknown /v1 route without a key
// is UNAUTHENTICATED, as any /v1 route is. The operator API at
// /admin/killswitch is mounted beside the table.
func (h *handlers) routes() []route {
	return []route{
		{http.MethodGet, "/healthz", public, healthz},
		{http.MethodGet, "/v1/errors", open, listErrors},
		{http.MethodGet, "/v1/errors/{code}/example", open, errorExample},
		{http.MethodGet, "/v1/whoami", keyed, whoami},
		{http.MethodPost, "/v1/projects/{projectId}/content", keyed, scoped(scopeContentWrite, h.createContent)},
		{http.MethodGet, "/v1/content/{containerId}", keyed, scoped(scopeContentRead, h.getContent)},
		{http.MethodPost, "/v1/content/{containerId}/approve", keyed, scoped(scopeContentWrite, h.approve)},
		{http.MethodPost, "/v1/content/{containerId}/reject", keyed, scoped(scopeContentWrite, h.reject)},
		{http.MethodPost, "/v1/content/{containerId}/schedule", keyed, scoped(scopeContentWrite, h.schedule)},
		{http.MethodPost, "/v1/content/{containerId}/publish", keyed, scoped(scopeContentWrite, h.publish)},
		{http.MethodPost, "/v1/apps/{appId}/media", keyed, scoped(scopeContentWrite, h.media)},
		{http.MethodGet, "/v1/jobs/{jobId}", keyed, scoped(scopeJobsRead, h.getJob)},
	}
}

// v1Prefix is the path of the versioned API; everything below it that no
// route serves runs the keyed chain and answers NOT_FOUND.
const v1Prefix = "/v1"

// adminPrefix is where the operator API is mounted.
const adminPrefix = "/admin/killswitch"

// methods returns the methods a route serves: HEAD with GET.
func (rt route) methods() []string {
	if rt.method == http.MethodGet {
		return []string{http.MethodGet, http.MethodHead}
	}
	return []string{rt.method}
}

// table is the route table with the Allow value of each of its paths.
type table struct {
	routes []route
	paths  []tablePath
}

// tablePath is one path of the table and the methods its routes serve.
type tablePath struct {
	segments []string // "{name}" matches any non-empty segment
	allow    string   // sorted, ", "-separated, HEAD with GET
}

func newTable(routes []route) *table {
	t := &table{routes: routes}
	index := map[string]int{}
	methods := map[string][]string{}
	for _, rt := range routes {
		if _, seen := index[rt.path]; !seen {
			index[rt.path] = len(t.paths)
			t.paths = append(t.paths, tablePath{segments: strings.Split(rt.path, "/")})
		}
		methods[rt.path] = append(methods[rt.path], rt.methods()...)
	}
	for path, i := range index {
		m := methods[path]
		slices.Sort(m)
		t.paths[i].allow = strings.Join(slices.Compact(m), ", ")
	}
	return t
}

// allow returns the Allow value of the table path that escapedPath (a
// request's URL.EscapedPath()) matches, segment by segment as ServeMux
// matches, and "" when it matches none.
func (t *table) allow(escapedPath string) string {
	segs := strings.Split(escapedPath, "/")
next:
	for _, p := range t.paths {
		if len(p.segments) != len(segs) {
			continue
		}
		for i, want := range p.segments {
			if strings.HasPrefix(want, "{") {
				if segs[i] == "" {
					continue next
				}
			} else if segs[i] != want {
				continue next
			}
		}
		return p.allow
	}
	return ""
}

// notFound answers whatever the table does not serve: NOT_FOUND, as the
// contract answers both an unknown path and a method a path does not serve
// (a 405), with Allow listing the methods in the second case. Every
// framework's wiring sends its router's leftovers here, so neither router's
// own 404, 405 or OPTIONS answer (their Allow values differ) reaches a
// client.
func (t *table) notFound(w http.ResponseWriter, r *http.Request) error {
	if allow := t.allow(r.URL.EscapedPath()); allow != "" {
		w.Header().Set("Allow", allow)
	}
	return apierror.NotFound()
}

// emptyParamPaths returns the paths, in echo's syntax, on which echo's
// router would match an empty segment to a route's parameter, which
// ServeMux never does: for every parameter before a route's last segment,
// the route's path up to it, the parameter's segment left empty, then a
// catch-all ("/v1/content//*" for /v1/content/{containerId}/approve). A
// parameter in the last segment is never matched empty by echo.
func (t *table) emptyParamPaths() []string {
	var out []string
	for _, rt := range t.routes {
		segs := strings.Split(rt.path, "/")
		for i, seg := range segs[:len(segs)-1] {
			if strings.HasPrefix(seg, "{") {
				p := routeTemplate(strings.Join(segs[:i], "/")) + "//*"
				if !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// routeTemplate is the route template every framework reports for a
// ServeMux path, in echo's syntax ("/v1/content/:containerId"; a trailing
// "/" subtree is "/*"). It is what the access log's "route" field says and
// what the rate limiter and the idempotency guard scope by, so an
// Idempotency-Key retried on an instance of the other framework in a mixed
// fleet still replays, and logs read the same.
func routeTemplate(path string) string {
	var b strings.Builder
	for i, seg := range strings.Split(path, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			b.WriteString(":" + strings.TrimSuffix(name, "}"))
			continue
		}
		b.WriteString(seg)
	}
	s := b.String()
	if strings.HasSuffix(s, "/") {
		s += "*"
	}
	return s
}
