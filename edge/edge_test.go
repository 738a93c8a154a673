package edge

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap/zapcore"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/store"
)

// identityBlock is a block with every kind of header source.
func identityBlock(assertionKey string) *config.Identity {
	id := &config.Identity{
		Protect:      []string{"/app/*", "*.secret", "/exact"},
		ProtectScope: []config.ProtectScope{{Scope: "admin", Paths: []string{"/admin/*"}}},
		Headers: []config.IdentityHeader{
			{Name: "X-User-Id", Source: "sub"},
			{Name: "X-Scope", Source: "scope"},
			{Name: "X-Level", Source: "level"},
			{Name: "X-Vip", Source: "vip"},
			{Name: "X-Tenant", Source: "tenant"},
			{Name: "X-Nickname", Source: "profile.nickname"},
			{Name: "X-Email", Source: "profile.email"},
		},
		StripAuthorization: true,
	}
	if assertionKey != "" {
		id.Assertion = &config.Assertion{Key: assertionKey, Claims: []string{"tenant", "level", "profile.nickname"}}
	}
	return id
}

var identityHeaders = []string{"X-User-Id", "X-Scope", "X-Level", "X-Vip", "X-Tenant", "X-Nickname", "X-Email", "X-Authedge-Assertion"}

// spoof adds client copies of every identity header: canonical,
// lower-case and upper-case keys (as a handler before the edge may add
// them), duplicated, and empty.
func spoof(r *http.Request) {
	for _, h := range identityHeaders {
		r.Header[h] = []string{"spoofed", ""}
		r.Header[strings.ToLower(h)] = []string{"spoofed-lower"}
		r.Header[strings.ToUpper(h)] = []string{""}
	}
}

// spoofedLeft lists what is left of the spoofed copies.
func spoofedLeft(r *http.Request) []string {
	var left []string
	for k, vs := range r.Header {
		for _, v := range vs {
			if strings.HasPrefix(v, "spoofed") || (v == "" && strings.HasPrefix(strings.ToLower(k), "x-")) {
				left = append(left, k+": "+v)
			}
		}
	}
	return left
}

func TestSpoofedHeadersNeverPass(t *testing.T) {
	e := newEnv(t, identityBlock(privatePEM(t, newECKey(t))))
	valid := e.token("user-1", nil)
	invalid := valid[:len(valid)-4] + "AAAA"
	for _, path := range []string{"/public", "/app/x"} {
		for name, tok := range map[string]string{"none": "", "valid": valid, "invalid": invalid} {
			r := request(path, tok)
			spoof(r)
			got, _, w := e.serve(r)
			if got == nil {
				if path == "/public" || tok == valid {
					t.Fatalf("%s, %s token: refused %d %s", path, name, w.Code, w.Body)
				}
				continue
			}
			if left := spoofedLeft(got); len(left) > 0 {
				t.Errorf("%s, %s token: client copies reached the app: %v", path, name, left)
			}
			if got.Header.Get("Authorization") != "" {
				t.Errorf("%s, %s token: strip_authorization left the Authorization header", path, name)
			}
			if tok != valid && got.Header.Get("X-User-Id") != "" {
				t.Errorf("%s, %s token: an anonymous request got X-User-Id", path, name)
			}
		}
	}
}

func TestProtectedPathsAnswerInTheErrorShape(t *testing.T) {
	e := newEnv(t, identityBlock(""))
	user := e.token("user-1", map[string]any{"scope": "openid"})
	admin := e.token("admin-1", map[string]any{"scope": "openid admin"})
	tests := []struct {
		path, tok string
		status    int
		code      string
	}{
		{"/app/x", "", 401, "unauthenticated"},
		{"/app/x", "not.a.token", 401, "unauthenticated"},
		{"/APP/x", "", 401, "unauthenticated"},
		{"//app/x", "", 401, "unauthenticated"},
		{"/app/../app/x", "", 401, "unauthenticated"},
		{"/exact", "", 401, "unauthenticated"},
		{"/EXACT", "", 401, "unauthenticated"},
		{"/dir/file.SECRET", "", 401, "unauthenticated"},
		{"/admin/panel", user, 403, "permission_denied"},
		{"/Admin//panel", user, 403, "permission_denied"},
		{"/admin/panel", admin, 200, ""},
		{"/app/x", user, 200, ""},
		{"/exact/more", "", 200, ""},
		{"/application", "", 200, ""},
		{"/public", "not.a.token", 200, ""},
	}
	for _, tt := range tests {
		got, _, w := e.serve(request(tt.path, tt.tok))
		if tt.status == 200 {
			if got == nil {
				t.Errorf("%s: refused %d %s", tt.path, w.Code, w.Body)
			}
			continue
		}
		if got != nil || w.Code != tt.status {
			t.Errorf("%s: want %d, got %d (passed: %v)", tt.path, tt.status, w.Code, got != nil)
			continue
		}
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["error"] != tt.code ||
			body["error_code"] != float64(tt.status) || body["error_description"] == "" || len(body) != 3 {
			t.Errorf("%s: body %s is not {error: %s, error_code, error_description}", tt.path, w.Body, tt.code)
		}
		if tt.status == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: 401 without a Bearer challenge", tt.path)
		}
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: error without Cache-Control: no-store", tt.path)
		}
	}
}

// TestMissingScopeChallenge: a token without a protect_scope path's scope
// gets, with its 403, the challenge RFC 6750 3 requires of a token that
// does not enable access, naming the scope, so that a client can ask its
// provider for a token that has it.
func TestMissingScopeChallenge(t *testing.T) {
	e := newEnv(t, identityBlock(""))
	user := e.token("user-1", map[string]any{"scope": "openid"})
	got, _, w := e.serve(request("/admin/panel", user))
	if got != nil || w.Code != http.StatusForbidden {
		t.Fatalf("want 403, got %d (passed: %v)", w.Code, got != nil)
	}
	want := `Bearer realm="authedge", error="insufficient_scope", error_description="this path needs the scope admin", scope="admin"`
	if h := w.Header().Get("WWW-Authenticate"); h != want {
		t.Errorf("WWW-Authenticate = %q, want %q", h, want)
	}
}

