package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

func TestNewRefusesBadConfig(t *testing.T) {
	k := keys()
	pemPath := pemFile(t, &k.rsa.PublicKey)
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"no issuer":          {Config{PublicKeyFiles: []string{pemPath}}, "issuer is required"},
		"no key source":      {Config{Issuer: testIssuer}, "no key source"},
		"negative leeway":    {Config{Issuer: testIssuer, PublicKeyFiles: []string{pemPath}, Leeway: -time.Second}, "negative"},
		"alg none":           {Config{Issuer: testIssuer, PublicKeyFiles: []string{pemPath}, Algorithms: []string{"RS256", "none"}}, `"none" is never accepted`},
		"alg HS256":          {Config{Issuer: testIssuer, PublicKeyFiles: []string{pemPath}, Algorithms: []string{"HS256"}}, `"HS256" is never accepted`},
		"alg hs512":          {Config{Issuer: testIssuer, PublicKeyFiles: []string{pemPath}, Algorithms: []string{"hs512"}}, `never accepted`},
		"alg unknown":        {Config{Issuer: testIssuer, PublicKeyFiles: []string{pemPath}, Algorithms: []string{"ES256K"}}, `unknown algorithm "ES256K"`},
		"alg empty":          {Config{Issuer: testIssuer, PublicKeyFiles: []string{pemPath}, Algorithms: []string{""}}, `unknown algorithm ""`},
		"device claim sub":   {Config{Issuer: testIssuer, PublicKeyFiles: []string{pemPath}, DeviceClaim: "sub"}, `device claim: "sub" is a registered claim`},
		"device claim SCOPE": {Config{Issuer: testIssuer, PublicKeyFiles: []string{pemPath}, DeviceClaim: "SCOPE"}, `device claim: "SCOPE" is a registered claim`},
		"admin scope ws":     {Config{Issuer: testIssuer, PublicKeyFiles: []string{pemPath}, AdminScope: "a b"}, "admin scope: holds a space"},
		"empty audience":     {Config{Issuer: testIssuer, PublicKeyFiles: []string{pemPath}, Audience: []string{""}}, "audience"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	v := newVerifier(t, Config{Issuer: testIssuer, PublicKeyFiles: []string{pemFile(t, &keys().rsa.PublicKey)}})
	if v.s.leeway != DefaultLeeway || v.s.adminScope != DefaultAdminScope || v.s.deviceClaim != DefaultDeviceClaim {
		t.Fatalf("defaults %+v", v.s)
	}
	if v.cache == nil || v.s.cacheSize != DefaultCacheSize {
		t.Fatal("the cache is on by default")
	}
	var names []string
	for _, a := range v.s.algorithms {
		names = append(names, a.name)
	}
	if strings.Join(names, " ") != strings.Join(DefaultAlgorithms, " ") {
		t.Fatalf("algorithms %v", names)
	}
	off := newVerifier(t, Config{Issuer: testIssuer, PublicKeyFiles: []string{pemFile(t, &keys().rsa.PublicKey)}, CacheSize: -1})
	if off.cache != nil {
		t.Fatal("CacheSize < 0 turns the cache off")
	}
}

func TestPEMFiles(t *testing.T) {
	k := keys()
	c := newClock()
	rsaDER, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	ecDER, _ := x509.MarshalPKIXPublicKey(&k.ec256.PublicKey)
	rsaPriv := x509.MarshalPKCS1PrivateKey(k.rsa)
	ecPriv, _ := x509.MarshalECPrivateKey(k.ec256)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(k.ed)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p224DER, _ := x509.MarshalPKIXPublicKey(&p224.PublicKey)
	block := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }

	// Both keys of one file are loaded; PKCS #1 and certificates work too.
	both := writeFile(t, "both.pem", append(block("PUBLIC KEY", rsaDER), block("PUBLIC KEY", ecDER)...))
	v := newVerifier(t, Config{Issuer: testIssuer, PublicKeyFiles: []string{both}, Now: c.Now})
	mustVerify(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), nil))
	mustVerify(t, v, mint(t, jwa.ES256, k.ec256, validClaims(), nil))

	pkcs1 := writeFile(t, "pkcs1.pem", block("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)))
	mustVerify(t, newVerifier(t, Config{Issuer: testIssuer, PublicKeyFiles: []string{pkcs1}, Now: c.Now}), mint(t, jwa.RS256, k.rsa, validClaims(), nil))

	cert := writeFile(t, "cert.pem", block("CERTIFICATE", selfSigned(t, k.ec256)))
	mustVerify(t, newVerifier(t, Config{Issuer: testIssuer, PublicKeyFiles: []string{cert}, Now: c.Now}), mint(t, jwa.ES256, k.ec256, validClaims(), nil))

	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"RSA private key":       {block("RSA PRIVATE KEY", rsaPriv), "it is a private key"},
		"EC private key":        {block("EC PRIVATE KEY", ecPriv), "private key"},
		"PKCS8 Ed25519 private": {block("PRIVATE KEY", pkcs8), "private key"},
		"private after public":  {append(block("PUBLIC KEY", rsaDER), block("RSA PRIVATE KEY", rsaPriv)...), "key 2: it is a private key"},
		"not PEM":               {[]byte(`{"keys":[]}`), "not a PEM public key"},
		"DER":                   {rsaDER, "not a PEM public key"},
		"empty":                 {nil, "empty"},
		"garbage after key":     {append(block("PUBLIC KEY", rsaDER), "junk"...), "not a PEM public key"},
		"RSA 1024":              {block("PUBLIC KEY", smallDER), "shorter than 2048 bits"},
		"P-224":                 {block("PUBLIC KEY", p224DER), "unusable key"},
		"private block type":    {block("OPENSSH PRIVATE KEY", []byte{1}), "private key"},
		"wrong block type":      {block("DH PARAMETERS", []byte{1}), `"DH PARAMETERS" PEM block is not a public key`},
	} {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, "bad.pem", tc.data)
			_, err := New(Config{Issuer: testIssuer, PublicKeyFiles: []string{pemFile(t, &k.rsa.PublicKey), path}})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("New: %v, want an error naming %s with %q", err, path, tc.want)
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	if _, err := New(Config{Issuer: testIssuer, PublicKeyFiles: []string{missing}}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("New with a missing file: %v", err)
	}
}

