package tests

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// End to end through the built caddy: the rules of PATCH user/profile,
// checkIfUserExist's per-IP limit on Caddy's client IP, and user/query's
// admin scope and ID bound (docs/api.md).

const (
	profilePath  = "/auth/v1/user/profile"
	existPath    = "/auth/v1/checkIfUserExist"
	userQueryURL = "/auth/v1/user/query"
)

func TestSetProfileRulesE2E(t *testing.T) {
	f := newFixture(t, offPolicies)
	tok := f.token("e2e-user", nil)
	future := time.Now().UTC().Add(72 * time.Hour).Format(time.DateOnly)
	for _, tc := range []struct{ name, body, field string }{
		{"impossible date", `{"birthdate":"2023-02-29"}`, "birthdate"},
		{"future birthdate", `{"birthdate":"` + future + `"}`, "birthdate"},
		{"Mars/Olympus", `{"zoneinfo":"Mars/Olympus"}`, "zoneinfo"},
		{"malformed locale", `{"locale":"en--US"}`, "locale"},
		{"phone here", `{"phone_number":"+86 13000000000"}`, "phone_number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := f.do("PATCH", profilePath, tok, tc.body, "Content-Type", "text/plain;charset=UTF-8").wantError(t, 400, "invalid_argument")
			if d, _ := got["error_description"].(string); !strings.Contains(d, tc.field) {
				t.Errorf("error_description %q does not name %s", d, tc.field)
			}
		})
	}
	got := f.do("PATCH", profilePath, tok, `{"name":"E2E User","birthdate":"2024-02-29","zoneinfo":"Europe/Paris","locale":"fr-ca"}`).wantOK(t)
	wantFields(t, got, map[string]string{"sub": "e2e-user", "birthdate": "2024-02-29", "zoneinfo": "Europe/Paris", "locale": "fr-CA"})
	wantFields(t, f.do("GET", mePath, tok, "").wantOK(t), map[string]string{"birthdate": "2024-02-29", "locale": "fr-CA"})
}

// TestLookupStormE2E: 30 checkIfUserExist a minute from one client IP,
// then 429 with Retry-After; an X-Forwarded-For from a client Caddy does
// not trust (no trusted_proxies here) changes nothing.
func TestLookupStormE2E(t *testing.T) {
	f := newFixture(t, offPolicies)
	f.do("POST", editPath, f.token("owner", nil), `{"username":"Storm_Owner"}`).wantOK(t)
	for i := range 30 {
		got := f.do("GET", existPath+"?username=storm_owner&client_id="+testEnv, "", "").wantOK(t)
		if got["exist"] != true {
			t.Fatalf("lookup %d: %v", i+1, got)
		}
	}
	r := f.do("GET", existPath+"?username=storm_owner", "", "")
	r.wantError(t, 429, "resource_exhausted")
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After = %q", r.Header.Get("Retry-After"))
	}
	f.do("GET", existPath+"?username=storm_owner", "", "", "X-Forwarded-For", "203.0.113.9").wantError(t, 429, "resource_exhausted")
}

func TestQueryUsersE2E(t *testing.T) {
	f := newFixture(t, offPolicies)
	f.do("POST", editPath, f.token("q-user", nil), `{"username":"QueryMe","email":"q@Bücher.example"}`).wantOK(t)
	admin := f.token("q-admin", claims{"scope": "openid admin"})
	got := f.do("GET", userQueryURL+"?email="+url.QueryEscape("Q@xn--bcher-kva.example"), admin, "").wantOK(t)
	if got["total"] != float64(1) {
		t.Fatalf("query by email: %v", got)
	}
	f.do("GET", userQueryURL+"?username=queryme", f.token("q-user", nil), "").wantError(t, 403, "permission_denied")
	ids := make([]string, 101)
	for i := range ids {
		ids[i] = "u" + strconv.Itoa(i)
	}
	f.do("GET", userQueryURL+"?id="+strings.Join(ids, ","), admin, "").wantError(t, 400, "invalid_argument")
	if got := f.do("GET", userQueryURL+"?id="+strings.Join(ids[:99], ",")+",q-user", admin, "").wantOK(t); got["total"] != float64(1) {
		t.Fatalf("100 IDs: %v", got)
	}
}

// TestLookupLimitBehindTrustedProxyE2E: behind a trusted proxy that appends
// to X-Forwarded-For, a client chooses the header's left-most entry. With
// trusted_proxies_strict Caddy takes the right-most untrusted entry, so a
// forged left-most address does not buy a fresh lookup budget. Without
// it, authedge warns once that the per-IP limits can be bypassed (the
// warning is what the lenient case fails without).
func TestLookupLimitBehindTrustedProxyE2E(t *testing.T) {
	const warning = "without trusted_proxies_strict"
	const client = "198.51.100.7"
	forged := func(i int) string { return "10.9.0." + strconv.Itoa(i) + ", " + client }
	t.Run("strict", func(t *testing.T) {
		f := newFixtureWith(t, "\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t\ttrusted_proxies_strict\n\t}\n", offPolicies)
		for range 30 {
			f.do("GET", existPath+"?username=storm_owner", "", "", "X-Forwarded-For", client).wantOK(t)
		}
		for i := range 5 {
			f.do("GET", existPath+"?username=storm_owner", "", "", "X-Forwarded-For", forged(i)).wantError(t, 429, "resource_exhausted")
		}
		if strings.Contains(f.caddy.logs.String(), warning) {
			t.Error("warned about a strict server")
		}
	})
	t.Run("lenient", func(t *testing.T) {
		f := newFixtureWith(t, "\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}\n", offPolicies)
		for i := range 3 {
			f.do("GET", existPath+"?username=storm_owner", "", "", "X-Forwarded-For", forged(i)).wantOK(t)
		}
		deadline := time.Now().Add(2 * time.Second)
		for strings.Count(f.caddy.logs.String(), warning) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := strings.Count(f.caddy.logs.String(), warning); n != 1 {
			t.Errorf("%d warnings about lenient trusted_proxies after 3 requests, want 1", n)
		}
	})
}