// TestMissingScopeChallengeOddScope: a scope a header cannot carry as
// written (RFC 6749's scope-token is printable ASCII) is left out of the
// challenge rather than named with its other characters dropped: a
// client that asked its provider for "dmin" or "" would get no further.
func TestMissingScopeChallengeOddScope(t *testing.T) {
	for _, c := range []struct{ scope, want string }{
		{"ädmin", `Bearer realm="authedge", error="insufficient_scope", error_description="this path needs the scope dmin"`},
		{"a\\b", `Bearer realm="authedge", error="insufficient_scope", error_description="this path needs the scope a\\b", scope="a\\b"`},
	} {
		e := newEnv(t, &config.Identity{ProtectScope: []config.ProtectScope{{Scope: c.scope, Paths: []string{"/admin/*"}}}})
		user := e.token("user-1", map[string]any{"scope": "openid"})
		got, _, w := e.serve(request("/admin/panel", user))
		if got != nil || w.Code != http.StatusForbidden {
			t.Fatalf("%q: want 403, got %d (passed: %v)", c.scope, w.Code, got != nil)
		}
		if h := w.Header().Get("WWW-Authenticate"); h != c.want {
			t.Errorf("%q: WWW-Authenticate = %q, want %q", c.scope, h, c.want)
		}
	}
}

// The device binding, client_id and audience are the API's: a token the API
// refuses is refused here.
func TestTokenCheckedAsTheAPIChecksIt(t *testing.T) {
	e := newEnv(t, identityBlock(""))
	bound := e.token("user-1", map[string]any{"device_id": "dev-1"})
	otherAud := e.token("user-1", map[string]any{"aud": []string{"someone-else"}})
	if got, _, w := e.serve(request("/app/x", bound)); got != nil || w.Code != 401 {
		t.Errorf("a device-bound token without x-device-id: want 401, got %d", w.Code)
	}
	if got, _, w := e.serve(request("/app/x", bound, "X-Device-Id", "dev-1")); got == nil {
		t.Errorf("a device-bound token with its x-device-id: refused %d %s", w.Code, w.Body)
	}
	if got, _, w := e.serve(request("/app/x", otherAud)); got != nil || w.Code != 401 {
		t.Errorf("a token for another audience: want 401, got %d", w.Code)
	}
	if got, _, w := e.serve(request("/app/x?client_id=unknown", e.token("user-1", nil))); got != nil || w.Code != 400 {
		t.Errorf("an unknown client_id: want 400 as the API answers, got %d", w.Code)
	}
}

func TestHeadersFromClaimsAndProfile(t *testing.T) {
	e := newEnv(t, identityBlock(""))
	tok := e.token("user-1", map[string]any{"scope": "openid profile", "level": 3, "vip": true, "ratio": 1.5})
	r, id, w := e.serve(request("/app/x", tok))
	if r == nil {
		t.Fatalf("refused: %d %s", w.Code, w.Body)
	}
	want := map[string]string{"X-User-Id": "user-1", "X-Scope": "openid profile", "X-Level": "3", "X-Vip": "true"}
	for h, v := range want {
		if got := r.Header.Values(h); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want [%q]", h, got, v)
		}
	}
	// No tenant claim, no profile yet: absent, not empty.
	for _, h := range []string{"X-Tenant", "X-Nickname", "X-Email"} {
		if _, ok := r.Header[h]; ok {
			t.Errorf("%s is present (%q) for a missing value", h, r.Header[h])
		}
	}
	if v, ok := id.Claim("ratio"); !ok || v != "1.5" {
		t.Errorf("claim ratio = %q, %v", v, ok)
	}
	if e.profiles.reads.Load() != 1 {
		t.Errorf("profile read %d times for two profile headers, want 1", e.profiles.reads.Load())
	}

	// After an edit through the store, the next request sees it.
	nick := "Ann"
	if _, err := e.store.EnsureProfile(t.Context(), "user-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Edit(t.Context(), editNickname("user-1", nick)); err != nil {
		t.Fatal(err)
	}
	r, _, _ = e.serve(request("/app/x", tok))
	if got := r.Header.Get("X-Nickname"); got != nick {
		t.Errorf("X-Nickname after an edit = %q, want %q", got, nick)
	}
}

