// Package ratelimit limits requests with token buckets per (API key ID,
// endpoint class) and answers RATE_LIMITED when a bucket is empty, as the
// contract says: "Token bucket empty for (api_key_id, endpoint_class).
// Retry-After header and details.retryAfterMs tell you when."
//
// # Decisions
//
// A Store answers a Decision (allowed, limit, remaining, retry-after,
// reset-after) for a key, a Class (name, rate per second, burst) and a cost.
// A denial is a Decision; an error always means "no decision" (the store
// failed), never "denied". Every decision goes through the Store interface
// (there is no fast path for a particular store), so a Store that wraps
// another sees every request. Two stores are provided:
//
//   - [MemoryStore], the in-process default: decisions that never allocate
//     and never contend on a global lock (the store is sharded by a seeded
//     hash of (class, key)), a monotonic clock (a wall-clock step can
//     neither refill nor drain buckets), and a hard cap on tracked buckets:
//     an insert into a full shard drops refilled buckets (free: a full
//     bucket equals a new one) or, failing that, the one closest to full.
//     A background sweeper drops refilled buckets a small batch at a time;
//     Close stops it.
//   - redisstore.Store (package ratelimit/redisstore, so that a
//     memory-only service links no Redis client), for a fleet: one Lua
//     script per decision (EVALSHA, EVAL when Redis does not have it), one
//     key per bucket with the key ID as Cluster hash tag, Redis's clock
//     (TIME), a TTL that expires the key when the bucket is full, and a
//     short per-call timeout.
//
// A Store written elsewhere validates its arguments with [Class.Check] and
// staggers over [StaggerSlots], as both of these do.
//
// Both run the same algorithm: GCRA (the generic cell rate algorithm), which
// is a token bucket stored as one timestamp, the theoretical arrival time
// (TAT) at which the bucket will be full. A bucket holds
// (now - (TAT - burst·interval)) / interval tokens; a request of cost c
// passes when TAT + c·interval - burst·interval <= now, and then moves TAT
// forward by c·interval.
//
// # Staggered resets
//
// The contract tells clients "Don't add jitter; the server already staggered
// your bucket reset." The stores keep, per bucket, the number k of callers
// denied since the last admission (modulo 16). A denied caller whose tokens
// exist at allowAt (the earliest moment the request could pass) is told to
// retry at
//
//	allowAt + k·step,  step = min(c·interval, burst·interval/16)
//
// and k advances. Callers denied together therefore get up to 16 distinct
// retry times, spread over at most one full refill window (burst·interval).
// When the burst is at least 16·c, step is exactly the time one more request
// takes to refill: the k-th caller in line is told the moment the k-th
// request after it can pass, which is both honest and staggered. No caller
// is ever told a time earlier than allowAt, so a caller who waits exactly
// RetryAfter (details.retryAfterMs, rounded up to the millisecond, or the
// Retry-After header, rounded up to the second) finds its tokens there unless
// a caller ahead of it in line took them. An admission resets k to 0, so a
// lone denied caller is told exactly allowAt.
//
// # Limiter
//
// A [Limiter] (built by [New] from a [Config]) is the whole rate-limit
// decision of one request, free of any web framework: the adapters
// (nethttp.RateLimit for net/http, middleware.RateLimit for echo) hand
// [Limiter.Limit] the response header, the request and its route template,
// and answer the error it returns. Buckets are keyed by the authenticated
// key ID ([principal.KeyID] by default; requests without a key are not
// limited, so authentication must run first) and the endpoint class of the
// route template (never the raw URL path): Routes maps templates to
// classes, ClassFunc handles the rest (default: read for GET and HEAD,
// write otherwise). Every limited response, admitted or denied, carries the
// draft-10 RateLimit-Policy ("<class>";q=<burst>;w=<seconds>) and RateLimit
// ("<class>";r=<remaining>;t=<seconds until full>) fields. A denied request
// gets apierror.RateLimited(retryAfter): 429 with details.retryAfterMs and
// the matching Retry-After header, which Limit sets and errkit's error
// writer renders identically.
//
// # Store failures
//
// A decision that cannot be made (Redis down or slow, store closed, a class
// missing from Classes) is logged with the request ID
// ([requestid.Logger]) and passed to OnStoreError (for metrics). By default
// the limiter fails open: the request passes, without RateLimit headers.
// With FailClosed it is answered INTERNAL (500, the generic message; the
// cause is logged, never rendered). A store failure is never answered
// RATE_LIMITED.
//
// # Throttling failed authentication
//
// A [Throttle] (built by [NewThrottle]) counts failed authentications per
// client IP instead of requests: [Throttle.Fail] spends a token of the IP's
// failure budget in a Store after a failed authentication, and
// [Throttle.Check], before authentication, refuses a request RATE_LIMITED
// with Retry-After, a right key included, once the IP's budget is spent,
// or, once the IP has a failure on record, when the attempts of that IP in
// flight (checked, their outcome not known yet) use up what is left of it,
// so that guesses sent all at once get no more lookups than guesses sent
// one by one. An IP that never failed is not reserved: its requests may
// authenticate as many at once as they like. Check makes no store
// call; an attempt ends with Fail, with [Throttle.Done] after a successful
// authentication, and at the latest when its request ends. Clients that
// authenticate are never charged; see [Throttle] for the reasoning and
// for what a fleet sharing a Redis store gets (the budget is the fleet's,
// the attempts in flight are counted per instance).
package ratelimit