func selfSigned(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "issuer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestJWKSFileWithKids(t *testing.T) {
	k := keys()
	c := newClock()
	set := jwkSet(t,
		jwkEntry{kid: "a", key: &k.rsa.PublicKey},
		jwkEntry{kid: "b", alg: "RS256", key: &k.rsa2.PublicKey},
		jwkEntry{kid: "e", key: &k.ec256.PublicKey},
		jwkEntry{kid: "enc", use: "enc", key: &k.ec384.PublicKey},
	)
	v := newVerifier(t, Config{Issuer: testIssuer, JWKSFile: writeFile(t, "jwks.json", set), Now: c.Now})

	mustVerify(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "a"}))
	mustVerify(t, v, mint(t, jwa.PS256, k.rsa, validClaims(), map[string]any{"kid": "a"}))
	mustVerify(t, v, mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "b"}))
	mustVerify(t, v, mint(t, jwa.ES256, k.ec256, validClaims(), map[string]any{"kid": "e"}))
	// The kid picks the key: a's key under b's kid does not verify.
	mustRefuse(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "b"}), "invalid signature")
	// b says alg RS256: a PS256 token under b has no key.
	mustRefuse(t, v, mint(t, jwa.PS256, k.rsa2, validClaims(), map[string]any{"kid": "b"}), "no key for this token's algorithm")
	mustRefuse(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "zzz"}), "unknown signing key")
	// An encryption key is not a signing key.
	mustRefuse(t, v, mint(t, jwa.ES384, k.ec384, validClaims(), map[string]any{"kid": "enc"}), "unknown signing key")
	// Without a kid, every key that fits is tried.
	mustVerify(t, v, mint(t, jwa.RS256, k.rsa2, validClaims(), nil))
	mustVerify(t, v, mint(t, jwa.ES256, k.ec256, validClaims(), nil))
	mustRefuse(t, v, mint(t, jwa.ES384, k.ec384, validClaims(), nil), "no key for this token's algorithm")
}

// A file holding one bare JWK, as jwx's own parser accepted, is a set of one.
func TestJWKSFileWithOneBareKey(t *testing.T) {
	k := keys()
	pub, err := jwk.FromRaw(&k.ec256.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(pub)
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, Config{Issuer: testIssuer, JWKSFile: writeFile(t, "key.json", data), Now: newClock().Now})
	mustVerify(t, v, mint(t, jwa.ES256, k.ec256, validClaims(), nil))
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, v, mint(t, jwa.ES256, other, validClaims(), nil), "invalid signature")
}

func TestJWKSFileErrors(t *testing.T) {
	k := keys()
	privRSA, _ := jwk.FromRaw(k.rsa)
	privEC, _ := jwk.FromRaw(k.ec256)
	oct, _ := jwk.FromRaw([]byte("0123456789abcdef0123456789abcdef"))
	mismatched := jwkSet(t, jwkEntry{kid: "x", alg: "ES256", key: &k.rsa.PublicKey})
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"private RSA":     {setOf(t, privRSA), "private key"},
		"private EC":      {setOf(t, privEC), "private key"},
		"symmetric":       {setOf(t, oct), "symmetric key"},
		"only enc keys":   {jwkSet(t, jwkEntry{kid: "e", use: "enc", key: &k.rsa.PublicKey}), "no public signature key"},
		"empty set":       {[]byte(`{"keys":[]}`), "no public signature key"},
		"not JSON":        {[]byte("-----BEGIN PUBLIC KEY-----"), "JWKS file"},
		"alg of key type": {mismatched, "does not match the key"},
		"bad RSA":         {[]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`), "shorter than 2048"},
		"bad EC point":    {[]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"}]}`), "JWKS file"},
	} {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, "jwks.json", tc.data)
			_, err := New(Config{Issuer: testIssuer, JWKSFile: path})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("New: %v, want an error naming %s with %q", err, path, tc.want)
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "missing.json")
	if _, err := New(Config{Issuer: testIssuer, JWKSFile: missing}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("New with a missing file: %v", err)
	}
}

