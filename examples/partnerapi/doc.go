// Command partnerapi is a runnable demo of the Layers Partner API in which
// every piece of errkit works for real: request IDs and the error envelope,
// kill switches (killswitch), rate limits per API key and endpoint class
// (ratelimit), Idempotency-Key replay (idempotency) and job failures (jobs),
// in front of a small seeded in-memory domain.
//
//	go run ./examples/partnerapi
//
// starts it on 127.0.0.1:8080 on echo v4 with everything in memory.
// -framework echo5 serves the same API on echo v5, through errkit's echo5
// adapter, and -framework nethttp on net/http's ServeMux, through errkit's
// nethttp adapter; every route, status, header and body byte is the same
// (TestSameWire holds them to it). With -redis redis://127.0.0.1:6379/0 the
// rate limits, kill switches and idempotency records live in Redis, and
// several instances form one fleet, of one framework or of several: an
// echo v4 instance and an echo v5 one share buckets, kill switches and
// replays, as a fleet does in the middle of a move from v4 to v5.
// -redis-cluster puts the same stores on a Redis Cluster.
//
// The business logic is written once, against net/http: the handlers
// (handlers.go, errorsroute.go) read *http.Request (path parameters with
// r.PathValue), write successes and return errors; the route table
// (routes.go) says which middleware each route needs; server.go builds the
// stores and errkit's framework-free guards. Only routing and wiring are per
// framework, one file each: server_echo4.go, server_echo5.go and
// server_nethttp.go. Each mounts the table in the order a service should
// use:
//
//  1. the adapter's Install: request IDs, panic recovery, the envelope error
//     writer (and, with -access-log, one log line per request);
//  2. the global kill switch on /v1, before authentication;
//  3. on the routes that need no key, a token bucket per client IP
//     (clientip); on the others, the service's authentication (errkit's
//     bearer), which records the caller with principal.Set, behind a
//     throttle of failed authentication per client IP
//     (ratelimit.Throttle);
//  4. the key and organization kill switches;
//  5. the rate limiter, per (key ID, endpoint class);
//  6. the 1 MiB body limit;
//  7. Idempotency-Key handling on POST;
//  8. the route's scope check, then the handler.
//
// Handlers return *apierror.Error values (or any error) and never write an
// error body themselves; JSON bodies are decoded strictly (jsonbody). The
// http.Server cuts slow headers, bodies, responses and idle keep-alives
// (-read-header-timeout, -read-timeout, -write-timeout, -idle-timeout), and
// without -admin-token the operator token is random, printed once. Whatever the table does not serve answers
// NOT_FOUND (with Allow when only the method is wrong) through the same
// chain on every framework, rather than through the router's own 404, 405
// or OPTIONS answers. Every framework reports the same route templates
// (echo's syntax, "/v1/content/:containerId") to logs, the rate limiter and
// the idempotency fingerprint, so a mixed fleet shares buckets and replays.
// GET /v1/errors lists the catalogue and GET /v1/errors/{code}/example
// answers any code exactly as the API would.
//
// Two routes make real outbound calls through errkit's upstream package:
// POST /v1/content/{containerId}/publish publishes an approved container to
// a platform through the platform client and its circuit breaker
// (PLATFORM_ERROR, CIRCUIT_OPEN), and POST /v1/apps/{appId}/media fetches a
// caller-given URL through the fetcher (SCRAPE_FAILED, PAYLOAD_TOO_LARGE,
// private networks refused). Without -platform-base the platform is a fake
// on a loopback port of the demo's own, answering in each platform's real
// error format (README.md says how to make it fail each way), so the demo
// still needs no network.
package main
