package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// runRefClient runs refclient/run.mjs (CloudBase's own SDK) against f with
// the given flows and extra environment. It fails the test unless the
// script exits 0 having run wantSteps steps with none failed.
func runRefClient(t *testing.T, f *fixture, flows string, wantSteps int, env ...string) {
	t.Helper()
	dir := filepath.Join(repoRoot, "tests", "refclient")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@cloudbase", "oauth", "package.json")); err != nil {
		t.Fatalf("@cloudbase/oauth is not installed: run `npm ci` in tests/refclient (./test.sh does): %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH: the reference client needs Node 20")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "run.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"AUTHEDGE_URL="+f.caddy.URL,
		"AUTHEDGE_ENV="+testEnv,
		"AUTHEDGE_TOKEN="+f.token("sdk-user-1", nil),
		"AUTHEDGE_SUB=sdk-user-1",
		"AUTHEDGE_FLOWS="+flows,
	)
	cmd.Env = append(cmd.Env, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()

	steps, failed := 0, -1
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var line struct {
			Step    string `json:"step"`
			OK      bool   `json:"ok"`
			Problem string `json:"problem"`
			Summary *struct {
				Steps, Failed int
			} `json:"summary"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch {
		case line.Summary != nil:
			steps, failed = line.Summary.Steps, line.Summary.Failed
		case !line.OK:
			t.Errorf("SDK step %q: %s", line.Step, line.Problem)
		}
	}
	if err != nil || failed != 0 || steps != wantSteps {
		t.Fatalf("run.mjs: %v, %d steps (want %d), %d failed\nstdout:\n%s\nstderr:\n%s", err, steps, wantSteps, failed, out, stderr.String())
	}
	t.Logf("run.mjs (CloudBase SDK) output:\n%s", out)
}

// TestReferenceClient: CloudBase's SDK, unchanged, reads and edits a
// profile and sees authedge's errors through its own error handling.
func TestReferenceClient(t *testing.T) {
	f := newFixture(t, offPolicies)
	runRefClient(t, f, "core", 9, "AUTHEDGE_OTHER_TOKEN="+f.token("sdk-user-2", nil))

	// What the SDK did is really stored: read it back without the SDK.
	wantFields(t, f.do("GET", mePath, f.token("sdk-user-1", nil), "").wantOK(t), map[string]string{
		"name": "Zhang San", "username": "sdk_user_1", "gender": "MALE",
	})
}

// TestReferenceClientHistory: the SDK's getUserBehaviorLog lists the edits
// it just made, over two pages, and LOGIN is empty.
func TestReferenceClientHistory(t *testing.T) {
	f := newFixture(t, offPolicies)
	runRefClient(t, f, "history", 7)
}

// TestReferenceClientContactFlow: the SDK's getVerification (ANY, NOT_USER,
// CUR_USER), sendVerificationCodeToCurrentUser, verify (sent without a
// token), sudo and editContact, with codes
// delivered by authedge's webhook sender to the script itself.
func TestReferenceClientContactFlow(t *testing.T) {
	hookPort, release := reservePort(t)
	const secret = "refclient-webhook-secret"
	f := newFixture(t, fmt.Sprintf(`
		verification {
			webhook http://127.0.0.1:%d/codes %s
		}`, hookPort, secret))
	release() // the script listens there
	runRefClient(t, f, "contact", 15,
		"AUTHEDGE_ADMIN_TOKEN="+f.token("sdk-admin", claims{"scope": "admin"}),
		fmt.Sprintf("AUTHEDGE_WEBHOOK_PORT=%d", hookPort),
		"AUTHEDGE_WEBHOOK_SECRET="+secret,
	)
	wantFields(t, f.do("GET", mePath, f.token("sdk-user-1", nil), "").wantOK(t), map[string]string{
		"phone_number": "+86 13600136000", "email": "sdk.user@example.com",
	})
}

// TestReferenceClientUserAPI: the SDK's setUserProfile then getUserInfo,
// checkIfUserExist (true and false, without a token), and
// queryUserProfile by each key with an admin token, refused without.
func TestReferenceClientUserAPI(t *testing.T) {
	f := newFixture(t, offPolicies)
	runRefClient(t, f, "userapi", 14, "AUTHEDGE_ADMIN_TOKEN="+f.token("sdk-admin", claims{"scope": "admin"}))
	wantFields(t, f.do("GET", mePath, f.token("sdk-user-1", nil), "").wantOK(t), map[string]string{
		"birthdate": "1990-05-17", "zoneinfo": "Asia/Shanghai", "locale": "zh-Hans-CN", "email": "Li.Lei@Bücher.example",
	})
}

// TestReferenceClientOtherClient: an SDK whose clientId is another client
// of the environment, signed in with a token issued to that client. The
// SDK sends client_id only on its calls without credentials, so its
// authenticated calls need the client in `jwt { audience }`
// (docs/api.md#cloudbase-sdk-compatibility); without it they are 401 and
// the SDK drops the user's credentials.
func TestReferenceClientOtherClient(t *testing.T) {
	f := newFixtureWithJWT(t, "", "audience "+testEnv+" e2e-web", offPolicies)
	runRefClient(t, f, "client", 4,
		"AUTHEDGE_CLIENT_ID=e2e-web",
		"AUTHEDGE_CLIENT_TOKEN="+f.token("sdk-user-1", claims{"aud": []string{"e2e-web"}}),
	)
}

// corsAllowHeaders is the Access-Control-Allow-Headers of
// docs/configuration.md's CORS route.
const corsAllowHeaders = "Authorization, Content-Type, x-device-id, x-request-id, undefined"

// TestReferenceClientCORS: the SDK in a browser page on another origin
// (run.mjs's corsFetch runs the browser's CORS checks) against
// docs/configuration.md's CORS route, preflights answered before authedge.
func TestReferenceClientCORS(t *testing.T) {
	const origin = "https://app.example.com"
	f := &fixture{t: t, redis: redistest.Start(t), app: newEchoApp(t), keyDir: t.TempDir()}
	f.rsa, f.ec, _ = testKeys(t)
	f.caddy = startCaddy(t, fmt.Sprintf(`	header Access-Control-Allow-Origin %s
	header Access-Control-Allow-Headers "%s"
	header Access-Control-Allow-Methods "GET, POST, PATCH, DELETE"
	route {
		@preflight method OPTIONS
		respond @preflight 204
		%s
		reverse_proxy %s
	}`, origin, corsAllowHeaders,
		minimalAuthedge(writePublicPEM(t, f.keyDir, "ec.pem", f.ec), f.redis.Addr, ""),
		strings.TrimPrefix(f.app.URL, "http://")))
	runRefClient(t, f, "cors", 6, "AUTHEDGE_ORIGIN="+origin)
}
