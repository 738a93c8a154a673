package redistest

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// orphanHelperVar makes TestServerDiesWithTestProcess's child run
// TestOrphanHelper for real.
const orphanHelperVar = "REDISTEST_ORPHAN_HELPER"

// TestServerDiesWithTestProcess checks that a redis-server does not outlive
// a test binary that dies without running its cleanups, as one does when
// go test's -timeout panics or CI kills it: the next run, and everyone
// sharing the machine, would find it still running.
func TestServerDiesWithTestProcess(t *testing.T) {
	if os.Getenv(orphanHelperVar) != "" {
		t.Skip("this is the helper process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestOrphanHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), orphanHelperVar+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := ""
	for sc := bufio.NewScanner(stdout); sc.Scan(); {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			addr = a
		}
	}
	_ = cmd.Wait() // the helper exits non-zero, on purpose
	if addr == "" {
		t.Fatal("the helper printed no redis address")
	}
	for deadline := time.Now().Add(5 * time.Second); ping(addr) == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			_, _ = Command(addr, "SHUTDOWN", "NOSAVE") // do not leave it behind ourselves
			t.Fatalf("the redis-server on %s outlived the test process that started it", addr)
		}
	}
}

// TestOrphanHelper, run only as TestServerDiesWithTestProcess's child,
// starts a server and exits at once, skipping every cleanup.
func TestOrphanHelper(t *testing.T) {
	if os.Getenv(orphanHelperVar) == "" {
		t.Skip("only run by TestServerDiesWithTestProcess")
	}
	s := Start(t)
	os.Stdout.WriteString("ADDR " + s.Addr + "\n")
	os.Exit(3)
}
