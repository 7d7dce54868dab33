package ratelimit

import (
	"net/http"
	"strconv"
	"time"
	"unsafe"

	"github.com/layershq/errkit/apierror"
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
// "<name>";q=<burst>;w=<window in whole seconds, rounded up, at least 1>
// (the rounding of [apierror.RetryAfterSeconds], so that a client waiting w
// seconds never comes back early). Class names need no escaping inside the
// quoted string (see Class.Name).
func PolicyHeader(class Class) string {
	b := make([]byte, 0, len(class.Name)+32)
	b = append(b, '"')
	b = append(b, class.Name...)
	b = append(b, `";q=`...)
	b = strconv.AppendInt(b, int64(class.Rate.Burst), 10)
	b = append(b, ";w="...)
	b = strconv.AppendInt(b, apierror.RetryAfterSeconds(class.Rate.Window()), 10)
	return string(b)
}

// StateHeader returns the RateLimit field value for a decision on class:
// "<name>";r=<remaining>;t=<seconds until the bucket is full, rounded up;
// 0 when it is full>.
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
	return strconv.AppendInt(b, resetSeconds(d.ResetAfter), 10)
}

// resetSeconds is the t= parameter of the RateLimit field for a bucket
// that is full again after d: [apierror.RetryAfterSeconds] (whole seconds,
// rounded up), except 0 when d <= 0. t= is the time until the quota is
// restored, and the draft makes it a non-negative integer: a full bucket
// is restored now, and its honest value is 0. Retry-After and w= keep
// apierror's floor of 1, since a client told 0 there would retry at once.
// One rounding rule (apierror's), one exception, here.
func resetSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return apierror.RetryAfterSeconds(d)
}

// Canonical forms of the RateLimit header names, the map keys Header.Set
// would use: assigning them directly skips a canonicalization that
// allocates for these two names.
var (
	keyRateLimitPolicy = http.CanonicalHeaderKey(HeaderRateLimitPolicy)
	keyRateLimit       = http.CanonicalHeaderKey(HeaderRateLimit)
)

// headerValues holds both RateLimit header values of one response and the
// bytes of the state value, so that setting both headers costs one
// allocation of 80 bytes (a size class): the buffer fits the state value of
// a class name up to 16 bytes with a bucket of up to 10^9 tokens, every
// class errkit defines; a longer value is appended into an array of its own
// (a second allocation), never truncated.
type headerValues struct {
	vals [2]string
	buf  [inlineStateHeader]byte
}

// inlineStateHeader is the inline part of headerValues: 80 bytes in all.
const inlineStateHeader = 80 - 2*16

// setHeaders sets RateLimit-Policy (policy) and RateLimit on h for a
// decision d on the class named name: what Header.Set of both would do, in
// one allocation. The values are capacity-1 slices, so a later Header.Add
// copies rather than writes into the other header's value.
func setHeaders(h http.Header, name, policy string, d Decision) {
	hv := new(headerValues)
	b := appendStateHeader(hv.buf[:0], name, d)
	hv.vals[0] = policy
	// b is never written again (it lives in hv.buf, or in its own array
	// if a future format outgrew the buffer), so viewing it as a string is
	// safe.
	hv.vals[1] = unsafe.String(unsafe.SliceData(b), len(b))
	h[keyRateLimitPolicy] = hv.vals[0:1:1]
	h[keyRateLimit] = hv.vals[1:2:2]
}
