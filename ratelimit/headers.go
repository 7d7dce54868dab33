package ratelimit

import (
	"strconv"
	"time"
)

// Header names of the IETF httpapi-ratelimit-headers draft (-10), sent on
// every response of a limited route, admitted or denied.
const (
	// HeaderRateLimitPolicy carries the class's quota policy:
	// "<class>";q=<burst>;w=<seconds to refill an empty bucket>.
	HeaderRateLimitPolicy = "RateLimit-Policy"
	// HeaderRateLimit carries the bucket's state after the decision:
	// "<class>";r=<remaining tokens>;t=<seconds until the bucket is full>.
	HeaderRateLimit = "RateLimit"
)

// PolicyHeader returns the RateLimit-Policy field value of class:
// "<name>";q=<burst>;w=<window in whole seconds, rounded up, at least 1>.
// Class names need no escaping inside the quoted string (see Class.Name).
func PolicyHeader(class Class) string {
	b := make([]byte, 0, len(class.Name)+32)
	b = append(b, '"')
	b = append(b, class.Name...)
	b = append(b, `";q=`...)
	b = strconv.AppendInt(b, int64(class.Rate.Burst), 10)
	b = append(b, ";w="...)
	b = strconv.AppendInt(b, max(ceilSeconds(class.Rate.Window()), 1), 10)
	return string(b)
}

// StateHeader returns the RateLimit field value for a decision on class:
// "<name>";r=<remaining>;t=<seconds until the bucket is full, rounded up>.
func StateHeader(class string, d Decision) string {
	var buf [stateHeaderCap]byte
	return string(appendStateHeader(buf[:0], class, d))
}

// stateHeaderCap is the longest RateLimit field value: a 64-byte class
// name, quotes and two 20-digit integers with their parameter names.
const stateHeaderCap = maxClassName + 2 + 3 + 20 + 3 + 20

// appendStateHeader appends StateHeader(class, d) to b.
func appendStateHeader(b []byte, class string, d Decision) []byte {
	b = append(b, '"')
	b = append(b, class...)
	b = append(b, `";r=`...)
	b = strconv.AppendInt(b, int64(d.Remaining), 10)
	b = append(b, ";t="...)
	return strconv.AppendInt(b, ceilSeconds(d.ResetAfter), 10)
}

// ceilSeconds is d in whole seconds rounded up (0 for d <= 0).
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}
