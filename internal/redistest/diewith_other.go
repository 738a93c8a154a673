//go:build !linux

package redistest

import (
	"os/exec"
	"syscall"
)

// DieWithTest does nothing here: only Linux can tie a child's life to its
// parent's (Pdeathsig). The t.Cleanup of each process still stops it.
func DieWithTest(cmd *exec.Cmd, sig syscall.Signal) {}
