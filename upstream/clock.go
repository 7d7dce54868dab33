package upstream

import "time"

// Clock is the time source of a [Breaker], a [Client] and a [Fetcher]: the
// breaker's cooldowns, an HTTP-date Retry-After and a signed URL's expiry
// are all read from it. Tests inject one to move time without sleeping.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
}

// SystemClock is the real clock, time.Now.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// clockOr returns c, or SystemClock when c is nil.
func clockOr(c Clock) Clock {
	if c == nil {
		return SystemClock
	}
	return c
}
