// Package redisstore is the Redis implementation of [killswitch.Source],
// for a fleet of servers that share their kill switches. It is its own
// package so that a service using only the memory store links no Redis
// client.
//
// # Layout
//
// The switches live in one Redis hash, Prefix+"switches", with fields
// "global", "organization:<id>" and "key:<id>" whose values are JSON
// ({"reason","by","at","expectedDurationMs"}; a field that is present is on
// whatever its value), plus a "_rev" counter bumped by every write. A write
// publishes on the channel Prefix+"changes"; every instance subscribes,
// reloads the full hash on a notification, and also every ResyncInterval,
// so a missed notification or a Redis restart heals by itself. An operator
// without the Go API can flip a switch with
// "HSET <prefix>switches key:<id> '{\"reason\":\"...\"}'" followed by
// "PUBLISH <prefix>changes x" (or just wait for the resync).
//
// Check is answered from the state in memory: it takes no lock, makes no
// network call and allocates nothing.
//
// # Redis outages and startup
//
// When Redis cannot be read, every instance keeps enforcing the last state
// it loaded (last-known-good), logs the outage once (and its end), and
// reports it through [Store.Stale] and [Store.LastSync]. A hash that
// disappears after having been loaded is not read as "everything is off":
// Redis restarted without persistence must not silently lift every switch.
// The first instance to notice writes the state it enforces back into Redis
// (only if the hash is still missing), announces it, and the fleet is
// current again. Deleting the hash by hand is therefore not a way to clear
// the switches; turn them off one by one (Off, the operator API or HDEL).
//
// [New] tries one load, bounded by [Config].Timeout, before it returns. An
// instance that has never loaded the state follows its [StartupPolicy]:
// [StartOpen] (the default) enforces nothing until the first load and logs
// an error saying so; [StartClosed] enforces a global switch until then.
package redisstore
