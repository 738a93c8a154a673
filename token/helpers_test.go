package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

const (
	testIssuer = "https://issuer.example"
	testClient = "env-1"
	testSub    = "user-1"
)

// testStart is the fake "now" of most tests.
var testStart = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// testKeys are generated once per test binary: RSA generation is slow.
type testKeys struct {
	rsa, rsa2 *rsa.PrivateKey
	ec256     *ecdsa.PrivateKey
	ec384     *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
}

var keys = sync.OnceValue(func() *testKeys {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	k := &testKeys{}
	var err error
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.ec256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(err)
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	return k
})

// clock is a settable clock for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: testStart} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// pemFile writes the public half of key (or key itself, if raw is true)
// as PEM and returns the path.
func pemFile(t testing.TB, key any) string {
	t.Helper()
	var block *pem.Block
	switch k := key.(type) {
	case *pem.Block:
		block = k
	default:
		der, err := x509.MarshalPKIXPublicKey(key)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PUBLIC KEY", Bytes: der}
	}
	return writeFile(t, "key.pem", pem.EncodeToMemory(block))
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// baseConfig trusts the PEM public keys of every test key but rsa2.
func baseConfig(t testing.TB, c *clock) Config {
	k := keys()
	return Config{
		Issuer: testIssuer,
		PublicKeyFiles: []string{
			pemFile(t, &k.rsa.PublicKey),
			pemFile(t, &k.ec256.PublicKey),
			pemFile(t, &k.ec384.PublicKey),
			pemFile(t, k.ed.Public()),
		},
		Now: c.Now,
	}
}

func newVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// claims are a token's claims: the usual valid set, to be changed by tests.
type claims map[string]any

func validClaims() claims {
	return claims{
		"iss": testIssuer,
		"sub": testSub,
		"aud": testClient,
		"exp": testStart.Add(time.Hour).Unix(),
		"iat": testStart.Unix(),
		"nbf": testStart.Unix(),
	}
}

// mint signs claims with jwx, the way a real issuer would.
func mint(t testing.TB, alg jwa.SignatureAlgorithm, key any, c claims, header map[string]any) string {
	t.Helper()
	tok := jwt.New()
	for name, value := range c {
		if err := tok.Set(name, value); err != nil {
			t.Fatal(err)
		}
	}
	hdrs := jws.NewHeaders()
	for name, value := range header {
		if err := hdrs.Set(name, value); err != nil {
			t.Fatal(err)
		}
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(alg, key, jws.WithProtectedHeaders(hdrs)))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// signer signs a JWS signing input.
type signer func(input []byte) []byte

func rs256(key *rsa.PrivateKey) signer {
	return func(input []byte) []byte {
		sum := sha256.Sum256(input)
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		if err != nil {
			panic(err)
		}
		return sig
	}
}

func es256(key *ecdsa.PrivateKey) signer {
	return func(input []byte) []byte {
		sum := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
		if err != nil {
			panic(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	}
}

// eddsa signs with an Ed25519 key whatever the header's alg says: jwx
// signs neither RFC 9864's "Ed25519" nor a wrongly spelled one.
func eddsa(key ed25519.PrivateKey) signer {
	return func(input []byte) []byte { return ed25519.Sign(key, input) }
}

func hs256(secret []byte) signer {
	return func(input []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(input)
		return m.Sum(nil)
	}
}

func enc(data []byte) string { return base64.RawURLEncoding.EncodeToString(data) }

func encJSON(t testing.TB, v any) string {
	t.Helper()
	if s, ok := v.(string); ok {
		return enc([]byte(s)) // already JSON, possibly on purpose not valid
	}
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return enc(data)
}

// craft builds a token by hand: header and payload are marshalled unless
// they are strings, which are taken as raw JSON.
func craft(t testing.TB, header, payload any, sign signer) string {
	t.Helper()
	input := encJSON(t, header) + "." + encJSON(t, payload)
	return input + "." + enc(sign([]byte(input)))
}

// mustVerify verifies raw for testClient and fails the test on error.
func mustVerify(t testing.TB, v *Verifier, raw string) *Claims {
	t.Helper()
	c, err := v.Verify(t.Context(), raw, testClient)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return c
}

// mustRefuse verifies raw for testClient and wants the failure want.
func mustRefuse(t testing.TB, v *Verifier, raw, want string) {
	t.Helper()
	refuseFor(t, v, raw, testClient, want)
}

func refuseFor(t testing.TB, v *Verifier, raw, clientID, want string) {
	t.Helper()
	c, err := v.Verify(t.Context(), raw, clientID)
	if err == nil {
		t.Fatalf("Verify accepted a bad token: %+v", c)
	}
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("Verify error %T %v is not a *Error", err, err)
	}
	if te.Description != want {
		t.Fatalf("Verify error %q, want %q", te.Description, want)
	}
	for _, part := range strings.Split(raw, ".") {
		if len(part) >= 8 && strings.Contains(err.Error(), part) {
			t.Fatalf("error %q holds part of the token", err)
		}
	}
}

// jwkSet builds a JWK Set of public keys with the given kids (and algs, if
// non-empty), as a provider would publish.
func jwkSet(t testing.TB, entries ...jwkEntry) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, e := range entries {
		key, err := jwk.FromRaw(e.key)
		if err != nil {
			t.Fatal(err)
		}
		if e.kid != "" {
			_ = key.Set(jwk.KeyIDKey, e.kid)
		}
		if e.alg != "" {
			_ = key.Set(jwk.AlgorithmKey, e.alg)
		}
		if e.use != "" {
			_ = key.Set(jwk.KeyUsageKey, e.use)
		}
		if err := set.AddKey(key); err != nil {
			t.Fatal(err)
		}
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

type jwkEntry struct {
	kid, alg, use string
	key           any
}
