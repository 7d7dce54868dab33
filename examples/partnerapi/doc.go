// Command partnerapi is a runnable demo of the Layers Partner API in which
// every piece of errkit works for real: request IDs and the error envelope
// (middleware), kill switches (killswitch), rate limits per API key and
// endpoint class (ratelimit), Idempotency-Key replay (idempotency) and job
// failures (jobs), in front of a small seeded in-memory domain.
//
//	go run ./examples/partnerapi
//
// starts it on 127.0.0.1:8080 with everything in memory. With -redis
// redis://127.0.0.1:6379/0 the rate limits, kill switches and idempotency
// records live in Redis, and several instances form one fleet.
//
// The wiring, in server.go, is the order a service should use:
//
//  1. middleware.Install: request IDs, panic recovery, the envelope error
//     handler (and, with -access-log, one log line per request);
//  2. the global kill switch on /v1, before authentication;
//  3. the service's authentication, which records the caller with
//     principal.Set;
//  4. the key and organization kill switches;
//  5. the rate limiter, per (key ID, endpoint class);
//  6. the 1 MiB body limit;
//  7. Idempotency-Key handling on POST;
//  8. per-route scope checks, then the handler.
//
// Handlers return *apierror.Error values (or any error) and never write an
// error body themselves. GET /v1/errors lists the catalogue and
// GET /v1/errors/:code/example answers any code exactly as the API would.
package main