// TestValuesThatCannotBeHeaderValues: a claim or profile field holding a
// control character (a description may hold a newline) leaves its header
// absent. Set, it made Go's transport, and so reverse_proxy, refuse every
// request of that user to the app (502); the assertion still carries it.
func TestValuesThatCannotBeHeaderValues(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(app.Close)
	block := &config.Identity{
		Protect: []string{"/app/*"},
		Headers: []config.IdentityHeader{{Name: "X-User-Id", Source: "sub"}, {Name: "X-Tenant", Source: "tenant"},
			{Name: "X-Bio", Source: "profile.description"}},
		Assertion: &config.Assertion{Key: privatePEM(t, newEdKey(t)), Claims: []string{"profile.description"}},
	}
	e := newEnv(t, block)
	bio := "line one\nline two"
	if _, err := e.store.Edit(t.Context(), store.Edit{Actor: "user-1", Target: "user-1", CreateIfMissing: true,
		Changes: store.Changes{Description: &bio}}); err != nil {
		t.Fatal(err)
	}
	r, _, w := e.serve(request("/app/x", e.token("user-1", map[string]any{"tenant": "t\r\nX-User-Id: user-2"})))
	if r == nil {
		t.Fatalf("refused %d %s", w.Code, w.Body)
	}
	if r.Header.Get("X-User-Id") != "user-1" {
		t.Errorf("X-User-Id = %q", r.Header.Get("X-User-Id"))
	}
	for _, h := range []string{"X-Tenant", "X-Bio"} {
		if v, ok := r.Header[h]; ok {
			t.Errorf("%s = %q, want absent", h, v)
		}
	}
	// HTTP trims spaces and tabs around a value: the app would read
	// " user-2" as user-2.
	for _, sub := range []string{" user-2", "user-2 ", " "} {
		r, _, w := e.serve(request("/app/x", e.token(sub, map[string]any{"tenant": " t"})))
		if r == nil {
			t.Fatalf("sub %q refused %d %s", sub, w.Code, w.Body)
		}
		for _, h := range []string{"X-User-Id", "X-Tenant"} {
			if v, ok := r.Header[h]; ok {
				t.Errorf("sub %q: %s = %q, want absent", sub, h, v)
			}
		}
	}
	claims := verifyAssertion(t, r.Header.Get("X-Authedge-Assertion"), parseJWKS(t, e.edge.JWKS())[0])
	if claims["description"] != bio {
		t.Errorf("the assertion's description = %v, want %q", claims["description"], bio)
	}
	out, err := http.NewRequest(http.MethodGet, app.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	out.Header = r.Header
	resp, err := app.Client().Do(out)
	if err != nil {
		t.Fatalf("the app's request cannot be sent: %v", err)
	}
	resp.Body.Close()
}

// TestValuesWithSurroundingSpace: a value that starts or ends with a space
// or a tab leaves its header absent. HTTP trims that whitespace from a
// field value (RFC 9110 5.5; Go's transport does so when it sends one), so
// the app would read the subject "user-1 " as the other user "user-1".
func TestValuesWithSurroundingSpace(t *testing.T) {
	var got http.Header
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	t.Cleanup(app.Close)
	block := &config.Identity{
		Protect: []string{"/app/*"},
		Headers: []config.IdentityHeader{{Name: "X-User-Id", Source: "sub"}, {Name: "X-Tenant", Source: "tenant"},
			{Name: "X-Role", Source: "role"}},
	}
	e := newEnv(t, block)
	r, _, w := e.serve(request("/app/x", e.token("user-1 ", map[string]any{"tenant": "\tt1", "role": "a b"})))
	if r == nil {
		t.Fatalf("refused %d %s", w.Code, w.Body)
	}
	out, err := http.NewRequest(http.MethodGet, app.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	out.Header = r.Header
	resp, err := app.Client().Do(out)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, h := range []string{"X-User-Id", "X-Tenant"} {
		if v, ok := got[h]; ok {
			t.Errorf("the app read %s = %q, want absent", h, v)
		}
	}
	if got.Get("X-Role") != "a b" {
		t.Errorf("X-Role = %q, want %q", got.Get("X-Role"), "a b")
	}
}

func TestRedisDown(t *testing.T) {
	e := newEnv(t, identityBlock(privatePEM(t, newECKey(t))))
	tok := e.token("user-1", nil)
	e.redis.Stop()
	if got, _, w := e.serve(request("/app/x", tok)); got != nil || w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Errorf("protected path, Redis down: want 503 with Retry-After, got %d %s", w.Code, w.Body)
	}
	// An outage is a warning, as the API's 503s are: operators must see
	// it without debug logs.
	if n := e.logs.FilterMessage("app request refused").FilterLevelExact(zapcore.WarnLevel).Len(); n != 1 {
		t.Errorf("protected path, Redis down: %d warnings, want 1 (%v)", n, e.logs.All())
	}
	r := request("/public", tok)
	spoof(r)
	got, id, w := e.serve(r)
	if got == nil {
		t.Fatalf("unprotected path, Redis down: refused %d %s", w.Code, w.Body)
	}
	if id != nil || got.Header.Get("X-User-Id") != "" || len(spoofedLeft(got)) > 0 {
		t.Errorf("unprotected path, Redis down: not anonymous (identity %v, X-User-Id %q)", id, got.Header.Get("X-User-Id"))
	}
}

func TestAssertion(t *testing.T) {
	for name, key := range map[string]any{"ES256": newECKey(t), "EdDSA": newEdKey(t)} {
		t.Run(name, func(t *testing.T) {
			previous := newECKey(t)
			der, _ := x509MarshalPKIX(t, &previous.PublicKey)
			block := identityBlock(privatePEM(t, key))
			block.Assertion.PreviousKeys = []string{writeFile(t, "prev.pem", der)}
			block.Assertion.TTL = caddy.Duration(2 * time.Minute)
			e := newEnv(t, block)
			// The access token expires in 90 s: the assertion must not outlive it.
			tok := e.token("user-1", map[string]any{"scope": "openid", "tenant": "t-9", "level": 7,
				"exp": e.now.Add(90 * time.Second).Unix()})
			r, _, w := e.serve(request("/app/x", tok))
			if r == nil {
				t.Fatalf("refused: %d %s", w.Code, w.Body)
			}
			keys := parseJWKS(t, e.edge.JWKS())
			if len(keys) != 2 {
				t.Fatalf("JWKS has %d keys, want key and previous_key", len(keys))
			}
			claims := verifyAssertion(t, r.Header.Get("X-Authedge-Assertion"), keys[0])
			want := map[string]any{"iss": "authedge:" + testEnvID, "aud": testEnvID, "sub": "user-1",
				"scope": "openid", "tenant": "t-9", "level": float64(7),
				"iat": float64(e.now.Unix()), "exp": float64(e.now.Add(90 * time.Second).Unix())}
			for k, v := range want {
				if claims[k] != v {
					t.Errorf("claim %s = %v, want %v", k, claims[k], v)
				}
			}
			if _, ok := claims["nickname"]; ok {
				t.Error("an empty profile field is in the assertion")
			}
			if jti, _ := claims["jti"].(string); len(jti) < 16 {
				t.Errorf("jti %q is not a random ID", jti)
			}
			// A second assertion has another jti.
			r2, _, _ := e.serve(request("/app/x", tok))
			if c2 := verifyAssertion(t, r2.Header.Get("X-Authedge-Assertion"), keys[0]); c2["jti"] == claims["jti"] {
				t.Error("two assertions share a jti")
			}
		})
	}
}

// TestAssertionWithinLeeway: a token accepted within the leeway after its
// exp gets an assertion that ends when the token did, and is not issued
// after it ends: iat is moved back to exp, never past it.
func TestAssertionWithinLeeway(t *testing.T) {
	e := newEnv(t, identityBlock(privatePEM(t, newECKey(t))))
	expired := e.now.Add(-10 * time.Second).Unix() // within newEnv's 30 s leeway
	r, _, w := e.serve(request("/app/x", e.token("user-1", map[string]any{"exp": expired})))
	if r == nil {
		t.Fatalf("refused: %d %s", w.Code, w.Body)
	}
	claims := verifyAssertion(t, r.Header.Get("X-Authedge-Assertion"), parseJWKS(t, e.edge.JWKS())[0])
	if claims["exp"] != float64(expired) || claims["iat"] != float64(expired) {
		t.Errorf("iat %v, exp %v: want both %d, the token's exp", claims["iat"], claims["exp"], expired)
	}
}

func TestAnonymousGetsNoAssertion(t *testing.T) {
	e := newEnv(t, identityBlock(privatePEM(t, newECKey(t))))
	r, id, _ := e.serve(request("/public", ""))
	if r == nil || id != nil || r.Header.Get("X-Authedge-Assertion") != "" {
		t.Errorf("an anonymous request got an identity or an assertion")
	}
}

func TestPathsMatchAsCaddyMatches(t *testing.T) {
	e := newEnv(t, &config.Identity{Protect: []string{"/app/*", "/exact", "*.php"}})
	for path, want := range map[string]bool{
		"/app/x": true, "/APP/x": true, "//app/x": true, "/app//x": true, "/./app/x": true,
		"/x/../app/y": true, "/app/": true, "/app": false, "/exact": true, "/Exact": true,
		"/exact/": false, "/a/b.PHP": true, "/other": false,
		// php_fastcgi runs b.php for these (the rest is PATH_INFO).
		"/a/b.php/": true, "/a/b.php/x/y": true, "/a/b.phpx/y": false,
	} {
		r := request(path, "")
		if got, _ := e.edge.Protected(r); got != want {
			t.Errorf("%s: protected = %v, want %v", path, got, want)
		}
	}
}

// TestPathsAsWrittenProtected: a path that Caddy's cleaning takes out of
// a protected prefix, with escaped slashes or dot segments, is protected
// still: reverse_proxy sends it as written, and an app routing on the raw
// path serves it under the prefix.
func TestPathsAsWrittenProtected(t *testing.T) {
	e := newEnv(t, &config.Identity{Protect: []string{"/app/*"},
		ProtectScope: []config.ProtectScope{{Scope: "admin", Paths: []string{"/admin/*", "/scope/*"}}}})
	e.wantProtected(t, map[string]bool{
		"/app/x/..%2F..%2Fpublic": true, "/app/x/..%2f..%2fpublic": true, "/app/%2e%2e/public": true,
		"/app/%2E%2E/public": true, "/app/../public": true, "/app/./../public": true, "/app/x%2F..%2F..%2Fy": true,
		"/APP/%2e%2e/public": true, "/public/../x": false, "/public/%2e%2e/x": false, "/a%20b/../c": false,
		"/public/app.js": false, "/public/%2e/app": false,
		// Tomcat, Jetty and Spring drop each segment's path parameters
		// (;...) before they resolve dot segments.
		"/public/..;/app/x": true, "/public/..;a=b/app/x": true, "/public/%2e%2e;/app/x": true,
		"/app;jsessionid=1/x": true, "/APP;x/y": true, "/public;x/y": false, "/public/x;/../y": false,
		"/public/a%3B/../app/x": false,
		// Python's re.IGNORECASE and Java's equalsIgnoreCase read ı as i
		// and ſ as s (their upper cases are I and S); strings.ToLower,
		// Caddy's, leaves both as they are.
		"/admın/x": true, "/ADMıN/x": true, "/adm%C4%B1n/x": true, "/ſcope/x": true, "/%C4%B1pp/x": false, "/ap%C4%B1/x": false,
		"/publıc/x": false,
		// php_fastcgi passes /index.php/app/x to index.php, and Laravel
		// and Symfony route on what follows the script: /app/x.
		"/index.php/app/x": true, "/INDEX.PHP/app/x": true, "/a/b.php/admin/x": true, "/x.php/%2e%2e/app/y": true,
		"/index.php/public": false, "/index.php": false, "/app.php": false, "/x.phpapp/y": false,
	})
	got, scopes := e.edge.Protected(request("/admin/x/..%2F..%2Fpublic", ""))
	if !got || len(scopes) != 1 || scopes[0] != "admin" {
		t.Errorf("/admin/x/..%%2F..%%2Fpublic: protected = %v, scopes %v, want the admin scope", got, scopes)
	}
	// Under the scope by both readings: the scope once.
	e.wantOneScope(t, request("/admin/x%2Fy", ""))
	tok := e.token("user-1", nil)
	e.wantStopped(t, request("/app/x/..%2F..%2Fpublic", ""), http.StatusUnauthorized)
	e.wantStopped(t, request("/admin/%2e%2e/public", tok), http.StatusForbidden)
}

// TestPathsWithBackslashesProtected: IIS (HTTP.sys) reads a backslash,
// literal or escaped as %5C, as a '/', and then resolves dot segments,
// so that /public/..%5Capp/x is its /app/x; Caddy's matcher reads the
// backslash as a letter. reverse_proxy sends it escaped, as %5C.
func TestPathsWithBackslashesProtected(t *testing.T) {
	e := newEnv(t, &config.Identity{Protect: []string{"/app/*", "/exact"},
		ProtectScope: []config.ProtectScope{{Scope: "admin", Paths: []string{"/admin/*"}}}})
	e.wantProtected(t, map[string]bool{
		"/public/..%5Capp/x": true, "/public/..%5capp/x": true, `/public/..\app/x`: true, `/app\x`: true,
		"/public%5C..%5C..%5Capp%5Cx": true, "/public/..%5CAPP/x": true, "/exact%5C": false,
		"/public/%2e%2e%5Capp/x": true, "/public%5Cx": false, "/a%5C..%5Cpublic": false,
	})
	e.wantOneScope(t, request("/public/..%5Cadmin/x", ""))
	e.wantStopped(t, request("/public/..%5Capp/x", ""), http.StatusUnauthorized)
}

// TestNetworkPathReferencesProtected: a path that starts with "//" is,
// to a URL parser given it as a reference (WHATWG's new URL(req.url,
// base) in Node, Python's urlsplit, PHP's parse_url), a host and then a
// path: //x/app/x is /app/x to an app that routes on what such a parser
// returns, and //x/app/x to Caddy's matcher.
func TestNetworkPathReferencesProtected(t *testing.T) {
	e := newEnv(t, &config.Identity{Protect: []string{"/app/*"},
		ProtectScope: []config.ProtectScope{{Scope: "admin", Paths: []string{"/admin/*"}}}})
	e.wantProtected(t, map[string]bool{
		"//x/app/x": true, "///x/app/x": true, "//u@x:8080/app/x": true, "//x%2Fy/app/x": true,
		"//x/APP/x": true, "//x/app/..%2F..%2Fpublic": true, "//app/x": true,
		"//x": false, "//x/": false, "//x/public": false, "//app": false, "/x/app/x": false,
	})
	e.wantOneScope(t, request("//x/admin/y", ""))
	e.wantStopped(t, request("//x/app/x", ""), http.StatusUnauthorized)
}

// TestPathsAsSentProtected: a path a handler before authedge rewrote
// (Caddy runs rewrite, uri and try_files first) is protected as the
// client sent it too: a top-level `try_files {path} /index.php` makes
// /admin/x /index.php to the matcher, while php_fastcgi gives PHP the
// client's /admin/x as REQUEST_URI, which a front controller routes on.
func TestPathsAsSentProtected(t *testing.T) {
	e := newEnv(t, &config.Identity{Protect: []string{"/app/*"},
		ProtectScope: []config.ProtectScope{{Scope: "admin", Paths: []string{"/admin/*"}}}})
	rewritten := func(sent, now string) *http.Request {
		r := request(sent, "")
		orig := *r
		u := *r.URL
		orig.URL = &u
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.OriginalRequestCtxKey, orig))
		r.URL.Path, r.URL.RawPath = now, ""
		return r
	}
	for _, c := range []struct {
		sent, now string
		want      bool
		scopes    int
	}{
		{"/admin/x", "/index.php", true, 1},
		{"/app/x", "/index.php", true, 0},
		{"/app/%2e%2e/public", "/index.php", true, 0}, // and its other readings
		{"/public", "/index.php", false, 0},
		{"/public", "/app/x", true, 0}, // what the app is sent counts still
		{"/admin/x", "/admin/x", true, 1},
	} {
		got, scopes := e.edge.Protected(rewritten(c.sent, c.now))
		if got != c.want || len(scopes) != c.scopes {
			t.Errorf("sent %s, rewritten to %s: protected = %v, scopes %v; want %v and %d scopes",
				c.sent, c.now, got, scopes, c.want, c.scopes)
		}
	}
	e.wantStopped(t, rewritten("/admin/x", "/index.php"), http.StatusUnauthorized)
}

