package redistest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Sentinel is a running Redis Sentinel owned by one test.
type Sentinel struct {
	Addr string
	dir  string
	cmd  *exec.Cmd
}

// SentinelConfig shapes the Sentinels of a test.
type SentinelConfig struct {
	// MasterName is the name the master is monitored under.
	MasterName string
	// Count is how many Sentinels run; Quorum how many must agree that
	// the master is down.
	Count, Quorum int
	// DownAfter is down-after-milliseconds: how long the master may be
	// silent before it is thought down. A test sets it low (500 ms) so
	// that a failover takes seconds.
	DownAfter time.Duration
	// Password, if set, is the Sentinels' own (requirepass), which they
	// also use with each other.
	Password string
}

// StartSentinels runs cfg.Count Sentinels (redis-server --sentinel) on
// free loopback ports, monitoring master, and returns once each of them
// knows the master, its replicas replicas and the other Sentinels. They
// stop when the test ends.
func StartSentinels(t testing.TB, master *Server, replicas int, cfg SentinelConfig) []*Sentinel {
	t.Helper()
	var all []*Sentinel
	for range cfg.Count {
		// A port taken by another process between its choice and the
		// bind (see Start) is given up for another.
		for attempt := 1; ; attempt++ {
			s, err := startSentinel(t, master, replicas, cfg)
			if err == nil {
				all = append(all, s)
				break
			}
			if !errors.Is(err, errPortTaken) || attempt == 3 {
				t.Fatal(err)
			}
		}
	}
	want := fmt.Sprintf("status=ok,address=%s,slaves=%d,sentinels=%d", master.Addr, replicas, cfg.Count)
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range all {
		for {
			info, err := CommandAuth(s.Addr, cfg.Password, "INFO", "sentinel")
			// A replica the Sentinel has found but not yet connected to is
			// "disconnected", and a client asking for a replica would be
			// given the master instead.
			var flags string
			if err == nil && strings.Contains(info, want) {
				flags, err = CommandAuth(s.Addr, cfg.Password, "SENTINEL", "REPLICAS", cfg.MasterName)
			}
			if err == nil && strings.Contains(info, want) && strings.Count(flags, "\nflags\nslave\n") == replicas {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("sentinel %s does not see %q: %v\n%s", s.Addr, want, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return all
}

// startSentinel runs one Sentinel of StartSentinels on a free port, and
// waits until it, not another process on that port, answers.
func startSentinel(t testing.TB, master *Server, replicas int, cfg SentinelConfig) (*Sentinel, error) {
	t.Helper()
	s := &Sentinel{dir: t.TempDir()}
	port := FreePort(t)
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	name := cfg.MasterName
	conf := strings.Join([]string{
		fmt.Sprintf("port %d", port),
		"bind 127.0.0.1",
		"daemonize no",
		"dir " + s.dir,
		"logfile " + filepath.Join(s.dir, "sentinel.log"),
		"sentinel resolve-hostnames no",
		fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d %d", name, master.Port, cfg.Quorum),
		fmt.Sprintf("sentinel down-after-milliseconds %s %d", name, cfg.DownAfter.Milliseconds()),
		// A failover that stalls is retried after this.
		fmt.Sprintf("sentinel failover-timeout %s %d", name, 4*cfg.DownAfter.Milliseconds()+1000),
		// Every replica follows the new master at once.
		fmt.Sprintf("sentinel parallel-syncs %s %d", name, max(1, replicas)),
	}, "\n") + "\n"
	if cfg.Password != "" {
		conf += fmt.Sprintf("requirepass %q\nsentinel sentinel-pass %q\n", cfg.Password, cfg.Password)
	}
	path := filepath.Join(s.dir, "sentinel.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	s.cmd = exec.Command("redis-server", path, "--sentinel")
	DieWithTest(s.cmd, syscall.SIGKILL)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server --sentinel: %v", err)
	}
	t.Cleanup(s.Stop)
	err := WaitReady(s.Addr, 10*time.Second)
	if err == nil {
		err = answeredBy(s.Addr, cfg.Password, s.cmd.Process.Pid)
	}
	if err != nil {
		s.Stop()
		log, _ := os.ReadFile(filepath.Join(s.dir, "sentinel.log"))
		if !errors.Is(err, errPortTaken) && strings.Contains(string(log), "Address already in use") {
			err = fmt.Errorf("%w: %v", errPortTaken, err)
		}
		return nil, fmt.Errorf("sentinel on %s: %w\n%s", s.Addr, err, log)
	}
	return s, nil
}

// Stop kills the Sentinel and waits for it to exit. Safe to call twice.
func (s *Sentinel) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Log is the Sentinel's log so far, for a failing test to show.
func (s *Sentinel) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "sentinel.log"))
	return string(b)
}
