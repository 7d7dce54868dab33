// Package redisstore is the Redis implementation of [upstream.Store], for
// a fleet of servers that share their circuit breakers. It is its own
// package so that a service with in-process breakers links no Redis client.
//
// # Semantics
//
// A circuit opened on one instance is refused on every instance within a
// pub/sub round trip (and within ResyncInterval if the announcement was
// missed), with the same remaining time: the instant its cooldown ends is
// shared, so the instances' clocks must agree (NTP). When the cooldown
// ends, exactly one call in the fleet probes; its verdict is announced to
// all. Closed calls never reach Redis; each state change costs one round
// trip, and so does asking for the probe.
//
// # Layout
//
// The circuits live in one hash, Prefix+"circuits", with a field per
// circuit ("<platform>:<resource>") whose value is
// "<cooldown end, UNIX ms> <probe lease end, UNIX ms> <probe token>". A
// closed circuit has no field. The hash expires an hour after the last
// cooldown it holds. Changes are announced on the channel
// Prefix+"changes". An operator can close a circuit fleet-wide with
// "HDEL <prefix>circuits <platform>:<resource>" (the instances that have
// it open let their next call probe, find it closed and close too).
//
// # Redis outages
//
// A Redis that cannot be reached is never an error of [New]. Calls to it
// fail within Config.Timeout, and the breakers carry on with their own
// state (see [upstream.BreakerConfig].StoreTimeout); the subscription
// reconnects by itself and a resync follows every reconnection.
package redisstore
