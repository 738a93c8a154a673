// Package redistest starts real redis-server processes for tests: one per
// test, on a free loopback port, stopped when the test ends. No mocks.
package redistest

import (
	"bufio"
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
	s := &Server{t: t, dir: t.TempDir(), args: extraArgs}
	t.Cleanup(s.Stop)
	// The port is free when chosen, not when redis-server binds it: a
	// process of another test package (go test runs several at once) may
	// take it in between. Another port is tried then.
	for attempt := 1; ; attempt++ {
		s.Port = FreePort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		err := s.tryStart()
		if err == nil {
			return s
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			s.t.Fatal(err)
		}
	}
}

// errPortTaken is a start that found its port held by another process.
var errPortTaken = errors.New("port taken by another process")

func (s *Server) start() {
	s.t.Helper()
	if err := s.tryStart(); err != nil {
		s.t.Fatal(err)
	}
}

// tryStart runs redis-server on s.Port and waits until it, and not another
// process on that port, answers.
func (s *Server) tryStart() error {
	args := append([]string{
		"--port", strconv.Itoa(s.Port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"),
	}, s.args...)
	logPath := filepath.Join(s.dir, "redis.log")
	logged, _ := os.ReadFile(logPath) // a Restart's log goes on from here
	s.cmd = exec.Command("redis-server", args...)
	DieWithTest(s.cmd, syscall.SIGKILL)
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %v", err)
	}
	err := WaitReady(s.Addr, 10*time.Second)
	if err == nil {
		err = s.answersAsOurs()
	}
	if err != nil {
		s.Stop()
		log, _ := os.ReadFile(logPath)
		log = log[min(len(logged), len(log)):]
		if !errors.Is(err, errPortTaken) && strings.Contains(string(log), "Address already in use") {
			err = fmt.Errorf("%w: %v", errPortTaken, err)
		}
		return fmt.Errorf("redis-server on %s: %w\n%s", s.Addr, err, log)
	}
	return nil
}

// answersAsOurs checks that the server answering on s.Addr is s's process:
// one that lost the port to another Redis would otherwise hand the test
// that server, and another test's keys.
func (s *Server) answersAsOurs() error {
	password := ""
	for i, a := range s.args {
		if a == "--requirepass" && i+1 < len(s.args) {
			password = s.args[i+1]
		}
	}
	return answeredBy(s.Addr, password, s.cmd.Process.Pid)
}

// answeredBy checks, with INFO server, that the Redis answering on addr
// is process pid.
func answeredBy(addr, password string, pid int) error {
	info, err := CommandAuth(addr, password, "INFO", "server")
	if err != nil {
		return fmt.Errorf("INFO server: %v", err)
	}
	want := "process_id:" + strconv.Itoa(pid)
	for _, line := range strings.Split(info, "\n") {
		if strings.TrimSpace(line) == want {
			return nil
		}
	}
	return fmt.Errorf("%w: the server answering is not pid %d", errPortTaken, pid)
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
