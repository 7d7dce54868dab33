package redisstore

import "context"

// What the tests need of the store's internals.

// holdReleases stops the background goroutine from releasing pending
// leases, so that a test sees what the other safeguards do on their own,
// or runs releasePending itself.
func holdReleases(s *Store) { s.noRelease.Store(true) }

// resumeReleases lets the background goroutine release pending leases
// again, and wakes it.
func resumeReleases(s *Store) {
	s.noRelease.Store(false)
	s.poke()
}

// pendingReleases returns the leases waiting for a background release.
func pendingReleases(s *Store) []pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pending(nil), s.doubtful...)
}

// addPending queues leases for a background release in one step, in
// order (the store does so one failed call at a time).
func addPending(s *Store, ps ...pending) {
	s.mu.Lock()
	s.doubtful = append(s.doubtful, ps...)
	s.mu.Unlock()
	s.poke()
}

// releaseNow runs one round of background releases on the caller's
// goroutine.
func releaseNow(ctx context.Context, s *Store) { s.releasePending(ctx) }
