package main

import (
	"flag"
	"path/filepath"
	"runtime"
	"testing"

	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "regenerate every generated file (go run ./internal/docgen does the same)")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// repoRoot is the repository root, found from this file's location so that
// it does not depend on the working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}
