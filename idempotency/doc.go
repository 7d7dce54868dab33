// Package idempotency is the server side of the contract's Idempotency-Key
// promise: "Every retry you do should reuse the original Idempotency-Key ...
// cached responses replay, the underlying work doesn't run twice."
//
// A [Guard] holds the whole state machine and knows no web framework: the
// adapters (nethttp.Idempotency for net/http, middleware.Idempotency for
// echo v4) hand it the request, the route template, the path parameters and
// the handler, and render the error it returns through the service's error
// writer. The Guard never writes an error body itself. It handles requests
// that carry an Idempotency-Key header on the routes it is mounted on (POST
// and PATCH by default):
//
//   - The header must be 1–255 printable ASCII characters (0x20–0x7E); a
//     malformed one, or one sent twice, is answered VALIDATION with an issue
//     whose path is "header:Idempotency-Key". The bad value is never echoed
//     back.
//   - A key belongs to a scope: the caller's API key ID ([principal.KeyID]
//     by default), the HTTP method and the route template. Two callers can
//     use the same key string without colliding. A request with a key but
//     no caller is answered INTERNAL and logged: the authentication
//     middleware is missing in front of the Guard.
//   - The request fingerprint is SHA-256 over the method, the route
//     template, the path parameters (names and values, in route order), the
//     raw query string and the body (see [Fingerprint] for the exact bytes),
//     rendered "sha256:<hex>". Bodies over MaxBodyBytes are refused with
//     PAYLOAD_TOO_LARGE before hashing.
//   - Only work that was done is remembered: a 2xx response (status, the
//     ReplayHeaders and the body) is stored for TTL (24 h by default) and
//     replayed on a repeat with the same fingerprint, with the header
//     "Idempotent-Replayed: true"; the handler does not run again. A
//     handler that writes nothing counts as the 200 net/http sends for it.
//     A returned error, a non-2xx status or a panic releases the key, so a
//     retry after INTERNAL or WORKFLOW_START_FAILED, or after the caller
//     fixed state, runs again.
//   - The same key with a different fingerprint after a stored success is
//     answered IDEMPOTENCY_CONFLICT with details.originalRequestHash and
//     details.currentRequestHash.
//   - The same key while the first request still runs is answered CONFLICT
//     with details.reason "idempotency_key_in_use" and "Retry-After: 1" when
//     the fingerprints are equal (a retry: it may replay once the first
//     request is done), and IDEMPOTENCY_CONFLICT with both hashes straight
//     away when they differ (another request under the same key, whatever
//     the first request's outcome). The first request holds a lease of
//     LeaseTTL (10 s by default) with a random owner token and its
//     fingerprint, renewed every LeaseTTL/3 while its handler runs, so a
//     slow handler keeps the key and a crashed server frees it within
//     LeaseTTL.
//   - The scope holds the route template, the fingerprint also the
//     concrete resource: a key reused on the same route template with other
//     path parameters (POST /v1/projects/p1/content, then
//     /v1/projects/p2/content) and the same body is answered
//     IDEMPOTENCY_CONFLICT, never with the first resource's response.
//     Clients must use a fresh key per operation, as the contract asks.
//   - The response of a request holding the lease is passed through to the
//     client as it is written and also kept in memory until it is stored,
//     up to MaxResponseBytes (1 MiB by default). A 2xx response with a
//     longer body is not stored: the key is released, so a retry runs the
//     handler again, and a warning is logged with the request ID.
//     Idempotent routes should answer with small bodies.
//   - If the store fails or does not answer within StoreTimeout (1 s by
//     default), the request is answered INTERNAL (the client retries with
//     the same key) rather than risk doing the work twice; the cause is
//     logged through requestid.Logger, which carries the request ID, and
//     never sent.
//   - A request answered INTERNAL because its store call timed out never
//     blocks its own retry. The Guard forgets the lease token of a failed
//     Acquire, so the decision lies with the store, which must not leave a
//     lease for that token behind once it answers again (see [Store]).
//     The Redis store does both of the following: an acquisition Redis
//     runs after its caller's deadline (queued while Redis stalled) takes
//     no lease, the deadline being sent in Redis's clock; and an Acquire
//     or Release that got no answer is released by token in the background
//     once Redis answers (compare-and-delete). So once the store is back,
//     the retry runs the work or replays it; CONFLICT
//     idempotency_key_in_use only ever reports a lease a running request
//     holds. (The memory store has no such window.)
//   - Every keyed request the Guard finishes is reported once to
//     Config.Events (event.KindIdempotency: stored, replayed, conflict,
//     in_use, released or failed).
//
// Stores share one constructor shape. [NewMemoryStore] (bounded, expiring,
// no goroutines; the default when no Store is configured, good for one
// process) lives here; the Redis store, shared by every instance of a
// service, is redisstore.New in the subpackage
// github.com/layershq/errkit/idempotency/redisstore, so that a memory-only
// service does not link a Redis client.
package idempotency
