package redisclient

import (
	"testing"

	"go.uber.org/goleak"
)

// The gate's probe is a goroutine: none may outlive its test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
