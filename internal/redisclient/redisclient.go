// Package redisclient holds the checks every errkit Redis store makes of
// the client it is given, so that the stores refuse the same clients for
// the same reasons.
package redisclient

import (
	"reflect"

	"github.com/redis/go-redis/v9"
)

// IsNil reports whether c is nil, or a nil pointer in a non-nil interface
// (a typed nil would only fail on the first request).
func IsNil(c redis.UniversalClient) bool {
	if c == nil {
		return true
	}
	v := reflect.ValueOf(c)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// HonoursDeadlines reports whether c honours context deadlines on network
// I/O (ContextTimeoutEnabled on go-redis's client types), without which a
// store's per-call timeout cannot hold. A client type it does not know is
// trusted to.
func HonoursDeadlines(c redis.UniversalClient) bool {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}
