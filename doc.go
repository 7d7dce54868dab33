// Package errkit is the Layers Partner API error contract for Go services
// built on echo v4: one catalogue of the 23 stable error codes, typed
// constructors, the JSON envelope, and the middleware and clients around it.
// This package holds no code; the library is its subpackages:
//
//   - apierror: the catalogue (Catalogue, Lookup), a typed constructor per
//     code (apierror.ForbiddenScope("content:write"), apierror.RateLimited(d),
//     ...), the {"error":{code,message,requestId,details}} envelope, and
//     client-side decoding (DecodeResponse, DetailsAs).
//   - middleware: request IDs, the error handler that renders any returned
//     error as the envelope (INTERNAL causes logged, never sent), panic
//     recovery; middleware.Install wires them into an *echo.Echo.
//   - ratelimit: token buckets per (API key, endpoint class), in memory or in
//     Redis, answering RATE_LIMITED with Retry-After.
//   - killswitch: turn the API off per key, organization or globally
//     (KILL_SWITCH).
//   - jobs: the async job path's error shape ("data", not "details") and
//     WORKFLOW_START_FAILED.
//   - idempotency: Idempotency-Key replay and IDEMPOTENCY_CONFLICT.
//   - retry: a client that follows the contract's retry guidance.
//   - principal: the authenticated caller (key ID, organization, scopes).
//   - examples/partnerapi: a runnable demo server (go run ./examples/partnerapi).
//
// The contract itself is executable: apierror_test.go in this directory has
// one row per code with its status, category, retry advice and the exact
// bytes its constructor renders.
package errkit

//go:generate go run ./internal/docgen
