package tests

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

func TestPassThroughUntouched(t *testing.T) {
	f := newFixture(t, offPolicies)
	tok := f.token("user-1", nil)
	cases := []struct{ method, path, body, contentType string }{
		{"GET", "/", "", ""},
		{"GET", "/app/page?x=1&y=two", "", ""},
		{"POST", "/api/orders", `{"item":42}`, "application/json"},
		// Other CloudBase auth paths belong to the app (or another IdP).
		{"POST", "/auth/v1/signin", `{"username":"u","password":"p"}`, "text/plain;charset=UTF-8"},
		{"POST", "/auth/v1/token", "grant_type=refresh_token", "application/x-www-form-urlencoded"},
		{"GET", "/auth/v2/user/me", "", ""},
		{"GET", "/auth/v1/user/me/extra", "", ""},
		// user/profile is authedge's since issue 10; a password change is not.
		{"PATCH", "/auth/v1/user/password", `{"new_password":"x"}`, "text/plain;charset=UTF-8"},
		{"POST", "/auth/v1/user/basic/edit/more", strings.Repeat("x", 70<<10), "application/octet-stream"},
	}
	for _, c := range cases {
		before := f.app.Hits()
		// A token that would be refused: pass-through must not look at it.
		r := f.do(c.method, c.path, "not-a-jwt", c.body, "Content-Type", c.contentType, "X-Custom", "kept")
		if r.Status != http.StatusTeapot || r.Header.Get("X-Echo-App") != "yes" {
			t.Errorf("%s %s: not answered by the app: %s", c.method, c.path, r)
			continue
		}
		if f.app.Hits() != before+1 {
			t.Errorf("%s %s: app hits %d -> %d", c.method, c.path, before, f.app.Hits())
		}
		if cc := r.Header.Get("Cache-Control"); cc != "" {
			t.Errorf("%s %s: Cache-Control %q added to the app's response", c.method, c.path, cc)
		}
		var e echoed
		if err := json.Unmarshal(r.Body, &e); err != nil {
			t.Fatalf("echo: %v: %s", err, r)
		}
		path, query, _ := strings.Cut(c.path, "?")
		if e.Method != c.method || e.Path != path || e.Query != query || e.Body != c.body {
			t.Errorf("%s %s: app saw %s %s?%s body %d bytes", c.method, c.path, e.Method, e.Path, e.Query, len(e.Body))
		}
		h := http.Header(e.Header)
		if h.Get("Authorization") != "Bearer not-a-jwt" || h.Get("X-Custom") != "kept" || h.Get("Content-Type") != c.contentType {
			t.Errorf("%s %s: app saw headers %v", c.method, c.path, e.Header)
		}
	}
	// And an intercepted path never reaches the app.
	before := f.app.Hits()
	f.do("GET", mePath, tok, "").wantOK(t)
	f.do("GET", mePath, "", "").wantError(t, http.StatusUnauthorized, "unauthenticated")
	if f.app.Hits() != before {
		t.Errorf("user/me reached the app")
	}
}