// TestPathsInRewriteHeadersProtected: X-Original-URL and X-Rewrite-URL,
// which IIS's rewrite modules set, name the path to some PHP frameworks
// (Zend Framework 1, Yii 2 behind a trusted proxy), which route on them
// instead of the request's own: /public with X-Original-URL: /admin/x
// is their /admin/x. A client may send them, in any spelling PHP reads
// as the same name.
func TestPathsInRewriteHeadersProtected(t *testing.T) {
	e := newEnv(t, &config.Identity{Protect: []string{"/app/*"},
		ProtectScope: []config.ProtectScope{{Scope: "admin", Paths: []string{"/admin/*"}}}})
	for _, c := range []struct {
		name, value string
		want        bool
		scopes      int
	}{
		{"X-Original-Url", "/admin/x", true, 1},
		{"X-Rewrite-Url", "/app/x?y=1", true, 0},
		{"x_original_url", "/ADMIN/x", true, 1},
		{"X.Rewrite.URL", "/app/x", true, 0},
		{"X-Original-Url", "http://example.com/app/x", true, 0},
		{"X-Original-Url", "app/x", true, 0},                     // Yii routes a relative one too
		{"X-Original-Url", "/public/..%2F..%2Fadmin/x", true, 1}, // and its other readings
		{"X-Original-Url", "/admin/%zz", true, 1},                // not a parseable URI, read as it is
		{"X-Original-Url", "/public", false, 0},
		{"X-Original-Url", "", false, 0},
		{"X-Original-Urls", "/admin/x", false, 0},
	} {
		r := request("/public", "")
		r.Header[c.name] = []string{c.value}
		got, scopes := e.edge.Protected(r)
		if got != c.want || len(scopes) != c.scopes {
			t.Errorf("%s: %s: protected = %v, scopes %v; want %v and %d scopes",
				c.name, c.value, got, scopes, c.want, c.scopes)
		}
	}
	// Given several times: the first, the last, and all joined, as CGI
	// joins them.
	for _, values := range [][]string{{"/admin/x", "/public", "/public"}, {"/public", "/public", "/admin/x"}} {
		r := request("/public", "")
		r.Header["X-Original-Url"] = values
		if got, scopes := e.edge.Protected(r); !got || len(scopes) != 1 {
			t.Errorf("X-Original-Url: %v: protected = %v, scopes %v; want the admin scope", values, got, scopes)
		}
	}
	r := request("/public", "")
	r.Header["X-Original-Url"] = []string{"/public", "/app/x"}
	e.wantStopped(t, r, http.StatusUnauthorized)
	// A "://" in the query or fragment of a relative path is no scheme's:
	// Yii and Symfony route "app?x=://" as /app.
	e = newEnv(t, &config.Identity{Protect: []string{"/app*"}})
	for _, v := range []string{"app?x=://", "app#://", "app;x://y"} {
		r := request("/public", "")
		r.Header["X-Original-Url"] = []string{v}
		if got, _ := e.edge.Protected(r); !got {
			t.Errorf("X-Original-Url: %s: not protected", v)
		}
	}
}

