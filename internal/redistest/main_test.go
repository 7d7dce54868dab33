package redistest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the helper leaks no goroutines (process waiters,
// go-redis clients) past the tests that used it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
