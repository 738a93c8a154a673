package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// offPolicies turns verification and sudo off: the config of the seed's
// example edit, which changes phone and email in one request.
const offPolicies = `
		verification {
			required off
		}
		sudo {
			sensitive off
		}`

// fixture is one running stack: a real Redis, the echo app, and the built
// caddy with authedge in front of the app.
type fixture struct {
	t      *testing.T
	redis  *redistest.Server
	app    *echoApp
	caddy  *caddyProc
	rsa    signer
	ec     signer
	keyDir string
}

// newFixture starts the stack; extra goes inside `authedge { }` after the
// jwt and redis blocks (verification, sudo, rate_limit, ...).
func newFixture(t *testing.T, extra string) *fixture {
	t.Helper()
	return newFixtureWith(t, "", extra)
}

// newFixtureWith is newFixture with global lines in Caddy's global options
// (startCaddyWith).
func newFixtureWith(t *testing.T, global, extra string) *fixture {
	t.Helper()
	return newFixtureWithJWT(t, global, "", extra)
}

// newFixtureWithJWT is newFixtureWith with jwtExtra inside the jwt block
// (an audience, for instance).
func newFixtureWithJWT(t *testing.T, global, jwtExtra, extra string) *fixture {
	t.Helper()
	f := &fixture{t: t, redis: redistest.Start(t), app: newEchoApp(t), keyDir: t.TempDir()}
	f.rsa, f.ec, _ = testKeys(t)
	site := fmt.Sprintf(`	authedge {
		environment_id %s
		client_ids e2e-web
		jwt {
			issuer %s
			public_key %s
			public_key %s
%s
		}
		redis {
			address %s
			timeout 300ms
		}
%s
	}
	reverse_proxy %s`,
		testEnv, testIssuer,
		writePublicPEM(t, f.keyDir, "rsa.pem", f.rsa),
		writePublicPEM(t, f.keyDir, "ec.pem", f.ec), jwtExtra,
		f.redis.Addr, extra, strings.TrimPrefix(f.app.URL, "http://"))
	f.caddy = startCaddyWith(t, global, site)
	return f
}

// minimalAuthedge is an authedge block with only what it needs to load:
// the test environment and issuer, one public key file, one Redis,
// verification and sudo off; body goes inside it (an identity block,
// say).
func minimalAuthedge(publicKey, redisAddr, body string) string {
	return minimalAuthedgeIn(testEnv, publicKey, redisAddr, body)
}

// minimalAuthedgeIn is minimalAuthedge for environment env.
func minimalAuthedgeIn(env, publicKey, redisAddr, body string) string {
	return minimalAuthedgeWithKeys(env, "public_key "+publicKey, redisAddr, body)
}

// minimalAuthedgeWithKeys is minimalAuthedgeIn with keys, the jwt
// block's key sources (public_key, jwks_url lines), in place of one key
// file.
func minimalAuthedgeWithKeys(env, keys, redisAddr, body string) string {
	return fmt.Sprintf(`authedge {
		environment_id %s
		jwt {
			issuer %s
			%s
		}
		redis {
			address %s
		}
		verification {
			required off
		}
		sudo {
			sensitive off
		}
%s
	}`, env, testIssuer, keys, redisAddr, body)
}

// token mints an ES256 token for sub (see signer.mint).
func (f *fixture) token(sub string, extra claims) string {
	f.t.Helper()
	return f.ec.mint(f.t, sub, extra)
}

// response is what Caddy answered.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends a request to the site. headers are name, value pairs; a JSON
// body gets Content-Type application/json unless headers set one, and
// setting it to "" sends none.
func (f *fixture) do(method, path, token, body string, headers ...string) *response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.caddy.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (r *response) String() string {
	return fmt.Sprintf("%d %s", r.Status, r.Body)
}

// object decodes the body as one JSON object.
func (r *response) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object (%v): %s", err, r)
	}
	return m
}

// wantJSON checks the headers every authedge response carries.
func (r *response) wantJSON(t *testing.T) {
	t.Helper()
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store (%s)", cc, r)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json (%s)", ct, r)
	}
}

// wantOK checks a 200 and returns the body object.
func (r *response) wantOK(t *testing.T) map[string]any {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("want 200, got %s", r)
	}
	r.wantJSON(t)
	return r.object(t)
}

// wantError checks an error answer: the status, and the exact shape
// {"error", "error_code" (= status), "error_description"} with no-store.
func (r *response) wantError(t *testing.T, status int, code string) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("want %d %s, got %s", status, code, r)
	}
	r.wantJSON(t)
	m := r.object(t)
	if len(m) != 3 {
		t.Errorf("error body has keys other than error, error_code, error_description: %s", r)
	}
	if m["error"] != code {
		t.Errorf("error = %v, want %q (%s)", m["error"], code, r)
	}
	if n, ok := m["error_code"].(float64); !ok || int(n) != status {
		t.Errorf("error_code = %v, want the number %d (%s)", m["error_code"], status, r)
	}
	if d, ok := m["error_description"].(string); !ok || strings.TrimSpace(d) == "" {
		t.Errorf("error_description missing or empty: %s", r)
	}
	return m
}

// echoApp stands for the app behind authedge: it answers every request with
// what it received, so a test can see that a request passed untouched.
type echoApp struct {
	*httptest.Server
	mu   sync.Mutex
	hits int
}

// echoed is what the echo app saw.
type echoed struct {
	App    string              `json:"app"`
	Method string              `json:"method"`
	Path   string              `json:"path"`
	Query  string              `json:"query"`
	Header map[string][]string `json:"header"`
	Body   string              `json:"body"`
}

func newEchoApp(t *testing.T) *echoApp {
	a := &echoApp{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.hits++
		a.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo-App", "yes")
		w.WriteHeader(http.StatusTeapot) // a status authedge never uses
		_ = json.NewEncoder(w).Encode(echoed{
			App: "echo", Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Header: r.Header, Body: string(body),
		})
	}))
	t.Cleanup(a.Close)
	return a
}

// Hits is how many requests reached the app.
func (a *echoApp) Hits() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hits
}
