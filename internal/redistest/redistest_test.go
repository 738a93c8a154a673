package redistest

import (
	"errors"
	"strings"
	"testing"
)

func TestStartRestartStop(t *testing.T) {
	s := Start(t)
	if err := ping(s.Addr); err != nil {
		t.Fatalf("fresh server: %v", err)
	}
	s.Restart()
	if err := ping(s.Addr); err != nil {
		t.Fatalf("restarted server: %v", err)
	}
	s.Stop()
	if err := ping(s.Addr); err == nil {
		t.Fatal("stopped server still answers")
	}
}

func TestStartCluster(t *testing.T) {
	c := StartCluster(t, 3)
	if len(c.Addrs()) != 3 {
		t.Fatalf("Addrs = %v", c.Addrs())
	}
	for _, n := range c.Nodes {
		info, err := Command(n.Addr, "CLUSTER", "INFO")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"cluster_state:ok", "cluster_slots_assigned:16384", "cluster_known_nodes:3"} {
			if !strings.Contains(info, want) {
				t.Errorf("node %s: CLUSTER INFO lacks %q:\n%s", n.Addr, want, info)
			}
		}
	}
}

func TestCommand(t *testing.T) {
	s := Start(t)
	if got, err := Command(s.Addr, "SET", "k", "v w"); err != nil || got != "OK" {
		t.Fatalf("SET = %q, %v", got, err)
	}
	if got, err := Command(s.Addr, "GET", "k"); err != nil || got != "v w" {
		t.Fatalf("GET = %q, %v", got, err)
	}
	if got, err := Command(s.Addr, "INCR", "k"); err == nil {
		t.Fatalf("INCR of a non-number = %q, want an error", got)
	}
}

// A port another redis-server took between its choice and the bind is not
// taken for the new server's: that would hand the test another's keys.
func TestTakenPortIsNotMistakenForOurs(t *testing.T) {
	other := Start(t)
	s := &Server{t: t, dir: t.TempDir(), Port: other.Port, Addr: other.Addr}
	t.Cleanup(s.Stop)
	if err := s.tryStart(); !errors.Is(err, errPortTaken) {
		t.Fatalf("start on a port another redis-server holds: %v, want errPortTaken", err)
	}
}
