// Package killswitch turns the Partner API off for one API key, one
// organization, or everyone, answering the contract's KILL_SWITCH (503)
// with details.scope key, organization or global. It knows no web
// framework: it works on *http.Request, http.Header and
// http.ResponseWriter, and the adapters (package nethttp for net/http, the
// middleware package for echo v4) only translate.
//
// # Model
//
// A [Switch] is on for a (Scope, ID); the global switch has no ID. It
// carries the operator's Reason, who flipped it (By) and when (At); these
// are for operators and are never sent to API clients. When several
// switches apply to one request the broadest is answered: global, then
// organization, then key. Only the global switch carries retry advice: when
// the operator gave an ExpectedDuration, Retry-After is set to the time
// left.
//
// # Stores
//
// A [Source] is a [Checker] (the per-request check) and a [Controller]
// (flip on, flip off, list). Every store keeps the whole state in an
// immutable in-memory [Snapshot], so Check takes no lock, makes no network
// call and allocates nothing. Stores share one constructor shape:
//
//   - [NewMemoryStore](MemoryConfig) (*MemoryStore, error): the embedded
//     default for one process, flipped through its Go methods or the
//     operator API.
//   - redisstore.New(client, redisstore.Config) (*redisstore.Store, error),
//     in package killswitch/redisstore: a fleet sharing its switches
//     through Redis, with pub/sub propagation, periodic resync,
//     last-known-good enforcement during outages and a startup policy. It
//     runs goroutines until Close.
//
// # Enforcement
//
// A [Guard] ([New]) decides for one request: [Guard.Check] returns nil, or
// apierror.KillSwitch(scope) after setting Retry-After where it applies;
// the adapter renders the error through the service's error writer and
// does not run the handler. Mount a guard after authentication and before
// the rate limiter, so a switched-off key spends no rate-limit tokens. A
// second guard with [Config].GlobalOnly can be mounted before
// authentication, so that while the whole API is off even unauthenticated
// requests answer KILL_SWITCH without reaching the auth backend; the
// recommended setup uses both. [SkipPaths] exempts health and operator
// routes.
//
// # Operator API
//
// [Admin] ([NewAdmin]) is the operator API as a plain http.Handler: GET
// (list), PUT and DELETE for /global, /organization/{id} and /key/{id},
// relative to where it is mounted, every request guarded by the service's
// [AuthorizeFunc]. [Admin.Serve] returns its errors so that an adapter
// renders them through the service's error writer and logger
// (nethttp.Admin, the echo middleware package's RegisterAdmin);
// [Admin.ServeHTTP] renders them itself, for standalone use.
package killswitch
