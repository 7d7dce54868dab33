//go:build linux

package redistest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// setProcAttr makes the kernel kill redis-server if the test binary dies
// without running its cleanups (for example on a test timeout panic).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// waitState waits until /proc reports the process in one of states (its
// stat field 3: "T" stopped, "S"/"R" running), so that Pause returns only
// once the server can no longer answer, up to timeout.
func waitState(pid int, timeout time.Duration, states string) error {
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// pid (comm) state ...: comm may hold spaces, so take what follows
		// the last ')'.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && strings.IndexByte(states, b[i+2]) >= 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d not in state %q after %v: %s", pid, states, timeout, b)
		}
		time.Sleep(time.Millisecond)
	}
}
