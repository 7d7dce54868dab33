// Package requestid gives every request of a service a request ID,
// req_<ULID>, carried in the request's context.Context and sent as the
// X-Request-Id header on every response, errors included (where it equals
// the envelope's requestId). It knows no web framework: every errkit adapter
// (net/http, echo) stamps requests through a [Stamper].
//
// IDs from one process sort by creation time: the ULID's 48-bit millisecond
// timestamp is followed by the nanosecond within that millisecond (both from
// the monotonic clock) and 60 random bits, so when one ID is generated
// before another starts (same goroutine, or goroutines that synchronise),
// the first sorts before the second even within the same millisecond.
// Generation takes no lock and, on Linux, writes no shared memory (where the
// clock is coarser than a nanosecond, one atomic maximum keeps the time bits
// strictly increasing). The random bits make IDs unguessable from one
// another.
//
// An inbound X-Request-Id is ignored unless [Config].TrustInbound is set, and
// then accepted only when it is a single well-formed ID ([Valid]). Anything
// else is neither echoed nor logged.
package requestid
