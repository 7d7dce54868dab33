package ratelimit

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

func TestPolicyHeader(t *testing.T) {
	tests := []struct {
		class Class
		want  string
	}{
		{Class{Name: "read", Rate: Rate{PerSecond: 20, Burst: 40}}, `"read";q=40;w=2`},
		{Class{Name: "write", Rate: Rate{PerSecond: 3, Burst: 10}}, `"write";q=10;w=4`}, // 3.33 s, rounded up
		{Class{Name: "fast", Rate: Rate{PerSecond: 1000, Burst: 1}}, `"fast";q=1;w=1`},  // never below 1
		{Class{Name: "slow", Rate: Rate{PerSecond: 0.01, Burst: 2}}, `"slow";q=2;w=200`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, PolicyHeader(tt.class), tt.class.Name)
	}
}

func TestStateHeader(t *testing.T) {
	tests := []struct {
		d    Decision
		want string
	}{
		{Decision{Allowed: true, Remaining: 39, ResetAfter: 50 * time.Millisecond}, `"read";r=39;t=1`},
		{Decision{Remaining: 0, RetryAfter: time.Second, ResetAfter: 2 * time.Second}, `"read";r=0;t=2`},
		{Decision{Allowed: true, Remaining: 40}, `"read";r=40;t=0`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, StateHeader("read", tt.d))
	}
}

// TestSetHeaders: setHeaders leaves the header map exactly as Header.Set of
// both fields would, and appending to one field never changes the other.
func TestSetHeaders(t *testing.T) {
	cl := Class{Name: "read", Rate: Rate{PerSecond: 20, Burst: 40}}
	d := Decision{Allowed: true, Limit: 40, Remaining: 39, ResetAfter: 50 * time.Millisecond}
	want := http.Header{}
	want.Set(HeaderRateLimitPolicy, PolicyHeader(cl))
	want.Set(HeaderRateLimit, StateHeader(cl.Name, d))

	got := http.Header{}
	setHeaders(got, cl.Name, PolicyHeader(cl), d)
	assert.Equal(t, want, got)

	// A state value longer than the inline buffer is whole too.
	long := Class{Name: strings.Repeat("c", maxClassName), Rate: Rate{PerSecond: 1, Burst: 1 << 30}}
	big := Decision{Allowed: true, Limit: 1 << 30, Remaining: 1<<30 - 1, ResetAfter: 1000 * time.Hour}
	longGot := http.Header{}
	setHeaders(longGot, long.Name, PolicyHeader(long), big)
	assert.Equal(t, StateHeader(long.Name, big), longGot.Get(HeaderRateLimit))
	assert.Greater(t, len(longGot.Get(HeaderRateLimit)), inlineStateHeader)
	assert.Equal(t, 80, int(unsafe.Sizeof(headerValues{})), "one 80-byte size class")

	got.Add(HeaderRateLimitPolicy, "x")
	assert.Equal(t, []string{`"read";q=40;w=2`, "x"}, got.Values(HeaderRateLimitPolicy))
	assert.Equal(t, []string{`"read";r=39;t=1`}, got.Values(HeaderRateLimit))
}
