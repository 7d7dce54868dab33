//go:build unix

package redistest

import (
	"os"
	"syscall"
)

// The signals that pause and resume a server.
var sigStop, sigCont os.Signal = syscall.SIGSTOP, syscall.SIGCONT