func TestTransportErrors(t *testing.T) {
	f := newFixture(t, offPolicies)
	tok := f.token("user-1", nil)

	for _, c := range []struct{ method, path, allow string }{
		{"PUT", editPath, "POST"},
		{"GET", editPath, "POST"},
		{"POST", mePath, "GET"},
		{"DELETE", mePath, "GET"},
		{"GET", "/auth/v1/user/contact", "PATCH"},
		{"GET", "/auth/v1/user/sudo", "POST"},
		{"GET", "/auth/v1/verification", "POST"},
		{"PUT", "/auth/v1/verification/verify", "POST"},
	} {
		r := f.do(c.method, c.path, tok, "")
		r.wantError(t, http.StatusMethodNotAllowed, "method_not_allowed")
		if !strings.Contains(r.Header.Get("Allow"), c.allow) {
			t.Errorf("%s %s: Allow = %q, want %s", c.method, c.path, r.Header.Get("Allow"), c.allow)
		}
	}

	for _, ct := range []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", "text/plain; charset=latin1"} {
		f.do("POST", editPath, tok, `{"nickname":"Form"}`, "Content-Type", ct).wantError(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
	}

	big := `{"description":"` + strings.Repeat("a", 65<<10) + `"}`
	f.do("POST", editPath, tok, big).wantError(t, http.StatusRequestEntityTooLarge, "request_too_large")

	for _, c := range []struct{ body, mentions string }{
		{`{"nickname":`, ""},
		{`[{"nickname":"x"}]`, ""},
		{`"nickname"`, ""},
		{`{"nick":"Zhang"}`, "nick"},
		{`{"nickname":5}`, "nickname"},
		{`{"gender":"OTHER"}`, "gender"},
		{`{"username":"12345"}`, "username"},
		{`{"email":"not an email"}`, "email"},
		{`{"phone":"13000000000x"}`, "phone"},
		{`{"avatar_url":"javascript:alert(1)"}`, "avatar_url"},
		{`{"password":"secret"}`, "password"},
	} {
		m := f.do("POST", editPath, tok, c.body).wantError(t, http.StatusBadRequest, "invalid_argument")
		if c.mentions != "" && !strings.Contains(m["error_description"].(string), c.mentions) {
			t.Errorf("%s: error_description %q does not name %q", c.body, m["error_description"], c.mentions)
		}
	}
	// Nothing of the above was stored.
	wantFields(t, f.do("GET", mePath, tok, "").wantOK(t), map[string]string{"name": "", "description": "", "gender": ""})
}

// unsignedToken is a token with alg "none".
func unsignedToken(sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	h := enc([]byte(`{"alg":"none","typ":"JWT"}`))
	now := time.Now().Unix()
	p, _ := json.Marshal(map[string]any{"iss": testIssuer, "sub": sub, "aud": testEnv, "iat": now, "exp": now + 3600})
	return h + "." + enc(p) + "."
}

