package idempotency

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// ErrLeaseLost is returned by [Store].Complete and Renew when the caller's
// token no longer owns the lease (it expired and was taken over, or was
// released). Complete stores nothing in that case.
var ErrLeaseLost = errors.New("idempotency: lease lost")

// State is what [Store].Acquire found under a key.
type State int

const (
	// Acquired means the key was free and the caller now holds its lease.
	Acquired State = iota + 1
	// InProgress means another owner holds a live lease on the key.
	InProgress
	// Completed means a successful response is stored under the key.
	Completed
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Acquired:
		return "acquired"
	case InProgress:
		return "in_progress"
	case Completed:
		return "completed"
	}
	return "unknown"
}

// Record is a stored successful response.
type Record struct {
	// Fingerprint is the request fingerprint (see Fingerprint) of the
	// request that produced the response.
	Fingerprint string
	// Status is the HTTP status of the response (2xx).
	Status int
	// Header holds the response headers chosen for replay.
	Header http.Header
	// Body is the response body.
	Body []byte
}

// Lookup is the result of [Store].Acquire.
type Lookup struct {
	// State says whether the lease was acquired, is held by another owner,
	// or a response is stored.
	State State
	// Record is the stored response when State is Completed, else nil.
	Record *Record
	// Fingerprint is, when State is InProgress, the fingerprint of the
	// request holding the lease, as given to Acquire. It is "" in the
	// other states.
	Fingerprint string
}

// Store keeps leases and stored responses. Keys are opaque fixed-length
// strings chosen by the [Guard]; tokens are random owner tokens. All
// methods must be safe for concurrent use, from one process ([MemoryStore])
// or many (redisstore.Store). A Store must honour its context's deadline:
// the Guard bounds every call by Config.StoreTimeout through it.
//
// The Guard forgets the token of an Acquire that failed and answers
// INTERNAL, and its client then retries with the same key. A Store that can
// fail without knowing whether the acquisition happened (a network store
// whose reply timed out) must make sure no lease of that token outlives the
// failure once the store answers again (release it by token, or refuse an
// acquisition that arrives after the caller's deadline), or the retry is
// answered "in use" for a lease nobody holds. The same goes for a Release
// that failed.
type Store interface {
	// Acquire atomically looks key up: when a record is stored it returns
	// Completed with the record; when another owner holds a live lease it
	// returns InProgress with the fingerprint that owner acquired it with;
	// otherwise it takes the lease for token, remembering fingerprint (the
	// request fingerprint of the caller) and expiring after leaseTTL, and
	// returns Acquired.
	Acquire(ctx context.Context, key, token, fingerprint string, leaseTTL time.Duration) (Lookup, error)
	// Renew extends the lease of token on key to leaseTTL from now. It
	// returns ErrLeaseLost when token does not hold the lease.
	Renew(ctx context.Context, key, token string, leaseTTL time.Duration) error
	// Complete atomically replaces the lease of token on key by rec, kept
	// for ttl. It returns ErrLeaseLost, storing nothing, when token does not
	// hold the lease.
	Complete(ctx context.Context, key, token string, rec Record, ttl time.Duration) error
	// Release deletes the lease of token on key, and does nothing when token
	// does not hold it (compare-and-delete).
	Release(ctx context.Context, key, token string) error
}
