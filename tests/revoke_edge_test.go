package tests

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Revocation at the identity edge (docs/revocation.md, docs/identity.md):
// a token revoked through one Caddy instance stops at the protected paths
// of another sharing the Redis, and an instance that cannot read the
// revocations refuses rather than passes.

// edgeSite is an identity block without profile sources: the only Redis a
// protected path needs is the revocation check.
func (s *edgeStack) edgeSite(global string) *caddyProc {
	s.t.Helper()
	return startCaddyWith(s.t, global, minimalAuthedge(s.issuer, s.redis.Addr, `		identity {
			protect /app/*
			header X-User-Id sub
		}`)+"\n\treverse_proxy "+strings.TrimPrefix(s.app.URL, "http://"))
}

// untilStatus sends GET url with tok until the answer is want, and fails t
// if that takes longer than limit or the app is reached once limit passed.
func untilStatus(t *testing.T, url, tok string, want int, limit time.Duration, headers ...string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		resp := send(t, "GET", url, tok, headers...)
		if resp.StatusCode == want {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("GET %s: still %d %v after the change, want %d", url, resp.StatusCode, limit, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRevokedTokenStopsAtTheEdgeOfEveryCaddy(t *testing.T) {
	s := newEdgeStack(t)
	a, b := s.edgeSite(""), s.edgeSite("")
	_, ec, _ := testKeys(t)
	for _, way := range []string{"revoke", "revoke/all", "device"} {
		t.Run(way, func(t *testing.T) {
			sub := "edge-" + strings.ReplaceAll(way, "/", "-")
			var victim string
			var headers []string
			switch way {
			case "device":
				victim, headers = ec.mint(t, sub, map[string]any{"device_id": "dev-1"}), []string{"X-Device-Id", "dev-1"}
			default:
				victim = ec.mint(t, sub, nil)
			}
			// b has judged it good, and passed it to the app.
			for range 3 {
				if resp := send(t, "GET", b.URL+"/app/x", victim, headers...); resp.StatusCode != http.StatusTeapot {
					t.Fatalf("before the revocation: %d, want the app's 418", resp.StatusCode)
				}
				time.Sleep(50 * time.Millisecond)
			}
			caller := ec.mint(t, sub, map[string]any{"jti": "caller"})
			var resp *http.Response
			switch way {
			case "revoke":
				req, _ := http.NewRequest("POST", a.URL+"/auth/v1/revoke", strings.NewReader(`{"token":"`+victim+`"}`))
				resp = do(t, req)
			case "revoke/all":
				req, _ := http.NewRequest("DELETE", a.URL+"/auth/v1/user/revoke/all", nil)
				req.Header.Set("Authorization", "Bearer "+caller)
				resp = do(t, req)
			case "device":
				req, _ := http.NewRequest("DELETE", a.URL+"/auth/v1/user/authorized/devices/dev-1", nil)
				req.Header.Set("Authorization", "Bearer "+caller)
				resp = do(t, req)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revoking through a: %d", resp.StatusCode)
			}
			s.app.take()
			took := untilStatus(t, b.URL+"/app/x", victim, http.StatusUnauthorized, time.Second, headers...)
			t.Logf("b refused the revoked token %v after a answered", took)
			// An unprotected path takes it as anonymous: no identity.
			send(t, "GET", b.URL+"/public", victim, headers...)
			got, _ := s.app.take()
			if got == nil || got.Get("X-User-Id") != "" {
				t.Errorf("unprotected path with a revoked token: X-User-Id %q, want anonymous", got.Get("X-User-Id"))
			}
		})
	}

	// Redis gone: a token b judged good a moment ago is not taken on
	// b's memory for more than the documented 750 ms plus a read.
	good := ec.mint(t, "edge-good", nil)
	if resp := send(t, "GET", b.URL+"/app/x", good); resp.StatusCode != http.StatusTeapot {
		t.Fatalf("a good token: %d", resp.StatusCode)
	}
	s.redis.Stop()
	untilStatus(t, b.URL+"/app/x", good, http.StatusServiceUnavailable, time.Second)
	for range 5 {
		if resp := send(t, "GET", b.URL+"/app/x", good); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("Redis down: a protected path answered %d, want 503", resp.StatusCode)
		}
	}
}

// The app behind reads the device ID the client sent; for a bound token
// it must be the one authedge held to the token. Caddy drops a header
// spelt with '_' or '.' (which php_fastcgi and PHP read as X-Device-Id)
// unless the server expects it, and then drops the '-' spelling instead:
// authedge then sees no x-device-id, and refuses the bound token.
func TestAppNeverReadsAnotherDeviceThanTheOneChecked(t *testing.T) {
	s := newEdgeStack(t)
	_, ec, _ := testKeys(t)
	bound := ec.mint(t, "edge-dev", map[string]any{"device_id": "dev-a"})
	for _, global := range []string{"", "servers {\n\t\texpected_underscore_headers X_Device_Id\n\t}\n"} {
		caddy := s.edgeSite(global)
		for _, spoof := range [][]string{
			{"X-Device-Id", "dev-a", "X_Device_Id", "dev-b"},
			{"X-Device-Id", "dev-a", "x_device_id", "dev-b"},
			{"X-Device-Id", "dev-a", "X.Device.Id", "dev-b"},
		} {
			resp := send(t, "GET", caddy.URL+"/app/x", bound, spoof...)
			got, _ := s.app.take()
			t.Logf("%q %q: %d", global, spoof, resp.StatusCode)
			if resp.StatusCode != http.StatusTeapot {
				if got != nil {
					t.Errorf("%q %q: refused (%d) yet the app was reached", global, spoof, resp.StatusCode)
				}
				continue
			}
			for k, v := range got {
				if strings.EqualFold(strings.NewReplacer("_", "-", ".", "-").Replace(k), "X-Device-Id") && (len(v) != 1 || v[0] != "dev-a") {
					t.Errorf("%q %q: the app got %s: %q beside a token bound to dev-a", global, spoof, k, v)
				}
			}
		}
		caddy.stop()
	}
}

// do sends req and closes the answer's body.
func do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}
