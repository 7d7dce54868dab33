package httperror_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind (the listener
// tests start servers).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