func setOf(t *testing.T, keys ...jwk.Key) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, key := range keys {
		if err := set.AddKey(key); err != nil {
			t.Fatal(err)
		}
	}
	data, err := set.(interface{ MarshalJSON() ([]byte, error) }).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestFingerprintTracksContent(t *testing.T) {
	k := keys()
	a, _ := fromRawForTest(t, "a", &k.rsa.PublicKey)
	b, _ := fromRawForTest(t, "b", &k.rsa.PublicKey)
	a2, _ := fromRawForTest(t, "a", &k.rsa2.PublicKey)
	if newKeySet([]*publicKey{a, b}).fingerprint != newKeySet([]*publicKey{b, a}).fingerprint {
		t.Fatal("order must not matter")
	}
	if newKeySet([]*publicKey{a}).fingerprint == newKeySet([]*publicKey{a2}).fingerprint {
		t.Fatal("a new key under the same kid must change the fingerprint")
	}
	if newKeySet([]*publicKey{a}).fingerprint == newKeySet([]*publicKey{b}).fingerprint {
		t.Fatal("a new kid must change the fingerprint")
	}
}

func fromRawForTest(t *testing.T, kid string, raw any) (*publicKey, error) {
	t.Helper()
	key, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = key.Set(jwk.KeyIDKey, kid)
	pk, err := fromJWK(key)
	if err != nil {
		t.Fatal(err)
	}
	return pk, nil
}

// An Ed25519 public key of small order (the identity, 32 zero bytes, and
// the other points whose multiples by the cofactor are the identity)
// verifies signatures that anyone can make: with the identity, R = the
// identity and S = 0 verify every message; with an order-4 or order-8
// point, they do for one message in 4 or 8, and a forger varies the
// claims until one does. Such a key is as unusable as an EC point off its
// curve, and is refused the same way: a file with one fails the
// configuration, a remote set skips it.
func TestSmallOrderEd25519KeysAreRefused(t *testing.T) {
	k := keys()
	for _, h := range []string{
		"0100000000000000000000000000000000000000000000000000000000000000", // identity
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
		"0000000000000000000000000000000000000000000000000000000000000000", // order 4: 32 zero bytes
		"0000000000000000000000000000000000000000000000000000000000000080", // order 4
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // identity, non-canonical y = p + 1
	} {
		pub, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		// What the key would let anyone do: R = identity, S = 0.
		forged := append([]byte{1}, make([]byte, 63)...)
		if h[:2] == "01" && !ed25519.Verify(ed25519.PublicKey(pub), []byte("any message"), forged) {
			t.Fatal("the identity key no longer verifies the forgery: the premise of this test is gone")
		}

		der, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(pub))
		if err != nil {
			t.Fatal(err)
		}
		pemPath := writeFile(t, "weak.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		if _, err := New(Config{Issuer: testIssuer, PublicKeyFiles: []string{pemPath}}); err == nil || !strings.Contains(err.Error(), "small order") {
			t.Errorf("%s: public_key: New: %v, want a small-order refusal", h, err)
		}

		member := `{"kty":"OKP","crv":"Ed25519","kid":"weak","x":"` + enc(pub) + `"}`
		jwksPath := writeFile(t, "jwks.json", []byte(`{"keys":[`+member+`]}`))
		if _, err := New(Config{Issuer: testIssuer, JWKSFile: jwksPath}); err == nil || !strings.Contains(err.Error(), "small order") || !strings.Contains(err.Error(), jwksPath) {
			t.Errorf("%s: jwks_file: New: %v, want a small-order refusal naming the file", h, err)
		}

		good := string(jwkSet(t, jwkEntry{kid: "good", key: k.ed.Public()}))
		got, skipped, err := parseJWKSet([]byte(`{"keys":[` + member + `,` + good[len(`{"keys":[`):]))
		if err != nil || len(got) != 1 || got[0].kid != "good" || len(skipped) != 1 || skipped[0].unusable || !strings.Contains(skipped[0].reason, "small order") {
			t.Errorf("%s: remote set: keys %v, skipped %+v, err %v; want the weak key skipped as broken", h, got, skipped, err)
		}
	}
	// A key of full order still loads.
	mustVerify(t, newVerifier(t, Config{Issuer: testIssuer, PublicKeyFiles: []string{pemFile(t, k.ed.Public())}, Now: newClock().Now}),
		mint(t, jwa.EdDSA, k.ed, validClaims(), nil))
}
