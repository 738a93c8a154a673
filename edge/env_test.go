package edge

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"encoding/json"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/handler"
	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/store"
	"github.com/authedge/caddy-authedge/token"
)

// The test environment: a real redis-server and store, the real verifier
// and API (whose Authenticate the edge calls), and the edge built from a
// config that went through ApplyDefaults and Validate, as caddymodule does.

const (
	testEnvID  = "env-edge"
	testIssuer = "https://issuer.edge.test"
)

var issuerKey = sync.OnceValue(func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

// countingProfiles is the real store, counted: the tests check that the
// profile is read at most once per request.
type countingProfiles struct {
	*store.Store
	reads atomic.Int64
}

func (c *countingProfiles) Profile(ctx context.Context, userID string) (store.Profile, bool, error) {
	c.reads.Add(1)
	return c.Store.Profile(ctx, userID)
}

type env struct {
	t        testing.TB
	redis    *redistest.Server
	store    *store.Store
	profiles *countingProfiles
	api      *handler.API
	edge     *Edge
	now      time.Time
	logs     *observer.ObservedLogs
}

// newEnv builds the stack with id as the identity block.
func newEnv(t testing.TB, id *config.Identity) *env {
	t.Helper()
	e := &env{t: t, redis: redistest.Start(t), now: time.Now().Truncate(time.Second)}
	der, err := x509.MarshalPKIXPublicKey(&issuerKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := writeFile(t, "issuer.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	off := []string{}
	cfg := &config.Config{
		EnvironmentID: testEnvID,
		JWT:           config.JWT{Issuer: testIssuer, PublicKeys: []string{keyFile}},
		Redis:         config.Redis{Addresses: []string{e.redis.Addr}},
		Verification:  config.Verification{Required: &off},
		Sudo:          config.Sudo{Sensitive: &off},
		Identity:      id,
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config does not validate: %v", err)
	}
	e.store, err = store.New(store.Options{
		Addresses: []string{e.redis.Addr}, Prefix: "authedge", EnvironmentID: testEnvID,
		Timeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.store.Close() })
	verifier, err := token.New(token.Config{
		Issuer: cfg.JWT.Issuer, Algorithms: cfg.JWT.Algorithms, Leeway: 30 * time.Second,
		AdminScope: cfg.JWT.AdminScope, DeviceClaim: cfg.JWT.DeviceClaim, PublicKeyFiles: cfg.JWT.PublicKeys,
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.api, err = handler.New(cfg, handler.Deps{Verifier: verifier, Store: e.store}); err != nil {
		t.Fatal(err)
	}
	e.profiles = &countingProfiles{Store: e.store}
	core, logs := observer.New(zapcore.DebugLevel)
	e.logs = logs
	e.edge, err = New(Options{Identity: cfg.Identity, EnvironmentID: testEnvID, Auth: e.api,
		Profiles: e.profiles, Now: func() time.Time { return e.now }, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// privatePEM writes key (PKCS #8) to a file.
func privatePEM(t testing.TB, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func newECKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newEdKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// token mints an ES256 access token for sub with extra claims.
func (e *env) token(sub string, extra map[string]any) string {
	e.t.Helper()
	c := map[string]any{
		"iss": testIssuer, "sub": sub, "aud": []string{testEnvID},
		"iat": e.now.Unix(), "exp": e.now.Add(time.Hour).Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	payload, err := json.Marshal(c)
	if err != nil {
		e.t.Fatal(err)
	}
	signed, err := jws.Sign(payload, jws.WithKey(jwa.ES256, issuerKey()))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(signed)
}

// serve runs one request through the edge. It returns what reached the
// app (nil if nothing did) and the recorder.
func (e *env) serve(r *http.Request) (*http.Request, *Identity, *httptest.ResponseRecorder) {
	w := httptest.NewRecorder()
	id, ok := e.edge.Serve(w, r)
	if !ok {
		return nil, nil, w
	}
	return r, id, w
}

func request(path, tok string, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://app.test"+path, nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header[headers[i]] = append(r.Header[headers[i]], headers[i+1])
	}
	return r
}

// wantProtected checks, for each path of a request without a token,
// whether the edge protects it.
func (e *env) wantProtected(t *testing.T, paths map[string]bool) {
	t.Helper()
	for path, want := range paths {
		if got, _ := e.edge.Protected(request(path, "")); got != want {
			t.Errorf("%s: protected = %v, want %v", path, got, want)
		}
	}
}

// wantOneScope checks that r is protected and needs exactly one scope.
func (e *env) wantOneScope(t *testing.T, r *http.Request) {
	t.Helper()
	if got, scopes := e.edge.Protected(r); !got || len(scopes) != 1 {
		t.Errorf("%s %s: protected = %v, scopes %v, want one scope", r.Method, r.URL.RequestURI(), got, scopes)
	}
}

// wantStopped checks that r is answered status before it reaches the app.
func (e *env) wantStopped(t *testing.T, r *http.Request, status int) {
	t.Helper()
	if reached, _, w := e.serve(r); reached != nil || w.Code != status {
		t.Errorf("%s %s: reached the app = %v, status %d, want %d", r.Method, r.URL.RequestURI(), reached != nil, w.Code, status)
	}
}
