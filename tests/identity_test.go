package tests

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// The identity edge end to end: the built caddy, authedge with an identity
// block, reverse_proxy to a recording upstream. Assertions are verified
// with go-jose, not with the library authedge uses.

// recorder is the app behind the edge: it keeps the headers of the last
// request it received, as they arrived.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	last http.Header
	hits int
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.last = r.Header.Clone()
		rec.hits++
		rec.mu.Unlock()
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) take() (http.Header, int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	h, n := rec.last, rec.hits
	rec.last = nil
	return h, n
}

// edgeStack is Redis, the recorder and caddy instances in front of it.
type edgeStack struct {
	t      *testing.T
	redis  *redistest.Server
	app    *recorder
	dir    string
	issuer string // public key PEM of the token signer
}

func newEdgeStack(t *testing.T) *edgeStack {
	_, ec, _ := testKeys(t)
	s := &edgeStack{t: t, redis: redistest.Start(t), app: newRecorder(t), dir: t.TempDir()}
	s.issuer = writePublicPEM(t, s.dir, "issuer.pem", ec)
	return s
}

// writeAssertionKey writes a new P-256 private key and returns its path.
func (s *edgeStack) writeAssertionKey(name string) string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		s.t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		s.t.Fatal(err)
	}
	p := filepath.Join(s.dir, name)
	writeFile(s.t, p, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	return p
}

// start runs a caddy with the identity block and the assertion keys given
// (previous may be empty); accessLog receives its JSON access log.
func (s *edgeStack) start(key, previous, accessLog string) *caddyProc {
	prev := ""
	if previous != "" {
		prev = "previous_key " + previous
	}
	site := fmt.Sprintf(`	log {
		output file %s
		format json
	}
	log_append tenant {http.auth.user.tenant}
	authedge {
		environment_id %s
		jwt {
			issuer %s
			public_key %s
		}
		redis {
			address %s
			timeout 300ms
		}
		verification {
			required off
		}
		sudo {
			sensitive off
		}
		identity {
			protect /app/* /secret.php
			protect_scope admin /admin/*
			header X-User-Id sub
			header X-User-Level level
			header X-User-Nickname profile.nickname
			strip_authorization
			assertion {
				key %s
				%s
				claims tenant profile.nickname
			}
		}
	}
	reverse_proxy %s {
		header_up X-Proxy-User {http.auth.user.id}
		header_up X-Proxy-Tenant {http.auth.user.tenant}
		header_up X-Proxy-Nickname {authedge.profile.nickname}
		header_up X-Proxy-Typo {authedge.profile.nickame}
	}`, accessLog, testEnv, testIssuer, s.issuer, s.redis.Addr, key, prev, strings.TrimPrefix(s.app.URL, "http://"))
	return startCaddy(s.t, site)
}

