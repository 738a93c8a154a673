package tests

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// TestDevScript runs ./dev.sh as a newcomer would, walks the README's
// quickstart against it (token command, me, edit, pass-through, and a phone
// bound with a code read from the log sender's output), then interrupts it
// and checks that it left nothing running.
func TestDevScript(t *testing.T) {
	if os.Getenv("AUTHEDGE_CADDY") != "" {
		t.Skip("dev.sh runs the repository's ./caddy, not AUTHEDGE_CADDY")
	}
	// dev.sh rebuilds a stale ./caddy and installs a missing redis-server:
	// neither may happen from go test (network, apt-get).
	needCaddy(t)
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server not found on PATH, and dev.sh would apt-get it: run ./test.sh, which installs it")
	}
	ports := redistest.FreePorts(t, 3)
	port, appPort, adminPort := ports[0], ports[1], ports[2]
	devDir := filepath.Join(t.TempDir(), "dev")
	cmd := exec.Command(filepath.Join(repoRoot, "dev.sh"))
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("AUTHEDGE_PORT=%d", port),
		fmt.Sprintf("AUTHEDGE_APP_PORT=%d", appPort),
		fmt.Sprintf("AUTHEDGE_ADMIN=127.0.0.1:%d", adminPort),
		"AUTHEDGE_DEV_DIR="+devDir,
		"AUTHEDGE_ENV=", "AUTHEDGE_ISSUER=", // the defaults, as in a fresh shell
	)
	// Its own process group: afterwards, an empty group proves that Redis
	// and Caddy were stopped too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// If this test process dies without its cleanups, dev.sh is told as
	// Ctrl-C would tell it, and stops its Caddy and Redis itself.
	redistest.DieWithTest(cmd, syscall.SIGTERM)
	logs := &lockedBuffer{}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = logs, io.MultiWriter(logs, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-pgid, syscall.SIGKILL) // only if the test failed midway
		if t.Failed() {
			t.Logf("dev.sh output:\n%s", logs.String())
		}
	})

	// Wait for the banner, which comes once Caddy serves.
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "authedge is running at") {
				ready <- sc.Text()
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case <-ready:
	case err := <-exited:
		t.Fatalf("dev.sh exited before serving: %v", err)
	case <-time.After(5 * time.Minute): // a first build may run here
		t.Fatal("dev.sh not serving after 5 minutes")
	}
	banner := logs.String()
	for _, want := range []string{"authedge-token --key " + devDir + "/dev-key.pem --sub user-1", "curl -s", "Content-Type: application/json"} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner lacks %q", want)
		}
	}
	redisAddr := regexp.MustCompile(`Redis: (127\.0\.0\.1:\d+)`).FindStringSubmatch(banner)
	if redisAddr == nil {
		t.Fatalf("the banner names no Redis address")
	}

	// The quickstart, with the token command the banner prints.
	out, code := runCaddy(t, nil, "authedge-token", "--key", filepath.Join(devDir, "dev-key.pem"), "--sub", "user-1")
	if code != 0 {
		t.Fatalf("authedge-token: exit %d: %s", code, out)
	}
	tok := strings.TrimSpace(out)
	f := &fixture{t: t, caddy: &caddyProc{URL: fmt.Sprintf("http://127.0.0.1:%d", port)}}
	f.do("GET", mePath, tok, "").wantOK(t)
	f.do("POST", editPath, tok, `{"nickname":"张三","username":"zhangsan","gender":"MALE"}`).wantOK(t)
	wantFields(t, f.do("GET", mePath, tok, "").wantOK(t), map[string]string{"name": "张三", "username": "zhangsan"})
	if r := f.do("GET", "/anything/else", "", ""); r.Status != 200 || !strings.Contains(string(r.Body), "stand-in") {
		t.Errorf("pass-through to the stand-in app: %s", r)
	}
	// The README's identity edge: /app/ needs a token, and the stand-in
	// echoes the X-User-Id and profile header authedge set, not the
	// client's forged one.
	if r := f.do("GET", "/app/orders", "", ""); r.Status != 401 {
		t.Errorf("/app/orders without a token: %s", r)
	}
	if r := f.do("GET", "/app/orders", tok, "", "X-User-Id", "forged"); r.Status != 200 ||
		!strings.Contains(string(r.Body), `"x_user_id": "user-1"`) || !strings.Contains(string(r.Body), `"x_user_nickname": "张三"`) {
		t.Errorf("/app/orders with a token: want the stand-in to echo x_user_id user-1 and the nickname: %s", r)
	}

	v := f.do("POST", "/auth/v1/verification", tok, `{"phone_number":"+86 13800138000","target":"ANY"}`).wantOK(t)
	id, _ := v["verification_id"].(string)
	codeFromLog := func() string {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			for _, line := range strings.Split(logs.String(), "\n") {
				var entry struct {
					Msg, VerificationID, Code string
				}
				var raw map[string]any
				if json.Unmarshal([]byte(line), &raw) != nil {
					continue
				}
				entry.Msg, _ = raw["msg"].(string)
				entry.VerificationID, _ = raw["verification_id"].(string)
				entry.Code, _ = raw["code"].(string)
				if strings.Contains(entry.Msg, "verification code") && entry.VerificationID == id {
					return entry.Code
				}
			}
		}
		t.Fatalf("no logged code for verification %q", id)
		return ""
	}
	vt := f.do("POST", "/auth/v1/verification/verify", "", fmt.Sprintf(`{"verification_id":%q,"verification_code":%q}`, id, codeFromLog())).wantOK(t)
	f.do("POST", editPath, tok, fmt.Sprintf(`{"phone":"+86 13800138000","verification_token":%q}`, vt["verification_token"])).wantOK(t)
	wantFields(t, f.do("GET", mePath, tok, "").wantOK(t), map[string]string{"phone_number": "+86 13800138000"})
	if strings.Contains(logs.String(), "13800138000") {
		t.Errorf("the full phone number appears in the log")
	}

	// Ctrl-C: dev.sh stops Caddy and Redis and exits.
	if err := syscall.Kill(pgid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("dev.sh still running 30s after SIGINT")
	}
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("processes of dev.sh still running after it exited (kill -0 -%d: %v)", pgid, err)
	}
	for _, addr := range []string{fmt.Sprintf("127.0.0.1:%d", port), redisAddr[1]} {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after dev.sh exited", addr)
		}
	}
	if !strings.Contains(logs.String(), "stopped Caddy and Redis") {
		t.Errorf("dev.sh did not report stopping")
	}
}