func hmacToken(t *testing.T, sub string) string {
	tok := jwt.New()
	_ = tok.Set("iss", testIssuer)
	_ = tok.Set("sub", sub)
	_ = tok.Set("aud", testEnv)
	_ = tok.Set("exp", time.Now().Add(time.Hour))
	raw, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte("a shared secret is not a public key")))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestTokenChecks(t *testing.T) {
	f := newFixture(t, offPolicies)
	_, _, stranger := testKeys(t)
	now := time.Now()

	// No token: RFC 6750 challenge without an error code.
	r := f.do("GET", mePath, "", "")
	r.wantError(t, http.StatusUnauthorized, "unauthenticated")
	if wa := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Bearer") || strings.Contains(wa, "invalid_token") {
		t.Errorf("WWW-Authenticate without a token = %q", wa)
	}
	r = f.do("GET", mePath, "", "", "Authorization", "Basic dXNlcjpwYXNz")
	r.wantError(t, http.StatusUnauthorized, "unauthenticated")

	bad := map[string]string{
		"garbage":          "not-a-jwt",
		"unknown key":      stranger.mint(t, "user-1", nil),
		"alg none":         unsignedToken("user-1"),
		"HMAC":             hmacToken(t, "user-1"),
		"expired":          f.token("user-1", claims{"iat": now.Add(-3 * time.Hour), "exp": now.Add(-2 * time.Hour)}),
		"not yet valid":    f.token("user-1", claims{"nbf": now.Add(time.Hour)}),
		"issued in future": f.token("user-1", claims{"iat": now.Add(time.Hour)}),
		"wrong issuer":     f.token("user-1", claims{"iss": "https://evil.example"}),
		"wrong audience":   f.token("user-1", claims{"aud": []string{"another-env"}}),
		"no sub":           f.token("", claims{"sub": nil}),
	}
	for name, tok := range bad {
		r := f.do("GET", mePath, tok, "")
		if r.Status != http.StatusUnauthorized {
			t.Errorf("%s: want 401, got %s", name, r)
			continue
		}
		r.wantError(t, http.StatusUnauthorized, "unauthenticated")
		if wa := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Bearer") || !strings.Contains(wa, `error="invalid_token"`) {
			t.Errorf("%s: WWW-Authenticate = %q", name, wa)
		}
	}

	// Within leeway (30s default) is fine; both configured keys are tried.
	f.do("GET", mePath, f.token("user-1", claims{"exp": now.Add(-5 * time.Second)}), "").wantOK(t)
	f.do("GET", mePath, f.rsa.mint(t, "user-1", nil), "").wantOK(t)
	f.do("GET", mePath, "", "", "Authorization", "bearer "+f.token("user-1", nil)).wantOK(t)

	// client_id: known values only; the token's aud must then contain it.
	f.do("GET", mePath+"?client_id=stranger", f.token("user-1", nil), "").wantError(t, http.StatusBadRequest, "invalid_argument")
	f.do("GET", mePath+"?client_id=e2e-web", f.token("user-1", nil), "").wantError(t, http.StatusUnauthorized, "unauthenticated")
	f.do("GET", mePath+"?client_id=e2e-web", f.token("user-1", claims{"aud": []string{"e2e-web"}}), "").wantOK(t)

	// x-device-id: well-formed, and equal to the token's device claim.
	f.do("GET", mePath, f.token("user-1", nil), "", "X-Device-Id", "bad id!").wantError(t, http.StatusBadRequest, "invalid_argument")
	f.do("GET", mePath, f.token("user-1", nil), "", "X-Device-Id", strings.Repeat("d", 129)).wantError(t, http.StatusBadRequest, "invalid_argument")
	bound := f.token("user-1", claims{"device_id": "device-1"})
	f.do("GET", mePath, bound, "").wantError(t, http.StatusUnauthorized, "unauthenticated")
	f.do("GET", mePath, bound, "", "X-Device-Id", "device-2").wantError(t, http.StatusUnauthorized, "unauthenticated")
	f.do("GET", mePath, bound, "", "X-Device-Id", "device-1").wantOK(t)
}

// TestCORSPreflightRoute runs configuration.md's answer to CORS: a route
// that answers preflights before authedge (whose own order would put it
// before respond), with the CORS headers of a header directive on
// authedge's answers too.
func TestCORSPreflightRoute(t *testing.T) {
	s := newEdgeStack(t)
	_, ec, _ := testKeys(t)
	site := fmt.Sprintf(`	header Access-Control-Allow-Origin https://app.example.com
	header Access-Control-Allow-Headers "%s"
	route {
		@preflight method OPTIONS
		respond @preflight 204
		%s
		reverse_proxy %s
	}`, corsAllowHeaders, minimalAuthedge(s.issuer, s.redis.Addr, `		identity {
			protect /app/*
			header X-User-Id sub
		}`), strings.TrimPrefix(s.app.URL, "http://"))
	caddy := startCaddy(t, site)
	tok := ec.mint(t, "user-1", nil)
	for _, c := range []struct {
		method, path, tok string
		status            int
	}{
		{"OPTIONS", mePath, "", http.StatusNoContent},
		{"OPTIONS", "/app/x", "", http.StatusNoContent},
		{"GET", mePath, tok, http.StatusOK},
		{"GET", mePath, "", http.StatusUnauthorized},
		{"DELETE", mePath, tok, http.StatusMethodNotAllowed},
	} {
		resp := send(t, c.method, caddy.URL+c.path, c.tok)
		if resp.StatusCode != c.status || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
			t.Errorf("%s %s: %d, Access-Control-Allow-Origin %q; want %d with the origin",
				c.method, c.path, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), c.status)
		}
		if got, _ := s.app.take(); got != nil {
			t.Errorf("%s %s reached the app", c.method, c.path)
		}
	}
}
