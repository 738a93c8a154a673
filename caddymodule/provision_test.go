package caddymodule

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/notify"
)

// devKeys makes a key pair with keygen and returns the private and public
// PEM file paths.
func devKeys(t *testing.T, keyType string) (priv, pub string) {
	t.Helper()
	dir := t.TempDir()
	if _, err := keygen(dir, keyType); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, privateKeyFile), filepath.Join(dir, publicKeyFile)
}

// caddyContext is the context of a new, empty config, as Caddy gives its
// modules one: the handlers find the config's authedge app in it.
func caddyContext(t *testing.T) caddy.Context {
	t.Helper()
	cfgCtx, err := caddy.ProvisionContext(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(cfgCtx)
	t.Cleanup(cancel)
	return ctx
}

// startConfig starts the authedge app of ctx's config, as Caddy does once
// every module of the config is provisioned.
func startConfig(t *testing.T, ctx caddy.Context) {
	t.Helper()
	app, err := appOf(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
}

// provisioned builds a handler from cfg the way Caddy does, with Cleanup
// when the test ends.
func provisioned(t *testing.T, cfg config.Config) *Handler {
	t.Helper()
	h := &Handler{Config: cfg}
	ctx := caddyContext(t)
	if err := h.Provision(ctx); err != nil {
		_ = h.Cleanup()
		t.Fatalf("Provision: %v", err)
	}
	if err := h.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	startConfig(t, ctx)
	t.Cleanup(func() {
		if err := h.Cleanup(); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
	})
	return h
}

func baseConfig(pubKey, redisAddr string) config.Config {
	return config.Config{
		EnvironmentID: "dev-env",
		JWT:           config.JWT{Issuer: "https://dev.authedge.local", PublicKeys: []string{pubKey}},
		Redis:         config.Redis{Addresses: []string{redisAddr}},
		Verification:  config.Verification{Log: true},
	}
}

// devToken mints, as the authedge-token command does, an hour's token for
// user-1 of baseConfig's issuer and environment, signed with priv.
func devToken(t *testing.T, priv string) string {
	t.Helper()
	raw, err := mintToken(mintOptions{
		keyFile: priv, subject: "user-1", issuer: "https://dev.authedge.local",
		audience: []string{"dev-env"}, ttl: time.Hour,
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// nextHandler records whether the request was passed on.
type nextHandler struct{ called int }

func (n *nextHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	n.called++
	w.WriteHeader(http.StatusTeapot)
	return nil
}

func TestProvisionedHandlerServesAndPassesThrough(t *testing.T) {
	srv := redistest.Start(t)
	priv, pub := devKeys(t, "rsa")
	h := provisioned(t, baseConfig(pub, srv.Addr))

	serve := func(r *http.Request) (*httptest.ResponseRecorder, *nextHandler) {
		t.Helper()
		w, next := httptest.NewRecorder(), &nextHandler{}
		if err := h.ServeHTTP(w, r, next); err != nil {
			t.Fatalf("ServeHTTP: %v", err)
		}
		return w, next
	}

	// Not ours, including other /auth/v1/ paths: to the next handler.
	for _, path := range []string{"/", "/app/page", "/auth/v1/other", "/auth/v1/user/me/extra"} {
		w, next := serve(httptest.NewRequest(http.MethodGet, path, nil))
		if next.called != 1 || w.Code != http.StatusTeapot {
			t.Errorf("%s: next called %d times, status %d; want passed through", path, next.called, w.Code)
		}
	}

	// Ours without a token: answered here, never passed on.
	w, next := serve(httptest.NewRequest(http.MethodGet, "/auth/v1/user/me", nil))
	if next.called != 0 || w.Code != http.StatusUnauthorized {
		t.Fatalf("/auth/v1/user/me without token: next called %d, status %d", next.called, w.Code)
	}
	if !strings.Contains(w.Body.String(), `"unauthenticated"`) {
		t.Errorf("401 body: %s", w.Body)
	}

	// Ours with a token minted by the authedge-token command: the whole
	// chain, verifier and Redis included, works as provisioned.
	raw := devToken(t, priv)
	r := httptest.NewRequest(http.MethodGet, "/auth/v1/user/me", nil)
	r.Header.Set("Authorization", "Bearer "+raw)
	w, next = serve(r)
	if next.called != 0 || w.Code != http.StatusOK {
		t.Fatalf("/auth/v1/user/me: next called %d, status %d, body %s", next.called, w.Code, w.Body)
	}
	var me struct{ Sub string }
	if err := json.Unmarshal(w.Body.Bytes(), &me); err != nil || me.Sub != "user-1" {
		t.Errorf("me = %s (%v), want sub user-1", w.Body, err)
	}
}

// The pass-through path is every request of the app behind: it must not
// allocate.
func TestPassThroughDoesNotAllocate(t *testing.T) {
	_, pub := devKeys(t, "ec")
	h := provisioned(t, baseConfig(pub, "127.0.0.1:1"))
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	w := httptest.NewRecorder()
	for _, path := range []string{"/", "/auth/v1/", "/auth/v1/user/basic/edit/x", "/static/app.js"} {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		allocs := testing.AllocsPerRun(100, func() {
			if err := h.ServeHTTP(w, r, next); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per pass-through, want 0", path, allocs)
		}
	}
}

func TestProvisionRefusesInvalidConfigBeforeBuilding(t *testing.T) {
	_, pub := devKeys(t, "ed25519")
	cfg := baseConfig(pub, "127.0.0.1:1")
	cfg.Verification.Log = false // the secure defaults now have no sender
	h := &Handler{Config: cfg}
	err := h.Provision(caddyContext(t))
	if err == nil {
		t.Fatal("Provision accepted a config without a code sender")
	}
	for _, want := range []string{"`webhook <url> [<secret>]`", "`verification { required off }`", "`sudo { sensitive off }`"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if h.store != nil || h.api != nil || h.jwksURL != "" {
		t.Error("Provision built parts of an invalid config")
	}
	if err := h.Cleanup(); err != nil {
		t.Errorf("Cleanup after failed Provision: %v", err)
	}
}

func TestProvisionRefusesBadKeyFile(t *testing.T) {
	dir := t.TempDir()
	notAKey := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(notAKey, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{notAKey, filepath.Join(dir, "missing.pem")} {
		h := &Handler{Config: baseConfig(file, "127.0.0.1:1")}
		err := h.Provision(caddyContext(t))
		if err == nil {
			t.Fatalf("Provision accepted public_key %s", file)
		}
		if !strings.HasPrefix(err.Error(), "jwt public_key: ") {
			t.Errorf("error does not name jwt public_key: %v", err)
		}
		if err := h.Cleanup(); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
	}
}

func TestProvisionRefusesBadJWKSFile(t *testing.T) {
	_, pub := devKeys(t, "rsa")
	for _, content := range []string{"", "{}", `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`} {
		file := filepath.Join(t.TempDir(), "jwks.json")
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := baseConfig(pub, "127.0.0.1:1") // the good public_key must not hide the bad file
		cfg.JWT.JWKSFile = file
		h := &Handler{Config: cfg}
		err := h.Provision(caddyContext(t))
		if err == nil || !strings.HasPrefix(err.Error(), "jwt jwks_file: ") {
			t.Errorf("jwks_file %q: error = %v, want one naming jwt jwks_file", content, err)
		}
		if err := h.Cleanup(); err != nil {
			t.Error(err)
		}
	}
}

// jwksServer serves a JWK Set of one RSA key and counts its fetches.
func jwksServer(t *testing.T) (url string, fetches *atomic.Int32) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.FromRaw(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	_ = pub.Set(jwk.KeyIDKey, "k1")
	_ = pub.Set(jwk.AlgorithmKey, "RS256")
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	fetches = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/jwks.json", fetches
}

func jwksConfig(url string) config.Config {
	return config.Config{
		EnvironmentID: "dev-env",
		JWT:           config.JWT{Issuer: "iss", JWKSURL: url},
		Redis:         config.Redis{Addresses: []string{"127.0.0.1:1"}},
		Verification:  config.Verification{Log: true},
	}
}

// A config reload provisions the new handler before cleaning up the old
// one: the remote JWKS is fetched once and shared, and stopped only when
// the last handler using it is gone.
func TestRemoteJWKSSharedAcrossReloads(t *testing.T) {
	url, fetches := jwksServer(t)
	refs := func() int {
		n, _ := jwksPool.References(url)
		return n
	}

	old := &Handler{Config: jwksConfig(url)}
	if err := old.Provision(caddyContext(t)); err != nil {
		t.Fatal(err)
	}
	reloaded := &Handler{Config: jwksConfig(url)}
	if err := reloaded.Provision(caddyContext(t)); err != nil {
		t.Fatal(err)
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches for two handlers, want 1", n)
	}
	if n := refs(); n != 2 {
		t.Errorf("%d references, want 2", n)
	}

	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if n := refs(); n != 1 {
		t.Errorf("after the old config's Cleanup: %d references, want 1", n)
	}
	if err := reloaded.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, ok := jwksPool.References(url); ok {
		t.Error("the JWKS outlived its last handler")
	}

	// A later config fetches anew.
	again := &Handler{Config: jwksConfig(url)}
	if err := again.Provision(caddyContext(t)); err != nil {
		t.Fatal(err)
	}
	defer again.Cleanup()
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d fetches after a fresh start, want 2", n)
	}
}

// A reload fetches the shared set again (an operator reloads to have a
// key the provider withdrew refused now), unless it was fetched within
// the second, as by the first of a config's handlers.
func TestReloadFetchesTheJWKSAgain(t *testing.T) {
	url, fetches := jwksServer(t)
	old := &Handler{Config: jwksConfig(url)}
	if err := old.Provision(caddyContext(t)); err != nil {
		t.Fatal(err)
	}
	defer old.Cleanup()
	time.Sleep(1100 * time.Millisecond)
	reloaded := &Handler{Config: jwksConfig(url)}
	if err := reloaded.Provision(caddyContext(t)); err != nil {
		t.Fatal(err)
	}
	defer reloaded.Cleanup()
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d fetches after a reload, want 2", n)
	}
}

// Provision that fails after taking a JWKS reference gives it back in the
// Cleanup Caddy then calls.
func TestFailedProvisionReleasesJWKS(t *testing.T) {
	url, _ := jwksServer(t)
	cfg := jwksConfig(url)
	cfg.JWT.PublicKeys = []string{filepath.Join(t.TempDir(), "missing.pem")}
	h := &Handler{Config: cfg}
	if err := h.Provision(caddyContext(t)); err == nil {
		t.Fatal("Provision accepted a missing key file")
	}
	if _, ok := jwksPool.References(url); !ok {
		t.Fatal("the JWKS was not taken before the failure; the test proves nothing")
	}
	if err := h.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, ok := jwksPool.References(url); ok {
		t.Error("failed Provision + Cleanup left the JWKS running")
	}
}

func TestProvisionFailsOnUnreachableJWKS(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	url := srv.URL + "/jwks.json"
	h := &Handler{Config: jwksConfig(url)}
	err := h.Provision(caddyContext(t))
	if err == nil || !strings.HasPrefix(err.Error(), "jwt jwks_url: ") {
		t.Fatalf("error = %v, want one naming jwt jwks_url", err)
	}
	if _, ok := jwksPool.References(url); ok {
		t.Error("a failed fetch left a pool entry")
	}
	if err := h.Cleanup(); err != nil {
		t.Error(err)
	}
}

func TestSender(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	h := &Handler{logger: zap.New(core)}

	sender := func(secret string) notify.Sender {
		t.Helper()
		s, err := h.sender(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := sender(""); s != nil {
		t.Errorf("no sender configured, got %T", s)
	}
	if logs.Len() != 0 {
		t.Errorf("logged without a sender: %v", logs.All())
	}

	h.Verification.Webhook = &config.Webhook{URL: "https://notify.example/codes"}
	if _, ok := sender("secret").(*notify.Webhook); !ok {
		t.Error("webhook configured, sender is not a *notify.Webhook")
	}

	for url, wantWarning := range map[string]bool{
		"http://sms.internal:8080/codes": true,
		"http://127.0.0.1:9000/codes":    false,
		"http://localhost/codes":         false,
		"https://notify.example/codes":   false,
	} {
		before := logs.FilterMessageSnippet("unencrypted").Len()
		h.Verification.Webhook = &config.Webhook{URL: url}
		sender("secret")
		if warned := logs.FilterMessageSnippet("unencrypted").Len() > before; warned != wantWarning {
			t.Errorf("%s: warned %v, want %v", url, warned, wantWarning)
		}
	}

	h.Verification.Webhook = nil
	h.Verification.Log = true
	if _, ok := sender("").(*notify.Log); !ok {
		t.Error("log configured, sender is not a *notify.Log")
	}
	warned := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("development only").Len()
	if warned != 1 {
		t.Errorf("log sender: %d warnings about development only, want 1: %v", warned, logs.All())
	}
}

func TestResolveSecret(t *testing.T) {
	t.Setenv("AUTHEDGE_TEST_SECRET", "from-env")
	t.Setenv("AUTHEDGE_TEST_EMPTY", "")
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		in, want string
		err      string // substring; the value never appears in it
	}{
		{in: "", want: ""},
		{in: "literal", want: "literal"},
		{in: "{env.AUTHEDGE_TEST_SECRET}", want: "from-env"},
		{in: "pre-{env.AUTHEDGE_TEST_SECRET}-post", want: "pre-from-env-post"},
		{in: "{file." + file + "}", want: "from-file"},
		{in: "a{not_a_placeholder}b", want: "a{not_a_placeholder}b"},
		{in: "{env.AUTHEDGE_TEST_EMPTY}", err: "{env.AUTHEDGE_TEST_EMPTY} is empty"},
		{in: "{env.AUTHEDGE_TEST_UNSET_VARIABLE}", err: "{env.AUTHEDGE_TEST_UNSET_VARIABLE} is empty"},
		{in: "{file." + filepath.Join(dir, "missing") + "}", err: "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := resolveSecret(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("resolveSecret(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("resolveSecret(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// The resolved secrets go to the store and the sender only: the config,
// which Caddy may show, keeps the placeholders.
func TestProvisionKeepsPlaceholdersInConfig(t *testing.T) {
	t.Setenv("AUTHEDGE_TEST_REDIS_PASSWORD", "hunter2")
	t.Setenv("AUTHEDGE_TEST_HOOK_SECRET", "s3cret")
	_, pub := devKeys(t, "ec")
	cfg := baseConfig(pub, "127.0.0.1:1")
	cfg.Redis.Password = "{env.AUTHEDGE_TEST_REDIS_PASSWORD}"
	cfg.Verification = config.Verification{Webhook: &config.Webhook{URL: "https://n.example/", Secret: "{env.AUTHEDGE_TEST_HOOK_SECRET}"}}
	h := provisioned(t, cfg)
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "hunter2") || strings.Contains(string(b), "s3cret") {
		t.Errorf("a resolved secret is in the config: %s", b)
	}

	// And an empty one fails the load, naming where.
	t.Setenv("AUTHEDGE_TEST_HOOK_SECRET", "")
	h2 := &Handler{Config: cfg}
	err = h2.Provision(caddyContext(t))
	if err == nil || !strings.Contains(err.Error(), "verification webhook secret") {
		t.Errorf("empty webhook secret: error = %v", err)
	}
	_ = h2.Cleanup()
}

// The names a token is checked against may be placeholders too: resolved
// at load, a token minted for the resolved values is accepted, and one
// that resolves to nothing fails the load, naming the field. Left as
// written, every token failed with nothing at load to say why.
func TestProvisionResolvesPlaceholdersInTokenNames(t *testing.T) {
	srv := redistest.Start(t)
	priv, pub := devKeys(t, "rsa")
	t.Setenv("AUTHEDGE_TEST_ISSUER", "https://dev.authedge.local")
	t.Setenv("AUTHEDGE_TEST_ENV", "dev-env")
	cfg := baseConfig(pub, srv.Addr)
	cfg.EnvironmentID = "{env.AUTHEDGE_TEST_ENV}"
	cfg.JWT.Issuer = "{env.AUTHEDGE_TEST_ISSUER}"
	cfg.JWT.Audience = []string{"{env.AUTHEDGE_TEST_ENV}"}
	cfg.ClientIDs = []string{"{env.AUTHEDGE_TEST_ENV}-web"}
	h := provisioned(t, cfg)
	if h.EnvironmentID != "dev-env" || h.JWT.Issuer != "https://dev.authedge.local" ||
		h.JWT.Audience[0] != "dev-env" || h.ClientIDs[0] != "dev-env-web" {
		t.Fatalf("resolved: env %q issuer %q audience %q client_ids %q",
			h.EnvironmentID, h.JWT.Issuer, h.JWT.Audience, h.ClientIDs)
	}
	r := httptest.NewRequest(http.MethodGet, "/auth/v1/user/me", nil)
	r.Header.Set("Authorization", "Bearer "+devToken(t, priv))
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, &nextHandler{}); err != nil || w.Code != http.StatusOK {
		t.Fatalf("a token for the resolved names: %d %s (%v)", w.Code, w.Body, err)
	}

	t.Setenv("AUTHEDGE_TEST_ISSUER", "")
	h2 := &Handler{Config: cfg}
	err := h2.Provision(caddyContext(t))
	if err == nil || !strings.Contains(err.Error(), "jwt issuer") {
		t.Errorf("an issuer placeholder that resolves to nothing: error = %v", err)
	}
	_ = h2.Cleanup()
}

// The Redis ACL user name may be a placeholder, as the password beside it
// may: both come from the same secret store. Left as written, the config
// loaded and then Redis refused every connection of the user named
// "{env...}", and every request failed.
func TestProvisionResolvesRedisUsername(t *testing.T) {
	srv := redistest.Start(t)
	if _, err := redistest.Command(srv.Addr, "ACL", "SETUSER", "edge", "on", ">pw", "~*", "&*", "+@all"); err != nil {
		t.Fatal(err)
	}
	priv, pub := devKeys(t, "rsa")
	t.Setenv("AUTHEDGE_TEST_REDIS_USER", "edge")
	t.Setenv("AUTHEDGE_TEST_REDIS_PASSWORD", "pw")
	cfg := baseConfig(pub, srv.Addr)
	cfg.Redis.Username = "{env.AUTHEDGE_TEST_REDIS_USER}"
	cfg.Redis.Password = "{env.AUTHEDGE_TEST_REDIS_PASSWORD}"
	h := provisioned(t, cfg)
	r := httptest.NewRequest(http.MethodGet, "/auth/v1/user/me", nil)
	r.Header.Set("Authorization", "Bearer "+devToken(t, priv))
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, &nextHandler{}); err != nil || w.Code != http.StatusOK {
		t.Fatalf("user/me as the resolved Redis user: %d %s (%v)", w.Code, w.Body, err)
	}

	t.Setenv("AUTHEDGE_TEST_REDIS_USER", "")
	h2 := &Handler{Config: cfg}
	err := h2.Provision(caddyContext(t))
	if err == nil || !strings.Contains(err.Error(), "redis username") {
		t.Errorf("a username placeholder that resolves to nothing: error = %v", err)
	}
	_ = h2.Cleanup()
}
