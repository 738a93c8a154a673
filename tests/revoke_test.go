package tests

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// The revocation endpoints through the built caddy (docs/revocation.md).

// TestReferenceClientRevocation: CloudBase's SDK signs out both ways,
// revokes a device and all devices, and each revoked token is then refused.
func TestReferenceClientRevocation(t *testing.T) {
	f := newFixture(t, offPolicies)
	const sub, device = "sdk-user-1", "sdk-device-0123456789"
	tokens := make([]string, 4)
	for i := range tokens {
		tokens[i] = f.token(sub, claims{"jti": "session-" + string(rune('a'+i))})
	}
	runRefClient(t, f, "revoke", 4,
		"AUTHEDGE_REVOKE_TOKENS="+strings.Join(tokens, ","),
		"AUTHEDGE_DEVICE_TOKEN="+f.token(sub, claims{"device_id": device}),
		"AUTHEDGE_DEVICE_ID="+device,
	)
}

// secondCaddy starts another caddy with f's site, on its own ports: another
// instance sharing f's Redis.
func (f *fixture) secondCaddy() *caddyProc {
	f.t.Helper()
	b, err := os.ReadFile(f.caddy.File)
	if err != nil {
		f.t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, f.caddy.URL+" {\n")
	if start < 0 {
		f.t.Fatalf("no site block in %s", text)
	}
	body := strings.TrimSuffix(strings.TrimSpace(text[start+len(f.caddy.URL)+3:]), "}")
	return startCaddy(f.t, body)
}

// doAt is f.do against another instance.
func (f *fixture) doAt(p *caddyProc, method, path, token, body string, headers ...string) *response {
	f.t.Helper()
	saved := f.caddy
	f.caddy = p
	defer func() { f.caddy = saved }()
	return f.do(method, path, token, body, headers...)
}

// TestRevocationAcrossTwoCaddies: a revocation made through one instance is
// refused by another on the same Redis within a second, for each of the
// four ways, even though the other had just accepted the token; and the
// tokens stay refused after both instances restart.
func TestRevocationAcrossTwoCaddies(t *testing.T) {
	f := newFixture(t, offPolicies)
	other := f.secondCaddy()

	type victim struct {
		token   string
		headers []string
	}
	ways := []struct {
		name   string
		victim victim
		revoke func(v victim)
	}{
		{"revoke", victim{token: f.token("u-revoke", nil)}, func(v victim) {
			f.do("POST", "/auth/v1/revoke", "", `{"token":"`+v.token+`"}`).wantOK(t)
		}},
		{"signout", victim{token: f.token("u-signout", nil)}, func(v victim) {
			f.do("POST", "/auth/v1/user/signout", v.token, `{"redirect_uri":"https://x.example/"}`).wantOK(t)
		}},
		{"revoke all", victim{token: f.token("u-all", nil)}, func(victim) {
			f.do("DELETE", "/auth/v1/user/revoke/all", f.token("u-all", claims{"jti": "caller"}), "").wantOK(t)
		}},
		{"device", victim{token: f.token("u-device", claims{"device_id": "dev-1"}), headers: []string{"X-Device-Id", "dev-1"}}, func(victim) {
			f.do("DELETE", "/auth/v1/user/authorized/devices/dev-1", f.token("u-device", claims{"jti": "caller"}), "").wantOK(t)
		}},
	}
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			v := w.victim
			for range 3 {
				f.doAt(other, "GET", mePath, v.token, "", v.headers...).wantOK(t)
				time.Sleep(100 * time.Millisecond) // the other's log reader has read by now
			}
			w.revoke(v)
			start := time.Now()
			for {
				res := f.doAt(other, "GET", mePath, v.token, "", v.headers...)
				if res.Status == http.StatusUnauthorized {
					m := res.wantError(t, http.StatusUnauthorized, "unauthenticated")
					if d, _ := m["error_description"].(string); !strings.Contains(d, "revoked") {
						t.Errorf("error_description %q does not say revoked", d)
					}
					break
				}
				res.wantOK(t)
				if time.Since(start) > time.Second {
					t.Fatal("the other instance accepted the revoked token for over a second")
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("refused by the other instance %v after the revocation was answered", time.Since(start))
		})
	}

	// Both instances restart: the revocations are in Redis, not in them.
	f.caddy.stop()
	other.stop()
	f.caddy = f.secondCaddyFrom(other)
	again := f.secondCaddy()
	for _, w := range ways {
		for _, p := range []*caddyProc{f.caddy, again} {
			f.doAt(p, "GET", mePath, w.victim.token, "", w.victim.headers...).wantError(t, http.StatusUnauthorized, "unauthenticated")
		}
	}
	// A token issued after the revoke/all works.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	f.do("GET", mePath, f.token("u-all", claims{"jti": "later"}), "").wantOK(t)
}

// secondCaddyFrom starts a new caddy running p's site (p may be stopped).
func (f *fixture) secondCaddyFrom(p *caddyProc) *caddyProc {
	f.t.Helper()
	saved := f.caddy
	f.caddy = p
	defer func() { f.caddy = saved }()
	return f.secondCaddy()
}