// send makes a request with raw header lines (name, value pairs, written
// as given: case, duplicates and empty values are kept).
func send(t *testing.T, method, url, tok string, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header[headers[i]] = append(req.Header[headers[i]], headers[i+1]) // not canonicalized
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

var spoofs = [][]string{
	{"X-User-Id", "evil"},
	{"x-user-id", "evil"},
	{"X-USER-NICKNAME", "evil"},
	{"X-User-Id", "evil", "X-User-Id", "evil2"},
	{"X-User-Id", ""},
	{"X-User-Level", ""},
	{"x-authedge-assertion", "forged"},
	{"X-Authedge-Assertion", "", "X-Authedge-Assertion", "forged"},
	{"X-Proxy-User", "evil"}, // header_up sets it: an anonymous request gets ""
	// CGI reads '_' as '-': Go keeps these as their own keys.
	{"x-user_id", "evil"},
	{"X_User_Id", "evil", "x-authedge_assertion", "forged"},
	// PHP reads '.' in a $_SERVER name as '_': HTTP_X.USER.ID is
	// HTTP_X_USER_ID to it.
	{"X.User.Id", "evil", "x-authedge.assertion", "forged"},
	// reverse_proxy deletes what Connection lists as hop-by-hop: it must
	// not delete authedge's copies and leave the client's.
	{"Connection", "X-User-Id, x-authedge-assertion", "X-User_Id", "evil"},
}

func TestIdentitySpoofedHeadersNeverReachTheApp(t *testing.T) {
	s := newEdgeStack(t)
	caddy := s.start(s.writeAssertionKey("a.pem"), "", filepath.Join(s.dir, "access.log"))
	_, ec, stranger := testKeys(t)
	valid := ec.mint(t, "user-1", nil)
	invalid := stranger.mint(t, "user-1", nil)
	for _, path := range []string{"/public", "/app/x"} {
		for tokName, tok := range map[string]string{"none": "", "valid": valid, "invalid": invalid} {
			for _, spoof := range spoofs {
				name := fmt.Sprintf("%s %s token %q", path, tokName, spoof)
				resp := send(t, "GET", caddy.URL+path, tok, spoof...)
				got, _ := s.app.take()
				if path == "/app/x" && tok != valid {
					if resp.StatusCode != 401 || got != nil {
						t.Errorf("%s: want 401 from authedge, got %d (app reached: %v)", name, resp.StatusCode, got != nil)
					}
					continue
				}
				if got == nil {
					t.Fatalf("%s: the app got nothing (%d)", name, resp.StatusCode)
				}
				for k, vs := range got {
					for _, v := range vs {
						if strings.Contains(v, "evil") || strings.Contains(v, "forged") {
							t.Errorf("%s: the app got %s: %s", name, k, v)
						}
					}
				}
				if got.Get("Authorization") != "" {
					t.Errorf("%s: strip_authorization let Authorization through", name)
				}
				if tok == valid {
					if v := got.Values("X-User-Id"); len(v) != 1 || v[0] != "user-1" {
						t.Errorf("%s: X-User-Id = %q, want [user-1]", name, v)
					}
					if got.Get("X-Authedge-Assertion") == "" {
						t.Errorf("%s: no assertion", name)
					}
					continue
				}
				for _, h := range []string{"X-User-Id", "X-User-Level", "X-User-Nickname", "X-Authedge-Assertion"} {
					if _, ok := got[h]; ok {
						t.Errorf("%s: an anonymous request reached the app with %s %q", name, h, got[h])
					}
				}
				if v := got.Get("X-Proxy-User"); v != "" {
					t.Errorf("%s: {http.auth.user.id} = %q for an anonymous request", name, v)
				}
			}
		}
	}
}

// A path that Caddy's cleaning takes out of /app/* (a dot segment, an
// escaped slash) reaches the app as written, under /app/: it needs a
// token as /app/x does. So does one that Tomcat, Jetty or Spring read
// under /app/ once they drop its path parameters (;...), and /admın/x,
// which a case-insensitive Python or Java route reads as /admin/x, and
// /index.php/app/x, which a PHP front controller (Laravel, Symfony)
// routes as /app/x, and /secret.php/x, which php_fastcgi runs as
// /secret.php.
func TestIdentityPathsAsWrittenProtected(t *testing.T) {
	s := newEdgeStack(t)
	caddy := s.start(s.writeAssertionKey("a.pem"), "", filepath.Join(s.dir, "access.log"))
	for _, path := range []string{"/app/x/..%2F..%2Fpublic", "/app/%2e%2e/public", "/app/../public",
		"/public/..;/app/x", "/public/..;x=1/app/x", "/app;jsessionid=1/x", "/adm%C4%B1n/x", "/ADM\u0131N/x",
		"/index.php/app/x", "/secret.php/x", "/SECRET.PHP/"} {
		resp := send(t, "GET", caddy.URL+path, "")
		if got, _ := s.app.take(); resp.StatusCode != 401 || got != nil {
			t.Errorf("%s without a token: %d (app reached: %v), want 401", path, resp.StatusCode, got != nil)
		}
	}
	resp := send(t, "GET", caddy.URL+"/public/../x", "")
	if got, _ := s.app.take(); got == nil {
		t.Errorf("/public/../x: the app got nothing (%d)", resp.StatusCode)
	}
}

// Paths that reach the app as written and that some app reads under
// /app/ although Caddy's matcher does not: //x/app/x is the path /app/x
// to a URL parser (Node's new URL, urlsplit, parse_url), a backslash
// (sent on as %5C) is a '/' to IIS, and PHP frameworks written for IIS
// route on X-Original-URL and X-Rewrite-URL.
func TestIdentityPathsAsParsersReadThemProtected(t *testing.T) {
	s := newEdgeStack(t)
	caddy := s.start(s.writeAssertionKey("a.pem"), "", filepath.Join(s.dir, "access.log"))
	for _, c := range [][]string{
		{"//x/app/x"}, {"///x/app/x"}, {"/public/..%5Capp/x"}, {"/app%5Cx"},
		{"/public", "X-Original-URL", "/app/x"}, {"/public", "X-Rewrite-URL", "http://h/APP/x?y"},
	} {
		resp := send(t, "GET", caddy.URL+c[0], "", c[1:]...)
		if got, _ := s.app.take(); resp.StatusCode != 401 || got != nil {
			t.Errorf("%v without a token: %d (app reached: %v), want 401", c, resp.StatusCode, got != nil)
		}
	}
	for _, c := range [][]string{{"//x/public"}, {"/public%5Cx"}, {"/public", "X-Original-URL", "/public/x"}} {
		resp := send(t, "GET", caddy.URL+c[0], "", c[1:]...)
		if got, _ := s.app.take(); got == nil {
			t.Errorf("%v: the app got nothing (%d)", c, resp.StatusCode)
		}
	}
}

// A CONNECT names host:port, not a path, and reverse_proxy sends it to
// the app all the same: protect /* must cover it.
func TestIdentityConnectWithoutAPathProtected(t *testing.T) {
	s := newEdgeStack(t)
	caddy := startCaddy(t, minimalAuthedge(s.issuer, s.redis.Addr, "identity {\n\t\t\tprotect /*\n\t\t}")+
		"\n\treverse_proxy "+strings.TrimPrefix(s.app.URL, "http://"))
	conn, err := net.Dial("tcp", strings.TrimPrefix(caddy.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, hits := s.app.take(); resp.StatusCode != http.StatusUnauthorized || hits != 0 {
		t.Errorf("CONNECT without a token: %d, the app reached %d times; want 401 and never", resp.StatusCode, hits)
	}
}

func TestIdentityPlaceholdersAndErrors(t *testing.T) {
	s := newEdgeStack(t)
	accessLog := filepath.Join(s.dir, "access.log")
	caddy := s.start(s.writeAssertionKey("a.pem"), "", accessLog)
	_, ec, _ := testKeys(t)
	tok := ec.mint(t, "user-7", claims{"tenant": "acme", "level": 3, "scope": "openid"})

	// The profile, made through authedge's own API.
	edit, err := http.NewRequest("POST", caddy.URL+"/auth/v1/user/basic/edit", strings.NewReader(`{"nickname":"Seven"}`))
	if err != nil {
		t.Fatal(err)
	}
	edit.Header.Set("Authorization", "Bearer "+tok)
	edit.Header.Set("Content-Type", "application/json")
	if resp, err := httpClient.Do(edit); err != nil || resp.StatusCode != 200 {
		t.Fatalf("edit: %v %v", resp, err)
	}

	send(t, "GET", caddy.URL+"/app/x", tok)
	got, _ := s.app.take()
	for h, want := range map[string]string{
		"X-User-Id": "user-7", "X-User-Level": "3", "X-User-Nickname": "Seven",
		"X-Proxy-User": "user-7", "X-Proxy-Tenant": "acme", "X-Proxy-Nickname": "Seven",
		// An unknown field is empty, as for an anonymous caller, never
		// the placeholder's own text.
		"X-Proxy-Typo": "",
	} {
		if v := got.Get(h); v != want {
			t.Errorf("%s = %q, want %q", h, v, want)
		}
	}

	// 403 for a missing scope, 401 without a token: authedge's error shape.
	f := &fixture{t: t, caddy: caddy}
	f.do("GET", "/admin/x", tok, "").wantError(t, http.StatusForbidden, "permission_denied")
	r := f.do("GET", "/APP//x", "", "")
	r.wantError(t, http.StatusUnauthorized, "unauthenticated")
	if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate: %v", r.Header)
	}

	// The access log names the user, for the app's requests and for
	// authedge's own endpoints, and log_append used a claim placeholder.
	caddy.stop()
	lines := readLogLines(t, accessLog)
	var appLine, editLine map[string]any
	for _, l := range lines {
		req, _ := l["request"].(map[string]any)
		switch req["uri"] {
		case "/app/x":
			appLine = l
		case "/auth/v1/user/basic/edit":
			editLine = l
		}
	}
	if appLine == nil || appLine["user_id"] != "user-7" || appLine["tenant"] != "acme" {
		t.Errorf("access log line of /app/x: %v", appLine)
	}
	if editLine == nil || editLine["user_id"] != "user-7" {
		t.Errorf("access log line of the edit: %v", editLine)
	}
}

// HTTP trims spaces and tabs around a header value: a sub " user-2" that
// went out as X-User-Id would reach the app as user-2, another user than
// the one authedge verified (and whose revocations it checked). Such a
// value leaves its header absent; the assertion carries it as it is.
func TestIdentityHeaderValuesHTTPWouldTrim(t *testing.T) {
	s := newEdgeStack(t)
	caddy := s.start(s.writeAssertionKey("a.pem"), "", filepath.Join(s.dir, "access.log"))
	_, ec, _ := testKeys(t)
	for _, sub := range []string{" user-2", "user-2 "} {
		resp := send(t, "GET", caddy.URL+"/app/x", ec.mint(t, sub, claims{"level": "3\t"}))
		got, _ := s.app.take()
		if got == nil {
			t.Fatalf("sub %q: the app got nothing (%d)", sub, resp.StatusCode)
		}
		if v, ok := got["X-User-Id"]; ok {
			t.Errorf("sub %q: the app got X-User-Id %q", sub, v)
		}
		if v, ok := got["X-User-Level"]; ok {
			t.Errorf("sub %q: the app got X-User-Level %q", sub, v)
		}
		if got.Get("X-Authedge-Assertion") == "" {
			t.Errorf("sub %q: no assertion", sub)
		}
	}
}

func TestIdentityAssertionVerifiesAcrossRotation(t *testing.T) {
	s := newEdgeStack(t)
	oldKey, newKey := s.writeAssertionKey("old.pem"), s.writeAssertionKey("new.pem")
	_, ec, _ := testKeys(t)
	tok := ec.mint(t, "user-1", claims{"tenant": "acme", "scope": "openid profile"})

	before := s.start(oldKey, "", filepath.Join(s.dir, "a1.log"))
	send(t, "GET", before.URL+"/app/x", tok)
	got, _ := s.app.take()
	oldAssertion := got.Get("X-Authedge-Assertion")
	claimsOf := verifyWithJWKS(t, before.URL, oldAssertion)
	if claimsOf["sub"] != "user-1" || claimsOf["iss"] != "authedge:"+testEnv || claimsOf["aud"] != testEnv ||
		claimsOf["scope"] != "openid profile" || claimsOf["tenant"] != "acme" {
		t.Errorf("assertion claims: %v", claimsOf)
	}
	iat, _ := claimsOf["iat"].(float64)
	exp, _ := claimsOf["exp"].(float64)
	if exp-iat != 60 {
		t.Errorf("exp - iat = %v, want the default ttl of 60s", exp-iat)
	}
	before.stop()

	// Rotated: the new key signs, the old one is still published after it.
	after := s.start(newKey, oldKey, filepath.Join(s.dir, "a2.log"))
	resp, err := httpClient.Get(after.URL + "/auth/v1/identity/jwks")
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("JWKS after rotation: %v %s", err, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("JWKS Cache-Control = %q", cc)
	}
	send(t, "GET", after.URL+"/app/x", tok)
	got, _ = s.app.take()
	newAssertion := got.Get("X-Authedge-Assertion")
	verifyWithJWKS(t, after.URL, newAssertion)
	verifyWithJWKS(t, after.URL, oldAssertion) // issued before the rotation
	sig, _ := jose.ParseSignedCompact(newAssertion, []jose.SignatureAlgorithm{jose.ES256})
	if sig.Signatures[0].Header.KeyID != set.Keys[0].KeyID {
		t.Errorf("the new assertion is not signed by the JWKS's first key")
	}
}

func TestIdentityProfileFreshAcrossInstances(t *testing.T) {
	s := newEdgeStack(t)
	key := s.writeAssertionKey("a.pem")
	a := s.start(key, "", filepath.Join(s.dir, "a.log"))
	b := s.start(key, "", filepath.Join(s.dir, "b.log"))
	_, ec, _ := testKeys(t)
	tok := ec.mint(t, "user-5", nil)
	for i, nick := range []string{"First", "Second"} {
		edit, _ := http.NewRequest("POST", b.URL+"/auth/v1/user/basic/edit", strings.NewReader(`{"nickname":"`+nick+`"}`))
		edit.Header.Set("Authorization", "Bearer "+tok)
		resp, err := httpClient.Do(edit)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("edit %d through b: %v %v", i, resp, err)
		}
		resp.Body.Close()
		send(t, "GET", a.URL+"/app/x", tok)
		got, _ := s.app.take()
		if v := got.Get("X-User-Nickname"); v != nick {
			t.Errorf("after edit %d through b, a sent X-User-Nickname %q, want %q", i, v, nick)
		}
	}
	// Redis down: the protected path is 503, an unprotected one anonymous.
	s.redis.Stop()
	if resp := send(t, "GET", a.URL+"/app/x", tok); resp.StatusCode != 503 {
		t.Errorf("protected path with Redis down: %d, want 503", resp.StatusCode)
	}
	send(t, "GET", a.URL+"/public", tok, "X-User-Id", "evil")
	got, _ := s.app.take()
	if got == nil || got.Get("X-User-Id") != "" || got.Get("X-Authedge-Assertion") != "" {
		t.Errorf("unprotected path with Redis down: not passed as anonymous: %v", got)
	}
}

// verifyWithJWKS fetches the JWKS from the site and verifies the compact
// assertion with go-jose; it returns the claims.
func verifyWithJWKS(t *testing.T, site, compact string) map[string]any {
	t.Helper()
	resp, err := httpClient.Get(site + "/auth/v1/identity/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	sig, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatalf("assertion %q: %v", compact, err)
	}
	keys := set.Key(sig.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("the JWKS has no key %q", sig.Signatures[0].Header.KeyID)
	}
	payload, err := sig.Verify(keys[0].Key)
	if err != nil {
		t.Fatalf("assertion does not verify: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	now := float64(time.Now().Unix())
	if exp, _ := c["exp"].(float64); exp < now-5 {
		t.Errorf("assertion expired: %v", c)
	}
	return c
}

func readLogLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestIdentityValidate: `caddy validate` refuses a bad identity block and
// names the directive at fault.
func TestIdentityValidate(t *testing.T) {
	redis := redistest.Start(t)
	s := &edgeStack{t: t, dir: t.TempDir()}
	good := s.writeAssertionKey("good.pem")
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(s.dir, "p384.pem")
	writeFile(t, bad, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	block := func(inner string) string {
		return validJWT + policiesOff + "\n\t\tidentity {\n" + inner + "\n\t\t}"
	}
	cases := []struct {
		name, body string
		mentions   []string // nil: valid
	}{
		{"valid", block("protect /app/*\nheader X-User-Id sub\nassertion {\nkey " + good + "\n}"), nil},
		{"P-384 key", block("assertion {\nkey " + bad + "\n}"), []string{"identity assertion key", "P-256"}},
		{"public key", block("assertion {\nkey %KEY%\n}"), []string{"identity assertion key", "public key cannot sign"}},
		{"ttl over 5m", block("assertion {\nkey " + good + "\nttl 10m\n}"), []string{"identity assertion ttl", "5m"}},
		{"header twice", block("header X-User-Id sub\nheader x-user-id email"), []string{"identity header", "named twice"}},
		{"assertion header collides", block("header X-Authedge-Assertion sub\nassertion {\nkey " + good + "\n}"), []string{"identity assertion header", "named twice"}},
		{"unknown profile field", block("header X-Age profile.age"), []string{"identity header X-Age", "unknown profile field", "age"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := configFile(t, redis.Addr, c.body)
			out, code := runCaddy(t, nil, "validate", "--config", file, "--adapter", "caddyfile")
			if c.mentions == nil {
				if code != 0 {
					t.Fatalf("caddy validate refused a valid identity block:\n%s", out)
				}
				return
			}
			if code == 0 {
				t.Fatalf("caddy validate accepted it:\n%s", out)
			}
			for _, m := range c.mentions {
				if !strings.Contains(out, m) {
					t.Errorf("message does not name %q:\n%s", m, out)
				}
			}
		})
	}
}
