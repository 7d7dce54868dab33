// Package killswitch turns the Partner API off for one API key, one
// organization, or everyone, answering the contract's KILL_SWITCH (503)
// with details.scope key, organization or global.
//
// # Model
//
// A Switch is on for a (Scope, ID); the global switch has no ID. It carries
// the operator's Reason, who flipped it (By) and when (At); these are for
// operators and are never sent to API clients. When several switches apply
// to one request the broadest is answered: global, then organization, then
// key. Only the global switch carries retry advice: when the operator gave
// an ExpectedDuration the middleware sets Retry-After to the time left.
//
// # Sources
//
// A Source is a Checker (the per-request check) and a Controller (flip on,
// flip off, list). Both sources keep the whole state in an immutable
// in-memory snapshot behind an atomic pointer, so Check takes no lock, makes
// no network call and allocates nothing.
//
//   - Memory is the embedded default for one process, flipped through its
//     Go methods.
//   - Redis serves a fleet. The switches live in one Redis hash,
//     Prefix+"switches", with fields "global", "organization:<id>" and
//     "key:<id>" whose values are JSON ({"reason","by","at",
//     "expectedDurationMs"}; a field that is present is on whatever its
//     value), plus a "_rev" counter bumped by every write. A write
//     publishes on the channel Prefix+"changes"; every instance subscribes,
//     reloads the full hash on a notification, and also every
//     ResyncInterval, so a missed notification or a Redis restart heals by
//     itself. An operator without the Go API can flip a switch with
//     "HSET <prefix>switches key:<id> '{\"reason\":\"...\"}'" followed by
//     "PUBLISH <prefix>changes x" (or just wait for the resync).
//
// # Redis outages and startup
//
// When Redis cannot be read, every instance keeps enforcing the last state
// it loaded (last-known-good), logs the outage once (and its end), and
// reports it through Stale and LastSync. A hash that disappears after
// having been loaded is not read as "everything is off": Redis restarted
// without persistence must not silently lift every switch. The first
// instance to notice writes the state it enforces back into Redis (only if
// the hash is still missing), announces it, and the fleet is current again.
// Deleting the hash by hand is therefore not a way to clear the switches;
// turn them off one by one (Off, the operator API or HDEL).
//
// An instance that has never loaded the state follows its StartupPolicy:
// StartOpen (the default) enforces nothing until the first load and logs
// an error saying so; StartClosed enforces a global switch until then.
//
// # Middleware
//
// KillSwitch (or KillSwitchWithConfig, or KillSwitchConfig.ToMiddleware)
// checks the key and organization of the authenticated principal: mount it
// after authentication and before the rate limiter, so a switched-off key
// spends no rate-limit tokens. Global checks only the global switch and can
// be mounted before authentication, so that while the whole API is off
// even unauthenticated requests answer KILL_SWITCH without reaching the
// auth backend; the recommended setup uses both. SkipPaths exempts health
// and operator routes. The middleware returns apierror.KillSwitch(scope)
// and leaves the rendering to the errkit error handler.
//
// # Operator API
//
// RegisterAdmin mounts GET (list), PUT and DELETE for /global,
// /organization/:id and /key/:id on an echo group, guarded by an
// AuthorizeFunc the service supplies; its errors are answered in the
// contract's envelope.
package killswitch
