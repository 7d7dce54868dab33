package nethttp_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/layershq/errkit/nethttp"
)

// The rate limiter's wire behaviour (the route's class found by its
// pattern, the RateLimit headers, RATE_LIMITED, unauthenticated requests
// not limited) is checked by the conformance suite (conformance_test.go).

func TestRateLimitNilLimiterPanics(t *testing.T) {
	assert.PanicsWithValue(t, "errkit/nethttp: RateLimit: nil *ratelimit.Limiter", func() { nethttp.RateLimit(nil) })
}
