package redisstore

import (
	"testing"

	"go.uber.org/goleak"
)

// go-redis clients start goroutines (connection pools): none may outlive
// the test that made them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
