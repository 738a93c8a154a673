package redistest

import (
	"os/exec"
	"syscall"
)

// DieWithTest has the kernel send sig to cmd's process when the test
// process exits, however it exits. A test binary that go test's -timeout
// panics, or that CI kills, runs no t.Cleanup: without this, the
// redis-server and caddy processes it started would run on. Call it
// before cmd.Start; it keeps cmd's other SysProcAttr settings.
func DieWithTest(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = new(syscall.SysProcAttr)
	}
	// Strictly, the signal comes when the OS thread that started cmd
	// exits; Go's threads live as long as the process unless a goroutine
	// locked to one exits, which these tests never do.
	cmd.SysProcAttr.Pdeathsig = sig
}
