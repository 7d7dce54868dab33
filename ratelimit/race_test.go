//go:build race

package ratelimit

// Under the race detector the memory tests use fewer keys to stay fast; the
// benchmarks and the plain test run report the full million.
const (
	capTestKeys   = 200_000
	footprintKeys = 200_000
)
