package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// repoRoot is the repository root; caddyBin the Caddy binary under test.
var repoRoot, caddyBin string

// caddyErr, if not nil, says why caddyBin cannot be used; every test that
// runs Caddy fails with it (needCaddy).
var caddyErr error

// buildCaddyVar lets the tests build ./caddy themselves. Off by default:
// building may download xcaddy and Caddy's modules, and go test should not
// need the network; ./xcaddy.sh (which ./test.sh runs) builds it once.
const buildCaddyVar = "AUTHEDGE_BUILD_CADDY"

// TestMain finds the Caddy binary every test runs, as a user would run it:
// AUTHEDGE_CADDY if set, else the repository's ./caddy, which must be at
// least as new as the module's sources. With AUTHEDGE_BUILD_CADDY=1 it runs
// ./xcaddy.sh first, which builds ./caddy if it is missing or stale.
func TestMain(m *testing.M) {
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		os.Exit(1)
	}
	repoRoot = root
	caddyBin = os.Getenv("AUTHEDGE_CADDY")
	switch {
	case caddyBin != "":
		// A binary built elsewhere, tested as it is.
	case os.Getenv(buildCaddyVar) == "1":
		build := exec.Command(filepath.Join(root, "xcaddy.sh"))
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "tests: ./xcaddy.sh failed: %v\n%s", err, out)
			os.Exit(1)
		}
		caddyBin = filepath.Join(root, "caddy")
	default:
		caddyBin = filepath.Join(root, "caddy")
		caddyErr = checkCaddyFresh(root, caddyBin)
	}
	os.Exit(m.Run())
}

// needCaddy fails the test when there is no usable Caddy binary.
func needCaddy(t *testing.T) {
	t.Helper()
	if caddyErr != nil {
		t.Fatal(caddyErr)
	}
}

// checkCaddyFresh says whether bin exists and is newer than every file it
// is built from (the module's Go files but tests, Lua scripts, go.mod and
// go.sum), as ./xcaddy.sh decides whether to rebuild.
func checkCaddyFresh(root, bin string) error {
	const howTo = "run ./xcaddy.sh (./test.sh does), or set " + buildCaddyVar +
		"=1 to let the tests build it, or AUTHEDGE_CADDY=<path> to test another binary"
	info, err := os.Stat(bin)
	if err != nil {
		return fmt.Errorf("the end-to-end tests run ./caddy, which is missing: %s", howTo)
	}
	built := info.ModTime()
	var newer string
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || newer != "" {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if name == ".git" || name == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		source := name == "go.mod" || name == "go.sum" || strings.HasSuffix(name, ".lua") ||
			(strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go"))
		if !source {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().After(built) {
			newer, _ = filepath.Rel(root, path)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("checking whether ./caddy is up to date: %w", err)
	}
	if newer != "" {
		return fmt.Errorf("./caddy is older than %s, so it would not test this checkout: %s", newer, howTo)
	}
	return nil
}

// lockedBuffer collects a child process's output safely across goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// caddyEnv is the environment every caddy child runs with: Caddy's data and
// config dirs (autosave, certificates) go to a test directory, never $HOME.
func caddyEnv(dir string, extra ...string) []string {
	env := append(os.Environ(),
		"HOME="+dir,
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
	)
	return append(env, extra...)
}

// runCaddy runs a short caddy subcommand (validate, adapt, authedge-token)
// and returns its combined output and exit code.
func runCaddy(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	needCaddy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, caddyBin, args...)
	cmd.Dir = repoRoot
	cmd.Env = caddyEnv(t.TempDir(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("caddy %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// caddyProc is a running `caddy run` owned by one test.
type caddyProc struct {
	URL   string // http://127.0.0.1:<port>, the site
	Admin string // 127.0.0.1:<port>, the admin endpoint
	File  string // the Caddyfile it runs
	cmd   *exec.Cmd
	done  chan struct{}
	logs  *lockedBuffer
}

// startCaddy writes a Caddyfile with site as the body of the one site block
// (on a free port, admin on another) and runs the built caddy on it until
// the test ends. It fails the test if Caddy does not start serving.
func startCaddy(t *testing.T, site string) *caddyProc {
	t.Helper()
	return startCaddyWith(t, "", site)
}

// startCaddyWith is startCaddy with global, lines inside the Caddyfile's
// global options block (servers { ... }, for instance).
//
// The ports are free when chosen, not when Caddy binds them: a process of
// another test package may take one in between. Caddy then exits, and
// another pair is tried. Serving means Caddy said so (its "serving initial
// configuration" line, logged once its config runs): a connection alone
// may reach the process that took the site's port.
func startCaddyWith(t *testing.T, global, site string) *caddyProc {
	t.Helper()
	needCaddy(t)
	for attempt := 1; ; attempt++ {
		p, err := launchCaddy(t, global, site)
		if err == nil {
			return p
		}
		if !errors.Is(err, errCaddyPortTaken) || attempt == 3 {
			t.Fatal(err)
		}
	}
}

// errCaddyPortTaken is a Caddy that exited because a port it was given
// was taken.
var errCaddyPortTaken = errors.New("caddy: a port was taken")

// launchCaddy runs Caddy on two new free ports until it serves, or says
// why not.
func launchCaddy(t *testing.T, global, site string) (*caddyProc, error) {
	t.Helper()
	dir := t.TempDir()
	ports := redistest.FreePorts(t, 2)
	port, admin := ports[0], ports[1]
	p := &caddyProc{
		URL:   "http://127.0.0.1:" + strconv.Itoa(port),
		Admin: "127.0.0.1:" + strconv.Itoa(admin),
		File:  filepath.Join(dir, "Caddyfile"),
		done:  make(chan struct{}),
		logs:  &lockedBuffer{},
	}
	caddyfile := fmt.Sprintf("{\n\tadmin %s\n\tpersist_config off\n%s}\n\n%s {\n%s\n}\n", p.Admin, global, p.URL, site)
	writeFile(t, p.File, caddyfile)

	p.cmd = exec.Command(caddyBin, "run", "--config", p.File, "--adapter", "caddyfile")
	redistest.DieWithTest(p.cmd, syscall.SIGKILL)
	p.cmd.Dir = dir
	p.cmd.Env = caddyEnv(dir)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start caddy: %v", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("Caddyfile:\n%s\ncaddy output:\n%s", caddyfile, p.logs.String())
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.done:
			logs := p.logs.String()
			if strings.Contains(logs, "address already in use") {
				return nil, fmt.Errorf("%w: caddy exited before serving:\n%s", errCaddyPortTaken, logs)
			}
			return nil, fmt.Errorf("caddy exited before serving:\n%s", logs)
		default:
		}
		if strings.Contains(p.logs.String(), "serving initial configuration") {
			if c, err := net.DialTimeout("tcp", strings.TrimPrefix(p.URL, "http://"), 100*time.Millisecond); err == nil {
				c.Close()
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("caddy not serving %s after 30s:\n%s", p.URL, p.logs.String())
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// reservePort holds a free loopback port until release: a port chosen for
// something started later (a webhook receiver) is then not handed to the
// Redis or Caddy a fixture starts meanwhile, as a port just closed can be.
func reservePort(t *testing.T) (port int, release func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("reserve a port: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port, func() { l.Close() }
}

// stop asks Caddy to shut down gracefully, then kills it if it lingers.
func (p *caddyProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// httpClient never follows redirects: the tests look at what Caddy answered.
var httpClient = &http.Client{
	Timeout:       15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}
