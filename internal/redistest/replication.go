package redistest

import (
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