// TestRequestsWithoutAPathProtected: CONNECT's authority form has no
// path, and reverse_proxy passes it to the app all the same; it is read
// as the root, which protect /* covers and /app/* does not.
func TestRequestsWithoutAPathProtected(t *testing.T) {
	for _, c := range []struct {
		protect []string
		want    bool
	}{
		{[]string{"/*"}, true},
		{[]string{"/"}, true},
		{[]string{"*"}, true},
		{[]string{"/app/*"}, false},
	} {
		e := newEnv(t, &config.Identity{Protect: c.protect})
		for _, target := range []string{"", "*"} {
			r := request("/", "")
			r.Method = http.MethodConnect
			r.URL.Path, r.URL.RawPath = target, ""
			if got, _ := e.edge.Protected(r); got != c.want {
				t.Errorf("protect %v, path %q: protected = %v, want %v", c.protect, target, got, c.want)
			}
		}
	}
	e := newEnv(t, &config.Identity{ProtectScope: []config.ProtectScope{{Scope: "admin", Paths: []string{"/*"}}}})
	r := request("/", "")
	r.Method, r.URL.Path = http.MethodConnect, ""
	e.wantOneScope(t, r)
	e.wantStopped(t, r, http.StatusUnauthorized)
}

func TestJWKSEndpoint(t *testing.T) {
	e := newEnv(t, identityBlock(privatePEM(t, newEdKey(t))))
	r := request(JWKSPath, "")
	if !e.edge.HandlesJWKS(r) {
		t.Fatal("the JWKS path is not handled with an assertion configured")
	}
	w := httpRecorder()
	e.edge.ServeJWKS(w, r)
	if w.Code != 200 || w.Header().Get("Cache-Control") != "public, max-age=300" {
		t.Errorf("JWKS: %d, Cache-Control %q", w.Code, w.Header().Get("Cache-Control"))
	}
	keys := parseJWKS(t, w.Body.Bytes())
	if len(keys) != 1 || keys[0]["alg"] != "EdDSA" || keys[0]["use"] != "sig" || keys[0]["kid"] == "" {
		t.Errorf("JWKS %s", w.Body)
	}
	post := request(JWKSPath, "")
	post.Method = http.MethodPost
	w = httpRecorder()
	e.edge.ServeJWKS(w, post)
	if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST to the JWKS: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
	plain := newEnv(t, &config.Identity{Protect: []string{"/x"}})
	if plain.edge.HandlesJWKS(request(JWKSPath, "")) {
		t.Error("the JWKS path is handled without an assertion block")
	}
}

