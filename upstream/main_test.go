package upstream_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: a body
// not closed, a watcher not stopped, a fake connection not finished.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
