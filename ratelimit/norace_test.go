//go:build !race

package ratelimit

// Without the race detector the memory tests use a million distinct keys.
const (
	capTestKeys   = 1_000_000
	footprintKeys = 1_000_000
)
