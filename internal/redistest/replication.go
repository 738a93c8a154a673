package redistest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StartReplica runs a fresh redis-server replicating master and returns
// once it is in sync. extraArgs are passed as config. It stops when the
// test ends.
func StartReplica(t testing.TB, master *Server, extraArgs ...string) *Server {
	t.Helper()
	// A master waits 5 s by default for more replicas to share a full
	// sync; a test has no time for that.
	if _, err := Command(master.Addr, "CONFIG", "SET", "repl-diskless-sync-delay", "0"); err != nil {
		t.Fatalf("CONFIG SET on the master %s: %v", master.Addr, err)
	}
	args := append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(master.Port)}, extraArgs...)
	r := Start(t, args...)
	WaitInSync(t, r, 10*time.Second)
	return r
}

// WaitInSync waits until replica reports its link to its master up.
func WaitInSync(t testing.TB, replica *Server, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		info, err := Command(replica.Addr, "INFO", "replication")
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s not in sync after %v: %v\n%s", replica.Addr, within, err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitReplicated waits until replica has every write master had when it
// was called (the replica's offset reaches the master's).
func WaitReplicated(t testing.TB, master, replica *Server, within time.Duration) {
	t.Helper()
	target, err := infoInt(master.Addr, "replication", "master_repl_offset")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(within)
	for {
		got, err := infoInt(replica.Addr, "replication", "slave_repl_offset")
		if err == nil && got >= target {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s at offset %d, not %d, after %v: %v", replica.Addr, got, target, within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// infoInt is the integer field of INFO section at addr.
func infoInt(addr, section, field string) (int64, error) {
	info, err := Command(addr, "INFO", section)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO %s at %s has no %s", section, addr, field)
}
