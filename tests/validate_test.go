package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// configFile writes a whole Caddyfile whose authedge block is body (with
// %KEY% and %REDIS% replaced by a valid key file and a live Redis) and
// returns its path.
func configFile(t *testing.T, redis, body string) string {
	t.Helper()
	dir := t.TempDir()
	_, ec, _ := testKeys(t)
	key := writePublicPEM(t, dir, "ec.pem", ec)
	body = strings.NewReplacer("%KEY%", key, "%REDIS%", redis, "%DIR%", dir).Replace(body)
	path := filepath.Join(dir, "Caddyfile")
	writeFile(t, path, fmt.Sprintf("{\n\tadmin off\n\tpersist_config off\n}\n\nhttp://127.0.0.1:%d {\n\tauthedge {\n%s\n\t}\n\trespond \"app\"\n}\n",
		redistest.FreePort(t), body))
	return path
}

const validJWT = `
		environment_id env-1
		jwt {
			issuer https://issuer.example
			public_key %KEY%
		}
		redis {
			address %REDIS%
		}`

const policiesOff = `
		verification {
			required off
		}
		sudo {
			sensitive off
		}`

func TestValidate(t *testing.T) {
	redis := redistest.Start(t)
	cases := []struct {
		name, body string
		mentions   []string // empty: the config must be valid
	}{
		{"valid", validJWT + policiesOff, nil},
		{"valid with log sender and default policies", validJWT + `
		verification {
			log
		}`, nil},
		{"valid with max_auth_age instead of a sender for sudo", validJWT + `
		verification {
			required off
		}
		sudo {
			max_auth_age 5m
		}`, nil},
		{"missing issuer", `
		environment_id env-1
		jwt {
			public_key %KEY%
		}
		redis {
			address %REDIS%
		}` + policiesOff, []string{"issuer"}},
		{"missing environment_id", `
		jwt {
			issuer https://issuer.example
			public_key %KEY%
		}
		redis {
			address %REDIS%
		}` + policiesOff, []string{"environment_id"}},
		{"unknown subdirective", validJWT + policiesOff + `
		bogus_option yes`, []string{"bogus_option"}},
		{"unknown subdirective in jwt", `
		environment_id env-1
		jwt {
			issuer https://issuer.example
			public_key %KEY%
			issuers https://typo.example
		}` + policiesOff, []string{"issuers"}},
		{"repeated subdirective", validJWT + policiesOff + `
		environment_id env-2`, []string{"environment_id"}},
		{"unreadable key file", `
		environment_id env-1
		jwt {
			issuer https://issuer.example
			public_key %DIR%/no-such-key.pem
		}` + policiesOff, []string{"public_key"}},
		{"key file that does not parse", `
		environment_id env-1
		jwt {
			issuer https://issuer.example
			public_key %DIR%/Caddyfile
		}` + policiesOff, []string{"public_key"}},
		{"HMAC algorithm", `
		environment_id env-1
		jwt {
			issuer https://issuer.example
			public_key %KEY%
			algorithms ES256 HS256
		}` + policiesOff, []string{"HS256"}},
		{"bad duration", `
		environment_id env-1
		jwt {
			issuer https://issuer.example
			public_key %KEY%
			leeway soon
		}` + policiesOff, []string{"leeway"}},
		{"verification required with no sender", validJWT + `
		sudo {
			sensitive off
		}`, []string{"webhook", "log", "required off"}},
		{"sudo with no way to satisfy it", validJWT + `
		verification {
			required off
		}`, []string{"sensitive off"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := configFile(t, redis.Addr, c.body)
			out, code := runCaddy(t, nil, "validate", "--config", file, "--adapter", "caddyfile")
			// The temp dir is named after the test case: keep it from
			// "naming" the directive on the error's behalf.
			out = strings.ReplaceAll(out, filepath.Dir(file), "<dir>")
			if c.mentions == nil {
				if code != 0 {
					t.Fatalf("caddy validate exit %d, want 0:\n%s", code, out)
				}
				return
			}
			if code == 0 {
				t.Fatalf("caddy validate accepted a bad config:\n%s", out)
			}
			for _, m := range c.mentions {
				if !strings.Contains(out, m) {
					t.Errorf("message does not name %q:\n%s", m, out)
				}
			}
		})
	}
}

// TestCaddyfileExample checks that the shipped example adapts, names every
// part of the config, and validates as dev.sh runs it.
func TestCaddyfileExample(t *testing.T) {
	example := filepath.Join(repoRoot, "Caddyfile.example")
	out, code := runCaddy(t, nil, "adapt", "--config", example, "--adapter", "caddyfile")
	if code != 0 {
		t.Fatalf("caddy adapt Caddyfile.example: exit %d\n%s", code, out)
	}
	// adapt prints the JSON first; log lines may follow it.
	var cfg map[string]any
	if err := json.NewDecoder(strings.NewReader(out[max(strings.Index(out, "{"), 0):])).Decode(&cfg); err != nil {
		t.Fatalf("caddy adapt printed no JSON config (%v):\n%s", err, out)
	}
	for _, want := range []string{`"handler":"authedge"`, `"environment_id":"dev-env"`, `"issuer":"https://dev.authedge.local"`, `"handler":"reverse_proxy"`} {
		if !strings.Contains(out, want) {
			t.Errorf("adapted config lacks %s", want)
		}
	}
	if strings.Contains(out, "not formatted") {
		t.Errorf("Caddyfile.example is not as caddy fmt writes it:\n%s", out)
	}

	redis := redistest.Start(t)
	_, ec, _ := testKeys(t)
	key := writePublicPEM(t, t.TempDir(), "dev.pub.pem", ec)
	ports := redistest.FreePorts(t, 3)
	env := []string{
		"AUTHEDGE_REDIS=" + redis.Addr,
		"AUTHEDGE_DEV_KEY=" + key,
		fmt.Sprintf("AUTHEDGE_PORT=%d", ports[0]),
		fmt.Sprintf("AUTHEDGE_APP_PORT=%d", ports[1]),
		fmt.Sprintf("AUTHEDGE_ADMIN=127.0.0.1:%d", ports[2]),
	}
	out, code = runCaddy(t, env, "validate", "--config", example, "--adapter", "caddyfile")
	if code != 0 {
		t.Fatalf("caddy validate Caddyfile.example: exit %d\n%s", code, out)
	}
}

// TestReadmeCaddyfile keeps the README's Caddyfile snippet a config that
// Caddy accepts (adapt parses every directive; nothing is provisioned).
func TestReadmeCaddyfile(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```caddyfile\n")
	snippet, _, closed := strings.Cut(rest, "```")
	if !ok || !closed || !strings.Contains(snippet, "authedge {") {
		t.Fatal("README.md has no ```caddyfile block with an authedge directive")
	}
	file := filepath.Join(t.TempDir(), "Caddyfile")
	writeFile(t, file, snippet)
	out, code := runCaddy(t, nil, "adapt", "--config", file, "--adapter", "caddyfile")
	if code != 0 || !strings.Contains(out, `"handler":"authedge"`) {
		t.Fatalf("caddy adapt of the README's Caddyfile: exit %d\n%s", code, out)
	}
}
