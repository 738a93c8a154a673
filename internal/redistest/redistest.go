// Package redistest starts real redis-server processes for tests: one per
// test, on a free loopback port, stopped when the test ends. No mocks.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is a running redis-server owned by one test.
type Server struct {
	t    testing.TB
	Addr string // 127.0.0.1:port
	Port int
	dir  string
	args []string
	cmd  *exec.Cmd
}

// Start runs a fresh, empty redis-server on a free port and registers its
// stop with t.Cleanup. extraArgs are passed as config, such as
// "--appendonly", "yes". The test fails if redis-server is not installed.
func Start(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server not found on PATH: install Debian's redis-server (the README's test command does)")
	}
	s := &Server{t: t, dir: t.TempDir(), args: extraArgs, Port: FreePort(t)}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	args := append([]string{
		"--port", strconv.Itoa(s.Port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"),
	}, s.args...)
	s.cmd = exec.Command("redis-server", args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	if err := WaitReady(s.Addr, 10*time.Second); err != nil {
		s.Stop()
		log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
		s.t.Fatalf("redis-server on %s: %v\n%s", s.Addr, err, log)
	}
}

// Stop kills the server and waits for it to exit. Safe to call twice.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart stops the server and starts a new, empty one on the same port
// (no data, no scripts cached), as after a crash without persistence.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Dir is the server's working directory (its AOF and log live there).
func (s *Server) Dir() string { return s.dir }

// FreePort asks the kernel for a free loopback TCP port.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePorts(t, 1)[0]
}

// FreePorts asks the kernel for n free loopback TCP ports, all different:
// each stays bound until all are chosen, since a port just closed may be
// handed out again by the next call (a site and its admin endpoint on one
// port failed an end-to-end test that way).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// WaitReady polls addr with PING until Redis answers PONG, or NOAUTH for a
// server that needs a password (not LOADING).
func WaitReady(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		last = ping(addr)
		if last == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v: %v", within, last)
}

func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	// NOAUTH is a server up and serving, one started with --requirepass.
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
