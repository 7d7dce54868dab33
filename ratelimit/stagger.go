package ratelimit

import "time"

// StaggerSlots is the number of distinct retry times a store hands to
// callers denied on one bucket before its next admission (see the package
// documentation). Every store staggers over this many slots (the Redis
// store passes it to its script), so that a fleet and a single server tell
// the same retry times.
const StaggerSlots = 16

// staggerStep is the distance between two consecutive stagger slots: the
// time one more request of this cost takes to refill (so the k-th caller in
// line is told when the k-th request's tokens exist), but never more than
// 1/StaggerSlots of the bucket's full refill window, so that all slots fit in
// one window.
func staggerStep(increment, limit int64) int64 {
	return min(increment, limit/StaggerSlots)
}

// bucketState is a bucket's state: the theoretical arrival time (the moment
// the bucket would be full again, in the store's clock) and the number of
// callers denied since the last admission, modulo StaggerSlots.
type bucketState struct {
	tat    int64
	denied int64
}

// decide applies one request of cost tokens (increment = cost*interval) to
// a bucket at time now, with the generic cell rate algorithm: the bucket is
// full when tat <= now and holds (now - (tat - limit)) / interval tokens
// otherwise. It returns the decision and the bucket's new state.
//
// Admitted: tat advances by the increment and the denial counter resets.
// Denied: tat is unchanged and the caller is told to come back at
// allowAt + denied*step, the denied-th slot after the moment its tokens
// exist; the counter advances.
func decide(st bucketState, now, interval, increment int64, burst int) (Decision, bucketState) {
	limit := interval * int64(burst)
	tat := max(st.tat, now)
	newTat := tat + increment
	allowAt := newTat - limit
	if allowAt <= now {
		return Decision{
			Allowed:    true,
			Limit:      burst,
			Remaining:  int((now - allowAt) / interval),
			ResetAfter: time.Duration(newTat - now),
		}, bucketState{tat: newTat}
	}
	step := staggerStep(increment, limit)
	return Decision{
			Limit:      burst,
			Remaining:  int(max(0, now-(tat-limit)) / interval),
			RetryAfter: time.Duration(allowAt - now + st.denied*step),
			ResetAfter: time.Duration(tat - now),
		}, bucketState{
			tat:    tat,
			denied: (st.denied + 1) % StaggerSlots,
		}
}