func TestBadAssertionKeys(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), randReader)
	if err != nil {
		t.Fatal(err)
	}
	pub := newECKey(t)
	pubDER, _ := x509MarshalPKIX(t, &pub.PublicKey)
	for name, file := range map[string]string{
		"P-384":   privatePEM(t, p384),
		"public":  writeFile(t, "pub.pem", pubDER),
		"not PEM": writeFile(t, "x.pem", []byte("hello")),
		"no file": "/nonexistent/key.pem",
		"RSA":     privatePEM(t, rsaKey(t)),
	} {
		_, err := newSigner(&config.Assertion{Key: file, Header: "X-A", Audience: "a", TTL: caddy.Duration(time.Minute)}, "env")
		if err == nil || !strings.Contains(err.Error(), "identity assertion key") {
			t.Errorf("%s: want an error naming identity assertion key, got %v", name, err)
		}
	}
}

// ---- helpers ----

func parseJWKS(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS %s: %v", body, err)
	}
	return set.Keys
}

// verifyAssertion checks a compact JWS against one JWK with the standard
// library alone (not the code that signed it) and returns its claims.
func verifyAssertion(t *testing.T, compact string, key map[string]any) map[string]any {
	t.Helper()
	parts := strings.Split(compact, ".")
	if len(parts) != 3 {
		t.Fatalf("assertion %q is not a compact JWS", compact)
	}
	b64 := base64.RawURLEncoding
	hdr, err1 := b64.DecodeString(parts[0])
	payload, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatalf("assertion parts do not decode")
	}
	var h map[string]any
	if err := json.Unmarshal(hdr, &h); err != nil || h["kid"] != key["kid"] || h["alg"] != key["alg"] {
		t.Fatalf("assertion header %s does not name the key %v", hdr, key["kid"])
	}
	input := []byte(parts[0] + "." + parts[1])
	coord := func(name string) []byte {
		s, _ := key[name].(string)
		b, err := b64.DecodeString(s)
		if err != nil {
			t.Fatalf("JWK %s: %v", name, err)
		}
		return b
	}
	switch key["kty"] {
	case "EC":
		pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(coord("x")), Y: new(big.Int).SetBytes(coord("y"))}
		digest := sha256.Sum256(input)
		if len(sig) != 64 || !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Fatal("ES256 assertion signature does not verify")
		}
	case "OKP":
		if !ed25519.Verify(ed25519.PublicKey(coord("x")), input, sig) {
			t.Fatal("EdDSA assertion signature does not verify")
		}
	default:
		t.Fatalf("JWK kty %v", key["kty"])
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// The profile is read only when something asks for it, and once per
// request however often it is asked.
func TestProfileReadOnlyWhenUsed(t *testing.T) {
	e := newEnv(t, &config.Identity{
		Protect: []string{"/app/*"},
		Headers: []config.IdentityHeader{{Name: "X-User-Id", Source: "sub"}},
	})
	_, id, w := e.serve(request("/app/x", e.token("user-1", nil)))
	if id == nil {
		t.Fatalf("refused: %d %s", w.Code, w.Body)
	}
	if n := e.profiles.reads.Load(); n != 0 {
		t.Fatalf("the profile was read %d times with no profile source", n)
	}
	for range 3 {
		if _, err := id.ProfileField("email"); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.profiles.reads.Load(); n != 1 {
		t.Errorf("three profile placeholders read the profile %d times, want 1", n)
	}
}

// Go keeps a client's "x-user_id" as its own key, but CGI (php_fastcgi)
// and some app servers read it as X-User-Id: every spelling with '_' for
// '-' is removed too.
func TestUnderscoreSpellingsNeverPass(t *testing.T) {
	e := newEnv(t, identityBlock(privatePEM(t, newECKey(t))))
	valid := e.token("user-1", nil)
	for _, tok := range []string{"", valid} {
		r := request("/public", tok)
		spellings := []string{"X-User_id", "X_User_Id", "x_user_id", "X-AUTHEDGE_ASSERTION",
			"X.User.Id", "x-user.id", "X-Authedge.Assertion"}
		for _, k := range append(spellings, "X-Nick_name") {
			r.Header[k] = []string{"admin"}
		}
		got, _, w := e.serve(r)
		if got == nil {
			t.Fatalf("refused %d %s", w.Code, w.Body)
		}
		for _, k := range spellings {
			if v, ok := got.Header[k]; ok {
				t.Errorf("token %v: client header %s: %v reached the app", tok != "", k, v)
			}
		}
		for k, v := range got.Header {
			if config.SameHeaderName(k, "X-User-Id") && (tok == "" || k != "X-User-Id") ||
				config.SameHeaderName(k, "X-Authedge-Assertion") && k != "X-Authedge-Assertion" {
				t.Errorf("token %v: client header %s: %v reached the app", tok != "", k, v)
			}
		}
		if got.Header.Get("X-Nick_name") != "admin" {
			t.Errorf("an unrelated header (X-Nick_name) was removed")
		}
	}
}

// A client naming an identity header in Connection would have
// reverse_proxy delete authedge's copy as hop-by-hop; those tokens are
// dropped, the others kept.
func TestConnectionCannotRemoveIdentityHeaders(t *testing.T) {
	e := newEnv(t, identityBlock(privatePEM(t, newECKey(t))))
	r := request("/app/x", e.token("user-1", nil),
		"Connection", "keep-alive, X-User-Id", "Connection", "x-authedge_assertion", "X-User_id", "admin")
	got, _, w := e.serve(r)
	if got == nil {
		t.Fatalf("refused %d %s", w.Code, w.Body)
	}
	if v := got.Header.Values("Connection"); len(v) != 1 || v[0] != "keep-alive" {
		t.Errorf("Connection = %q, want [keep-alive]", v)
	}
	if got.Header.Get("X-User-Id") != "user-1" || got.Header.Get("X-Authedge-Assertion") == "" {
		t.Errorf("authedge's headers missing: %v", got.Header)
	}
	if _, ok := got.Header["X-User_id"]; ok {
		t.Errorf("the client's X-User_id reached the app")
	}
}

// An upgrade to a protocol that carries HTTP would let the client send
// the app requests the edge never sees: its tokens are removed, in any
// case, from every Upgrade line; WebSocket and other protocols stay.
// HTTP/2's draft names (h2c-14 to h2c-17, h2-14 to h2-17) are among them:
// Jetty's h2c factory and Undertow's Http2UpgradeHandler take them when
// configured to, with no HTTP2-Settings token needed in Connection.
func TestNoUpgradeToHTTP(t *testing.T) {
	e := newEnv(t, identityBlock(""))
	for _, c := range []struct {
		upgrade []string
		want    []string // nil: no Upgrade header
	}{
		{[]string{"h2c"}, nil},
		{[]string{"H2C"}, nil},
		{[]string{"h2"}, nil},
		{[]string{"HTTP/2.0"}, nil},
		{[]string{"http/1.1"}, nil},
		{[]string{"TLS/1.2, HTTP/1.1"}, nil},
		{[]string{" h2c ,, "}, nil},
		{[]string{"h2c, websocket"}, []string{"websocket"}},
		{[]string{"h2c", "WebSocket"}, []string{"WebSocket"}},
		{[]string{"websocket", "tls/1.0"}, []string{"websocket"}},
		{[]string{"websocket"}, []string{"websocket"}},
		{[]string{"spdy/3.1"}, []string{"spdy/3.1"}},
		{[]string{"h2cx, xh2c, https"}, []string{"h2cx, xh2c, https"}},
		{[]string{"h2c-17"}, nil},
		{[]string{"H2C-14"}, nil},
		{[]string{"h2-16"}, nil},
		{[]string{"h2c-17, websocket"}, []string{"websocket"}},
		{[]string{"websocket", "h2c-15"}, []string{"websocket"}},
		{[]string{"h2cx, xh2c-17, h2x-1"}, []string{"h2cx, xh2c-17, h2x-1"}},
	} {
		r := request("/public", "", "Connection", "Upgrade", "HTTP2-Settings", "AAMAAABkAAQAAP__")
		r.Header["Upgrade"] = c.upgrade
		got, _, w := e.serve(r)
		if got == nil {
			t.Fatalf("refused %d %s", w.Code, w.Body)
		}
		if v := got.Header["Upgrade"]; !slices.Equal(v, c.want) || (c.want == nil) != (v == nil) {
			t.Errorf("Upgrade %q reached the app as %q, want %q", c.upgrade, v, c.want)
		}
	}
}

func TestSameHeaderName(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"X-User-Id", "x-user_id", true}, {"X_USER_ID", "X-User-Id", true}, {"X-User-Id", "X-User-Ids", false},
		{"X-User-Id", "X-User.Id", true}, {"x.user.id", "X_User-Id", true}, {"X-User-Id", "X-User+Id", false}, {"", "", true}, {"X-User-Ie", "X-User-Id", false},
	} {
		if got := config.SameHeaderName(c.a, c.b); got != c.want {
			t.Errorf("config.SameHeaderName(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

// A revoked ES256 token with its signature rewritten to (r, n-s), which
// verifies too, is still the revoked token.
func TestRevokedTokensSignatureTwinRefused(t *testing.T) {
	e := newEnv(t, identityBlock(""))
	tok := e.token("user-1", nil)
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(elliptic.P256().Params().N, s)
	s.FillBytes(sig[32:])
	twin := tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
	if got, _, w := e.serve(request("/app/x", twin)); got == nil {
		t.Fatalf("the twin is not a valid token before the revocation: %d %s", w.Code, w.Body)
	}

	r := httptest.NewRequest(http.MethodPost, "http://app.test/auth/v1/revoke", strings.NewReader(`{"token":"`+tok+`"}`))
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	if got, _, _ := e.serve(request("/app/x", tok)); got != nil {
		t.Fatal("the revoked token passed")
	}
	if got, _, _ := e.serve(request("/app/x", twin)); got != nil {
		t.Errorf("the revoked token's twin (r, n-s) passed as %q", got.Header.Get("X-User-Id"))
	}
}

// Two Authorization headers: which one counts would be each reader's
// guess, so the request has no identity (401 on a protected path).
func TestManyAuthorizationHeaders(t *testing.T) {
	e := newEnv(t, identityBlock(""))
	tok := e.token("user-1", nil)
	if got, _, w := e.serve(request("/app/x", tok, "Authorization", "Bearer "+tok)); got != nil || w.Code != http.StatusUnauthorized {
		t.Errorf("protected path with two Authorization headers: %d, reached the app: %v", w.Code, got != nil)
	}
	got, id, w := e.serve(request("/public", tok, "Authorization", "Bearer "+tok))
	if got == nil {
		t.Fatalf("unprotected path refused: %d %s", w.Code, w.Body)
	}
	if id != nil || got.Header.Get("X-User-Id") != "" {
		t.Errorf("two Authorization headers made an identity: %v %q", id, got.Header.Get("X-User-Id"))
	}
	if got.Header.Get("Authorization") != "" {
		t.Errorf("strip_authorization left %q", got.Header.Values("Authorization"))
	}
}

// A client's trailer named like an identity header is gone from the
// request's trailers, which reverse_proxy forwards, once the body is read.
func TestTrailersCannotCarryIdentityHeaders(t *testing.T) {
	e := newEnv(t, identityBlock(privatePEM(t, newECKey(t))))
	valid := e.token("user-1", nil)
	type seen struct {
		declared, final http.Header
	}
	results := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := e.edge.Serve(w, r); !ok {
			results <- seen{}
			return
		}
		declared := r.Trailer.Clone()
		_, _ = io.Copy(io.Discard, r.Body)
		results <- seen{declared, r.Trailer.Clone()}
	}))
	defer srv.Close()
	for _, path := range []string{"/public", "/app/x"} {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, io.NopCloser(strings.NewReader("body")))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1 // chunked, so trailers can follow
		req.Header.Set("Authorization", "Bearer "+valid)
		req.Trailer = http.Header{"X-User-Id": {"admin"}, "X-User_id": {"admin"}, "X-Authedge-Assertion": {"forged"}, "X-Other": {"kept"},
			"Authorization": {"Bearer " + valid}}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		got := <-results
		if got.final == nil {
			t.Fatalf("%s: refused %d", path, res.StatusCode)
		}
		for _, h := range []http.Header{got.declared, got.final} {
			for k := range h {
				// identityBlock strips Authorization: not from the
				// trailers either, where the app would find the token.
				if config.SameHeaderName(k, "X-User-Id") || config.SameHeaderName(k, "X-Authedge-Assertion") ||
					config.SameHeaderName(k, "Authorization") {
					t.Errorf("%s: trailer %s: %q left for the app", path, k, h[k])
				}
			}
		}
		if got.final.Get("X-Other") != "kept" {
			t.Errorf("%s: an unrelated trailer was removed: %v", path, got.final)
		}
	}
}

