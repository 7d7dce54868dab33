// Package upstream makes the contract's upstream errors from real outbound
// calls: PLATFORM_ERROR from a platform's own error responses, CIRCUIT_OPEN
// from a circuit breaker per (platform, resource), and SCRAPE_FAILED or
// PAYLOAD_TOO_LARGE from fetching caller-given URLs. It imports no web
// framework and no Redis client; the fleet-shared breaker state is in
// upstream/redisstore.
//
// # Platform calls
//
// A [Client] sends calls to one platform (tiktok, meta, apple, instagram or
// appstore). A 2xx response is returned as it is. Anything else is
// PLATFORM_ERROR with details.platform, details.platformCode and
// details.platformMessage decoded from that platform's documented error
// format (TikTok API v2, the Meta Graph API that Instagram shares, the App
// Store Connect API, the App Store Server API; a body in none of them gives
// "http_<status>" and the status text), and details.retryAfterMs from the
// platform's retry window: Retry-After as seconds or an HTTP date (the App
// Store Server API's UNIX milliseconds too), or Meta's
// X-Business-Use-Case-Usage. Without a window retryAfterMs is null, which
// the contract reads as "not transient". A call that gets no response is
// PLATFORM_ERROR too, with platformCode "timeout", "unreachable" or
// "canceled".
//
// platformMessage is the platform's message made safe to forward: capped
// in length, control and bidirectional-override characters removed, URLs
// cut to scheme, host and path, and any credential of our request the
// platform echoed back (the Authorization header, query values) replaced
// by "[redacted]". What we did (method, URL without query, status, the
// platform's trace ID such as TikTok's log_id or Meta's fbtrace_id) is the
// error's cause: logged by httperror's writer with the request ID, never
// rendered.
//
// # Circuit breaker
//
// A [Breaker] holds one [Circuit] per (platform, resource). A circuit
// opens after BreakerConfig.Failures consecutive failures seen by one
// instance (no response, or a 5xx by default; a 4xx is the platform
// working, so it resets the count). While open, every call fails fast with
// CIRCUIT_OPEN: details.resource, and details.retryAfterSeconds, the real
// time left until a call will be let through, in whole seconds rounded up,
// at least 1; the error writer sends the same value as Retry-After. When
// the cooldown ends the circuit is half-open: one call, the probe, goes
// through; its success closes the circuit, its failure re-opens it for a
// full cooldown, and a probe that ends without a verdict (the caller gave
// up) lets the next call probe. While a probe is in flight the other calls
// are told to retry after 1 second, the earliest the probe's verdict can
// let them through.
//
// Refused calls do not extend the cooldown. A refused call costs nothing
// and changes nothing, so retryAfterSeconds is a promise: a caller that
// waits it out is let through (as the probe, or behind a probe that
// succeeded), which is exactly what the retry package's wait-and-probe
// does. Extending the cooldown on every refused call would let the callers
// who retry early keep the circuit open for everyone, and make every
// retryAfterSeconds already sent a lie. What does start a new cooldown is a
// failed probe: that is how "retrying sooner will just extend it" holds,
// without punishing the callers who waited.
//
// A closed call takes no lock and does no I/O: an atomic load on the way
// in and, unless failures were being counted, nothing on the way out.
//
// # Fleet
//
// With a shared [Store] (upstream/redisstore) the open state is the
// fleet's. A circuit opened on instance A is announced at once (Redis
// pub/sub), so instance B refuses calls within a round trip, with the
// same remaining time: A records the instant the cooldown ends, not a
// duration, so the instances' clocks must agree (NTP). An instance that
// missed the announcement learns it at the store's next resync (every
// second by default). The probe is the fleet's: when the cooldown ends
// exactly one call across all instances goes through, the others are told
// to retry after 1 second, and its verdict is announced to all. Failures
// are counted per instance, so the closed path never touches the store:
// zero Redis round trips per closed call. Store calls happen only on state
// changes (one round trip each) and for the probe. When the store is
// unreachable, each instance carries on with its own circuits and logs the
// outage once.
//
// # Fetching caller-given URLs
//
// A [Fetcher] GETs app media and content uploads from URLs callers give.
// Every failure is SCRAPE_FAILED, whose message names the URL without its
// query string or userinfo: a URL that is not absolute http(s); an S3- or
// Cloud Storage-style signed URL whose signature has expired (X-Amz-Date
// with X-Amz-Expires, X-Goog-Date with X-Goog-Expires, or Expires next to
// a Signature), checked before anything is fetched, and an object store's
// expired-signature 403; a host that does not resolve; a connection that
// fails or times out; too many redirects; any non-2xx. A body longer than
// FetcherConfig.MaxBytes is PAYLOAD_TOO_LARGE with details.maxBytes, and
// reading stops at the cap.
//
// The fetcher reaches only the public internet. It resolves each host
// itself and connects to the address it checked, at dial time, for every
// connection, redirects included, so DNS rebinding cannot slip a private
// address in between check and connect. Refused: loopback, RFC 1918,
// link-local (169.254.169.254, the cloud metadata service, included),
// unique-local IPv6, unspecified, multicast, CGNAT, documentation,
// benchmarking and reserved ranges, and IPv4 addresses wrapped in IPv6
// (IPv4-mapped, NAT64, 6to4). A numeric host in any form a resolver might
// accept ("2130706433", "0x7f000001", "127.1", "0177.0.0.1") is read as the
// address it is and judged as such. FetcherConfig.AllowLoopback lets tests
// reach httptest servers; it opens loopback only.
package upstream
