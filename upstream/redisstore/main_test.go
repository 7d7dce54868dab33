package redisstore_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind (a Store
// or a go-redis client not closed).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
