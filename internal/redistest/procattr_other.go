//go:build !linux

package redistest

import "os/exec"

// setProcAttr is a no-op outside Linux.
func setProcAttr(cmd *exec.Cmd) {}
