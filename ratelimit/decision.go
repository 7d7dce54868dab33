package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"
)

// Decision is a limiter's answer for one request: whether it may proceed and
// the state of its bucket after the decision.
type Decision struct {
	// Allowed reports whether the request was admitted (its cost was taken
	// from the bucket).
	Allowed bool
	// Limit is the bucket's capacity (the class's burst).
	Limit int
	// Remaining is the number of whole tokens left in the bucket after the
	// decision, between 0 and Limit.
	Remaining int
	// RetryAfter is zero when Allowed. When denied it is the time after
	// which the caller is told to retry: never earlier than the moment the
	// tokens it asked for exist, and staggered between callers denied
	// together (see the package documentation).
	RetryAfter time.Duration
	// ResetAfter is the time until the bucket is full again if nothing else
	// is taken from it.
	ResetAfter time.Duration
}

// Rate is a token bucket's refill rate and capacity.
type Rate struct {
	// PerSecond is the number of tokens added per second; it must be
	// positive and finite (fractions such as 0.5 are allowed).
	PerSecond float64
	// Burst is the bucket's capacity: how many requests may pass at once
	// after the bucket has been idle. It must be at least 1.
	Burst int
}

// Window is the time an empty bucket of this rate takes to refill to Burst
// tokens (Burst / PerSecond), the "w" of the RateLimit-Policy header.
func (r Rate) Window() time.Duration {
	iv, err := r.interval()
	if err != nil {
		return 0
	}
	return time.Duration(iv * int64(r.Burst))
}

// Class is an endpoint class: a name (the second half of the bucket key) and
// the rate of its buckets. A key gets one bucket per class.
type Class struct {
	// Name identifies the class: 1 to 64 bytes of ASCII letters, digits,
	// '_', '-' and '.'. It appears in the RateLimit headers.
	Name string
	// Rate is the refill rate and burst of the class's buckets.
	Rate Rate
}

// Store decides whether a request may pass. Implementations are safe for
// concurrent use.
//
// Allow takes cost tokens (at least 1, at most the class's burst) from the
// bucket of (key, class.Name). A denial is a Decision with Allowed false and
// a nil error; a non-nil error means no decision could be made (the store
// failed, the store is closed, or the arguments are invalid), and the
// Decision is the zero value. A denial never consumes tokens. Allow
// validates class and cost with [Class.Check].
//
// A [Limiter] makes every decision through its Store's Allow, whatever the
// store's type, so a Store that wraps another (for metrics, tracing or
// tests) sees every request.
type Store interface {
	// Allow decides one request of cost tokens for (key, class.Name): a
	// Decision with Allowed true (tokens taken) or false (denied, RetryAfter
	// set, nothing taken) and a nil error. A non-nil error means the store
	// failed or the arguments were invalid, never a denial; the Decision is
	// then zero.
	Allow(ctx context.Context, key string, class Class, cost int) (Decision, error)
}

var (
	// ErrInvalidClass is returned (wrapped) for a class whose name or rate
	// is invalid.
	ErrInvalidClass = errors.New("ratelimit: invalid class")
	// ErrInvalidCost is returned (wrapped) for a cost below 1 or above the
	// class's burst (a request no bucket of that class could ever admit).
	ErrInvalidCost = errors.New("ratelimit: invalid cost")
	// ErrClosed is returned by a store's Allow after Close.
	ErrClosed = errors.New("ratelimit: store closed")
)

const (
	// maxClassName is the longest class name accepted.
	maxClassName = 64
	// maxWindow bounds Burst/PerSecond so bucket times never overflow:
	// 2^52 ns is about 52 days.
	maxWindow = int64(1) << 52
)

// nameByte marks the bytes a class name may contain.
var nameByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
	}
	return t
}()

// validName reports whether name is a valid class name. Every decision
// checks it (see Class.Check), hence the table.
func validName(name string) bool {
	if len(name) == 0 || len(name) > maxClassName {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !nameByte[name[i]] {
			return false
		}
	}
	return true
}

// interval is the time one token takes to refill, in nanoseconds, rounded
// up so that a bucket never refills faster than its rate.
func (r Rate) interval() (int64, error) {
	if !(r.PerSecond > 0) || math.IsInf(r.PerSecond, 1) {
		return 0, fmt.Errorf("%w: PerSecond must be positive and finite, got %v", ErrInvalidClass, r.PerSecond)
	}
	if r.Burst < 1 {
		return 0, fmt.Errorf("%w: Burst must be at least 1, got %d", ErrInvalidClass, r.Burst)
	}
	f := math.Ceil(1e9 / r.PerSecond)
	if f > float64(maxWindow) {
		return 0, fmt.Errorf("%w: PerSecond %v is too slow", ErrInvalidClass, r.PerSecond)
	}
	iv := int64(f)
	if iv < 1 {
		iv = 1
	}
	// iv*Burst > maxWindow, without the division (every decision gets
	// here) and without overflow.
	if hi, lo := bits.Mul64(uint64(iv), uint64(r.Burst)); hi != 0 || lo > uint64(maxWindow) {
		return 0, fmt.Errorf("%w: Burst/PerSecond exceeds %v", ErrInvalidClass, time.Duration(maxWindow))
	}
	return iv, nil
}

// Check validates a decision of cost tokens on c, as every [Store] must
// before it decides: it returns an error wrapping [ErrInvalidClass] for an
// invalid name or rate, and one wrapping [ErrInvalidCost] unless
// 1 <= cost <= c.Rate.Burst. Otherwise it returns the class's token
// interval: the time one token takes to refill, rounded up to the
// nanosecond so that a bucket never refills faster than its rate, and small
// enough that a full window (Burst intervals) stays under 2^52 ns (about 52
// days), so bucket times never overflow. It is exported for Store
// implementations outside this package (ratelimit/redisstore), so that
// every store accepts exactly the same classes and costs.
func (c Class) Check(cost int) (time.Duration, error) {
	if !validName(c.Name) {
		return 0, fmt.Errorf("%w: name %q must be 1-%d bytes of [A-Za-z0-9_.-]", ErrInvalidClass, c.Name, maxClassName)
	}
	iv, err := c.Rate.interval()
	if err != nil {
		return 0, err
	}
	if cost < 1 || cost > c.Rate.Burst {
		return 0, fmt.Errorf("%w: cost %d outside [1, burst %d]", ErrInvalidCost, cost, c.Rate.Burst)
	}
	return time.Duration(iv), nil
}

// Validate reports whether c is usable: a valid name and rate. It is
// [Class.Check] of one token.
func (c Class) Validate() error {
	_, err := c.Check(1)
	return err
}
