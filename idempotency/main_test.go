package idempotency

import (
	"testing"

	"go.uber.org/goleak"
)

// The middleware starts a lease-renewing goroutine per request: none may
// outlive its request.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
