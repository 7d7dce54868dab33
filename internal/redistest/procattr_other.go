//go:build !linux

package redistest

import (
	"os/exec"
	"time"
)

// setProcAttr is a no-op outside Linux.
func setProcAttr(cmd *exec.Cmd) {}

// waitState is a no-op outside Linux: the signal is trusted to have
// landed.
func waitState(pid int, timeout time.Duration, states string) error { return nil }