// TestClaimGivenTwiceIsLeftOut: a claim the token gives twice reaches no
// header, whatever the type of either copy. A parser that keeps the
// first copy (an object, say) and one that keeps the last (a string)
// must never disagree on what the app is told.
func TestClaimGivenTwiceIsLeftOut(t *testing.T) {
	for _, payload := range []string{
		`{"role":"admin","role":"user"}`,
		`{"role":{"x":1},"role":"admin"}`,
		`{"role":["user"],"role":"admin"}`,
		`{"role":null,"role":"admin"}`,
		`{"role":"admin","role":null}`,
		`{"role":{"x":1},"role":"admin","role":"user"}`,
		`{"r\u006fle":[1],"role":true}`,
	} {
		if v, ok := decodeClaims([]byte(payload))["role"]; ok {
			t.Errorf("%s: role given twice was read as %q", payload, v.text)
		}
	}
	if v, ok := decodeClaims([]byte(`{"role":"admin","other":{"role":1}}`))["role"]; !ok || v.text != "admin" {
		t.Errorf("a claim given once was not read: %q %v", v.text, ok)
	}
}

// TestClaimNotTextIsLeftOut: a string claim holding an escaped lone
// UTF-16 surrogate, or invalid UTF-8, is no text: encoding/json reads
// either as U+FFFD, so "a\ud800" and "a\udfff" would reach the app as
// one value. Such a claim reaches no header, placeholder or assertion, as
// the token's own iss, sub, aud and scope are refused for it; a surrogate
// pair is one character and is read.
func TestClaimNotTextIsLeftOut(t *testing.T) {
	for _, payload := range []string{
		`{"tenant":"a\ud800"}`,
		`{"tenant":"\udfffa"}`,
		`{"tenant":"\udc00\ud800"}`,
		"{\"tenant\":\"a\xffb\"}",
	} {
		if v, ok := decodeClaims([]byte(payload))["tenant"]; ok {
			t.Errorf("%q: tenant read as %q", payload, v.text)
		}
	}
	if v := decodeClaims([]byte(`{"tenant":"a\ud83d\ude00"}`))["tenant"]; v.text != "a\U0001F600" {
		t.Errorf("a surrogate pair: tenant = %q", v.text)
	}
}

