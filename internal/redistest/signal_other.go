//go:build !unix

package redistest

import "os"

// Without SIGSTOP and SIGCONT, Pause and Resume fail the test.
var sigStop, sigCont os.Signal