// TestDevScriptRedisProblems: when dev.sh cannot use the redis-server it
// finds, it says why and starts nothing. A Redis older than 7.0 (Ubuntu
// 22.04's 6.0, which dev.sh's apt-get install brings there) used to be
// started anyway, for requests to fail later; a redis-server that would not
// start was reported with "see <its log>", a log dev.sh had just deleted.
func TestDevScriptRedisProblems(t *testing.T) {
	if os.Getenv("AUTHEDGE_CADDY") != "" {
		t.Skip("dev.sh runs the repository's ./caddy, not AUTHEDGE_CADDY")
	}
	needCaddy(t)
	// A stand-in redis-server: its version is $FAKE_REDIS_VERSION, and it
	// writes one line to its log file and exits instead of serving.
	fake := t.TempDir()
	writeFile(t, filepath.Join(fake, "redis-server"), `#!/bin/sh
if [ "$1" = --version ]; then
	echo "Redis server v=$FAKE_REDIS_VERSION sha=00000000:0 malloc=libc bits=64 build=0"
	exit 0
fi
while [ $# -gt 0 ]; do
	if [ "$1" = --logfile ]; then echo "fake-redis: Could not create server TCP listening socket" >>"$2"; fi
	shift
done
exit 1
`)
	if err := os.Chmod(filepath.Join(fake, "redis-server"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ version, want string }{
		{"6.0.16", "redis-server 6.0.16 is too old: authedge needs Redis 7.0 or later"},
		{"7.2.4", "fake-redis: Could not create server TCP listening socket"},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			ports := redistest.FreePorts(t, 3)
			cmd := exec.Command(filepath.Join(repoRoot, "dev.sh"))
			cmd.Dir = repoRoot
			cmd.Env = append(os.Environ(),
				"PATH="+fake+string(os.PathListSeparator)+os.Getenv("PATH"),
				"FAKE_REDIS_VERSION="+tt.version,
				fmt.Sprintf("AUTHEDGE_PORT=%d", ports[0]),
				fmt.Sprintf("AUTHEDGE_APP_PORT=%d", ports[1]),
				fmt.Sprintf("AUTHEDGE_ADMIN=127.0.0.1:%d", ports[2]),
				"AUTHEDGE_DEV_DIR="+filepath.Join(t.TempDir(), "dev"),
			)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			redistest.DieWithTest(cmd, syscall.SIGTERM)
			var out lockedBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pgid := cmd.Process.Pid
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				if err == nil {
					t.Errorf("dev.sh exited 0")
				}
			case <-time.After(2 * time.Minute):
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				t.Fatalf("dev.sh still running after 2 minutes:\n%s", out.String())
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("dev.sh's output lacks %q:\n%s", tt.want, out.String())
			}
			if strings.Contains(out.String(), "authedge is running at") {
				t.Errorf("dev.sh served without a usable Redis")
			}
		})
	}
}
