package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// reloadSite writes site as the body of c's one site block, as
// launchCaddy wrote it, and runs `caddy reload` on it. It returns the
// command's output and exit code.
func reloadSite(t *testing.T, c *caddyProc, site string) (string, int) {
	t.Helper()
	caddyfile := fmt.Sprintf("{\n\tadmin %s\n\tpersist_config off\n}\n\n%s {\n%s\n}\n", c.Admin, c.URL, site)
	writeFile(t, c.File, caddyfile)
	return runCaddy(t, nil, "reload", "--config", c.File, "--adapter", "caddyfile", "--address", c.Admin)
}

// TestReloadAppliesEveryChange: a reload that changes the environment,
// the key, the Redis and the protected paths serves with the new ones
// when `caddy reload` returns, keeping nothing of the old config that the
// shared parts (connection pools, key sets) could carry over: the old
// key is refused, the old protect rule is gone, the new Redis and
// environment hold the profiles. A reload that fails leaves the config
// before it serving.
func TestReloadAppliesEveryChange(t *testing.T) {
	redisA, redisB := redistest.Start(t), redistest.Start(t)
	rsa, ec, _ := testKeys(t)
	dir := t.TempDir()
	keyA, keyB := writePublicPEM(t, dir, "rsa.pem", rsa), writePublicPEM(t, dir, "ec.pem", ec)
	site := func(env, key, redisAddr, protect string) string {
		return "\t" + minimalAuthedgeIn(env, key, redisAddr, "\t\tidentity {\n\t\t\tprotect "+protect+"\n\t\t}") +
			"\n\trespond \"app\" 200"
	}
	c := startCaddy(t, site(testEnv, keyA, redisA.Addr, "/a/*"))
	get := func(path, token string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, c.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const envB = "e2e-env-b"
	oldToken := rsa.mint(t, "user-a", nil)
	if got := get("/auth/v1/user/me", oldToken); got != http.StatusOK {
		t.Fatalf("before the reload: user/me = %d", got)
	}
	if got := get("/a/x", ""); got != http.StatusUnauthorized {
		t.Fatalf("before the reload: /a/x without a token = %d", got)
	}

	if out, code := reloadSite(t, c, site(envB, keyB, redisB.Addr, "/b/*")); code != 0 {
		t.Fatalf("caddy reload: exit %d\n%s", code, out)
	}
	newToken := ec.mint(t, "user-b", claims{"aud": []string{envB}})
	oldKeyNewEnv := rsa.mint(t, "user-b", claims{"aud": []string{envB}})
	for _, tt := range []struct {
		what, path, token string
		want              int
	}{
		{"the new key", "/b/x", newToken, http.StatusOK},
		{"the old key", "/b/x", oldKeyNewEnv, http.StatusUnauthorized},
		{"the old environment", "/auth/v1/user/me", oldToken, http.StatusUnauthorized},
		{"no token on the new protected path", "/b/x", "", http.StatusUnauthorized},
		{"no token on the old protected path", "/a/x", "", http.StatusOK},
		{"user/me with the new key", "/auth/v1/user/me", newToken, http.StatusOK},
	} {
		if got := get(tt.path, tt.token); got != tt.want {
			t.Errorf("after the reload, %s: %s = %d, want %d", tt.what, tt.path, got, tt.want)
		}
	}
	keys := func(s *redistest.Server) string {
		t.Helper()
		out, err := redistest.Command(s.Addr, "KEYS", "*")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if a, b := keys(redisA), keys(redisB); strings.Contains(a, "{"+envB+"}") || !strings.Contains(b, "{"+envB+"}:") {
		t.Errorf("after the reload, the new environment's keys are not (only) on the new Redis:\nold Redis: %s\nnew Redis: %s", a, b)
	}

	// A reload that fails (a key file that does not load) changes nothing.
	if out, code := reloadSite(t, c, site(testEnv, dir+"/missing.pem", redisA.Addr, "/a/*")); code == 0 {
		t.Fatalf("a reload with a missing key file succeeded:\n%s", out)
	}
	if got := get("/b/x", newToken); got != http.StatusOK {
		t.Errorf("after a failed reload, the config before it: /b/x = %d, want 200", got)
	}
	if got := get("/b/x", ""); got != http.StatusUnauthorized {
		t.Errorf("after a failed reload, /b/x without a token = %d, want 401", got)
	}
	if got := get("/b/x", oldKeyNewEnv); got != http.StatusUnauthorized {
		t.Errorf("after a failed reload, the old key: /b/x = %d, want 401", got)
	}
}