// `openssl ecparam -name prime256v1 -genkey -out key.pem`, the usual way to
// make an EC key, writes an EC PARAMETERS block before the key: the key
// is the block after it.
func TestAssertionKeyAfterECParameters(t *testing.T) {
	key := newECKey(t)
	sec1, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	prime256v1 := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
	file := writeFile(t, "openssl.pem", append(
		pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: prime256v1}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...))
	if _, err := newSigner(&config.Assertion{Key: file, Header: "X-A", Audience: "a", TTL: caddy.Duration(time.Minute)}, "env"); err != nil {
		t.Fatalf("a key written by openssl ecparam -genkey: %v", err)
	}
	// Parameters alone are not a key.
	only := writeFile(t, "params.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: prime256v1}))
	if _, err := newSigner(&config.Assertion{Key: only, Header: "X-A", Audience: "a", TTL: caddy.Duration(time.Minute)}, "env"); err == nil {
		t.Fatal("EC PARAMETERS alone were taken for a key")
	}
}

// TestHungUpClientIs499: on a protected path, a client that hung up while
// the edge waited on Redis is answered 499 cancelled, not 503: the outage
// was the hang-up's doing, and access logs and alerts on 503 must not
// count it.
func TestHungUpClientIs499(t *testing.T) {
	e := newEnv(t, identityBlock(privatePEM(t, newECKey(t))))
	tok := e.token("user-1", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got, _, w := e.serve(request("/app/x", tok).WithContext(ctx)); got != nil || w.Code != 499 || !strings.Contains(w.Body.String(), `"cancelled"`) {
		t.Errorf("protected path, client gone: want 499 cancelled, got %d %s", w.Code, w.Body)
	}
	for _, l := range e.logs.All() {
		if l.Level > zapcore.DebugLevel {
			t.Errorf("a client that hung up logged at %s: %s", l.Level, l.Message)
		}
	}
}

// TestProtectScopeLookalikes: a protect_scope path needs its scope as one
// whole space-separated word of the scope claim, in its case; a word that
// contains it, or a claim that is not a string, is not it.
func TestProtectScopeLookalikes(t *testing.T) {
	e := newEnv(t, identityBlock(""))
	for _, tt := range []struct {
		scope  any
		status int
	}{
		{"admin", 200},
		{"openid admin", 200},
		{" admin ", 200},
		{"openid  admin", 200},
		{"administrator", 403},
		{"superadmin admin:all", 403},
		{"Admin ADMIN", 403},
		{"openid\tadmin", 403},
		{"openid,admin", 403},
		{"", 403},
		{[]string{"admin"}, 401},
	} {
		got, _, w := e.serve(request("/admin/panel", e.token("user-1", map[string]any{"scope": tt.scope})))
		if tt.status == 200 {
			if got == nil {
				t.Errorf("scope %q: refused %d %s", tt.scope, w.Code, w.Body)
			}
			continue
		}
		if got != nil || w.Code != tt.status {
			t.Errorf("scope %q: want %d, got %d (passed: %v)", tt.scope, tt.status, w.Code, got != nil)
		}
	}
}

func TestIsScheme(t *testing.T) {
	for s, want := range map[string]bool{
		"http": true, "HTTPS": true, "svn+ssh": true, "a1.-+": true,
		"": false, "1http": false, "app?x=": false, "app#": false, "a b": false, "/x": false, "app;x": false,
	} {
		if got := isScheme(s); got != want {
			t.Errorf("isScheme(%q) = %v, want %v", s, got, want)
		}
	}
}
