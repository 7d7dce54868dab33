package idempotency

import "time"

// What the external tests (package idempotency_test, which may import
// redisstore) need of the package's internals.

// StoreKey is storeKey.
var StoreKey = storeKey

// Timer is the timer of a lease renewal.
type Timer = timer

// SetAfterFunc replaces the scheduler of g's lease renewals.
func SetAfterFunc(g *Guard, f func(d time.Duration, fn func()) Timer) { g.afterFunc = f }

// SetMemoryClock replaces the time source of s. now must be safe for
// concurrent use.
func SetMemoryClock(s *MemoryStore, now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Messages of the VALIDATION issues.
const (
	MsgEmpty    = msgEmpty
	MsgTooLong  = msgTooLong
	MsgCharset  = msgCharset
	MsgRepeated = msgRepeated
	MsgRequired = msgRequired
)
