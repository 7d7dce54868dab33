package ratelimit

import (
	"fmt"
	"net/http"
	"strings"
)

// The default endpoint classes.
const (
	// ClassRead is the default class of GET and HEAD requests.
	ClassRead = "read"
	// ClassWrite is the default class of every other method.
	ClassWrite = "write"
)

// Default rates of the default classes.
var (
	// DefaultReadRate is the rate of ClassRead when Classes is nil:
	// 20 requests per second, bursts of 40.
	DefaultReadRate = Rate{PerSecond: 20, Burst: 40}
	// DefaultWriteRate is the rate of ClassWrite when Classes is nil:
	// 5 requests per second, bursts of 10.
	DefaultWriteRate = Rate{PerSecond: 5, Burst: 10}
)

// MethodClass is the default [Config].ClassFunc: [ClassRead] for GET and
// HEAD, [ClassWrite] for every other method.
func MethodClass(r *http.Request) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return ClassRead
	}
	return ClassWrite
}

// routeTable maps a route template to classes by method; the method ""
// applies to any method.
type routeTable map[string]map[string]string

// compileRoutes parses Config.Routes: keys "METHOD /template" or
// "/template", values a class of classes or "" (not limited).
func compileRoutes(routes map[string]string, classes map[string]classEntry) (routeTable, error) {
	if len(routes) == 0 {
		return nil, nil
	}
	t := make(routeTable, len(routes))
	for k, class := range routes {
		method, path := "", k
		if i := strings.IndexByte(k, ' '); i >= 0 {
			method, path = k[:i], strings.TrimLeft(k[i+1:], " ")
			if method == "" || strings.ToUpper(method) != method {
				return nil, fmt.Errorf("ratelimit: Routes key %q: method must be upper case", k)
			}
		}
		if !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("ratelimit: Routes key %q: route template must start with '/'", k)
		}
		if _, ok := classes[class]; !ok && class != "" {
			return nil, fmt.Errorf("ratelimit: Routes key %q names class %q, which is not in Classes", k, class)
		}
		if t[path] == nil {
			t[path] = make(map[string]string, 1)
		}
		t[path][method] = class
	}
	return t, nil
}

// lookup returns the class of route for method and whether the table has
// one. route is a route template; anything before its first '/' (the
// "METHOD " and host of a ServeMux pattern) is ignored, since the method
// is the request's own.
func (t routeTable) lookup(route, method string) (string, bool) {
	if t == nil {
		return "", false
	}
	if i := strings.IndexByte(route, '/'); i > 0 {
		route = route[i:]
	}
	m, ok := t[route]
	if !ok {
		return "", false
	}
	if class, ok := m[method]; ok {
		return class, true
	}
	if method == http.MethodHead {
		// A GET route serves HEAD too (ServeMux, echo's Match): it is
		// limited as that route.
		if class, ok := m[http.MethodGet]; ok {
			return class, true
		}
	}
	class, ok := m[""]
	return class, ok
}
