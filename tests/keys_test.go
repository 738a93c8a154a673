package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// The identity every test config trusts.
const (
	testIssuer = "https://issuer.authedge.test"
	testEnv    = "e2e-env"
)

// signer is a private key the tests mint tokens with; its public half goes
// into the Caddyfile as a public_key PEM file.
type signer struct {
	alg jwa.SignatureAlgorithm
	key any
	pub any
}

var (
	keysOnce         sync.Once
	rsaKey, ecKey    signer
	strangerKey      signer // trusted by no config
	errGeneratingKey error
)

// testKeys generates the package's keys once: an RSA key, an EC P-256 key,
// and a third key no config trusts.
func testKeys(t *testing.T) (rsaSigner, ecSigner, stranger signer) {
	t.Helper()
	keysOnce.Do(func() {
		r, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			errGeneratingKey = err
			return
		}
		e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			errGeneratingKey = err
			return
		}
		s, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			errGeneratingKey = err
			return
		}
		rsaKey = signer{jwa.RS256, r, &r.PublicKey}
		ecKey = signer{jwa.ES256, e, &e.PublicKey}
		strangerKey = signer{jwa.ES256, s, &s.PublicKey}
	})
	if errGeneratingKey != nil {
		t.Fatal(errGeneratingKey)
	}
	return rsaKey, ecKey, strangerKey
}

// writePublicPEM writes s's public key as a PKIX "PUBLIC KEY" PEM file in
// dir and returns its path.
func writePublicPEM(t *testing.T, dir, name string, s signer) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(s.pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	writeFile(t, path, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	return path
}

// claims are a token's claims; mint fills in iss, aud, iat and exp unless
// given, and a nil value removes a claim.
type claims map[string]any

// mint signs a token for sub with s. Defaults: iss testIssuer, aud
// [testEnv] (the default client_id), iat now, exp in an hour.
func (s signer) mint(t *testing.T, sub string, extra claims) string {
	t.Helper()
	now := time.Now()
	c := claims{
		"iss": testIssuer,
		"sub": sub,
		"aud": []string{testEnv},
		"iat": now,
		"exp": now.Add(time.Hour),
	}
	for k, v := range extra {
		c[k] = v
	}
	tok := jwt.New()
	for k, v := range c {
		if v == nil {
			continue
		}
		if err := tok.Set(k, v); err != nil {
			t.Fatalf("claim %s: %v", k, err)
		}
	}
	raw, err := jwt.Sign(tok, jwt.WithKey(s.alg, s.key))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
