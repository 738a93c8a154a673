package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"filippo.io/edwards25519"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"go.uber.org/zap"
)

// minRSABits is the smallest RSA modulus accepted (RFC 7518 3.3 and 3.5).
const minRSABits = 2048

// maxRSABits is the largest, as crypto/tls bounds the keys it verifies
// with (CVE-2023-29409): a check costs about the cube of the size, and a
// token without a kid is tried with every RSA key, so one 16384-bit key
// made each such garbage token cost 10 ms (45 ms with e near 2^31).
const maxRSABits = 8192

// publicKey is a verification key in the raw form crypto/* wants, converted
// from jwx's jwk.Key once, when its key set is loaded.
type publicKey struct {
	kid  string // "" for PEM keys and kid-less JWKs: tried for any token
	alg  string // the JWK's alg, "" if it names none
	kind keyKind
	rsa  *rsa.PublicKey
	// rsaOp is rsa with its modulus prepared for verifying, once per key
	// rather than once per token (see rsa.go).
	rsaOp *rsaPublic
	ec    *ecdsa.PublicKey
	ed    ed25519.PublicKey
}

// keySet is an immutable set of keys. Key sets are replaced whole, never
// changed, so a Verify that has loaded one needs no lock.
type keySet struct {
	// gen identifies this set's content: a Verifier's cached tokens are
	// used only while it is unchanged.
	gen uint64
	// fingerprint is a hash of the content, to tell a refresh that
	// changed nothing from one that did.
	fingerprint [sha256.Size]byte
	byKid       map[string][]*publicKey
	anonymous   []*publicKey // keys without a kid
	all         []*publicKey
}

func newKeySet(keys []*publicKey) *keySet {
	s := &keySet{byKid: make(map[string][]*publicKey), all: keys}
	for _, k := range keys {
		if k.kid == "" {
			s.anonymous = append(s.anonymous, k)
		} else {
			s.byKid[k.kid] = append(s.byKid[k.kid], k)
		}
	}
	s.fingerprint = fingerprint(keys)
	return s
}

// fingerprint hashes kid, alg and the public key of every key, in a stable
// order.
func fingerprint(keys []*publicKey) [sha256.Size]byte {
	lines := make([]string, 0, len(keys))
	for _, k := range keys {
		der, err := x509.MarshalPKIXPublicKey(k.raw())
		if err != nil {
			// Every key was checked when converted; keep it distinct anyway.
			der = []byte(fmt.Sprintf("%p", k))
		}
		lines = append(lines, fmt.Sprintf("%q %q %x", k.kid, k.alg, der))
	}
	sort.Strings(lines)
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l))
		h.Write([]byte{'\n'})
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

func (k *publicKey) raw() any {
	switch k.kind {
	case kindRSA:
		return k.rsa
	case kindEC:
		return k.ec
	default:
		return k.ed
	}
}

// unusableError marks a JWK that is sound for what it is but not a key
// authedge verifies with: an encryption key, a key type, curve or algorithm
// it does not implement (an ML-DSA "AKP" key, say). Such a key is skipped,
// in a remote set and a local file alike; it is not an error.
type unusableError struct{ reason string }

func (e *unusableError) Error() string { return e.reason }

func unusable(format string, args ...any) error {
	return &unusableError{reason: fmt.Sprintf(format, args...)}
}

// fromJWK converts a jwk.Key into a publicKey. Private and symmetric keys
// are errors: a verifier must only ever hold public keys.
func fromJWK(key jwk.Key) (*publicKey, error) {
	if use := key.KeyUsage(); use != "" && use != string(jwk.ForSignature) {
		return nil, unusable("use %s is not sig", quoteShort(use))
	}
	if ops := key.KeyOps(); len(ops) > 0 && !containsOp(ops, jwk.KeyOpVerify) {
		return nil, unusable("key_ops lacks verify")
	}
	k := &publicKey{kid: key.KeyID()}
	if alg := key.Algorithm(); alg != nil {
		k.alg = alg.String()
	}
	// Private keys first: the order of a type switch on interfaces matters.
	switch key := key.(type) {
	case jwk.RSAPrivateKey, jwk.ECDSAPrivateKey, jwk.OKPPrivateKey:
		return nil, errors.New("it is a private key; give only public keys")
	case jwk.OKPPublicKey:
		if key.Crv() != jwa.Ed25519 {
			return nil, unusable("unsupported curve %s", quoteShort(key.Crv().String()))
		}
	case jwk.RSAPublicKey, jwk.ECDSAPublicKey:
	case jwk.SymmetricKey:
		return nil, errors.New("it is a symmetric key; HMAC is never accepted")
	default:
		return nil, unusable("unsupported key type %s", quoteShort(key.KeyType().String()))
	}
	var alg *algorithm
	if k.alg != "" {
		var err error
		if alg, err = lookupAlgorithm(k.alg); err != nil {
			// An encryption alg (RSA-OAEP...) also lands here: skip it.
			return nil, unusable("unsupported alg %s", quoteShort(k.alg))
		}
	}
	var raw any
	if err := key.Raw(&raw); err != nil {
		return nil, fmt.Errorf("unusable key: %w", err)
	}
	if err := k.setRaw(raw); err != nil {
		return nil, err
	}
	if alg != nil && !alg.fits(k) {
		return nil, fmt.Errorf("its alg %s does not match the key", k.alg)
	}
	return k, nil
}

func containsOp(ops jwk.KeyOperationList, op jwk.KeyOperation) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

// setRaw fills k from a raw crypto public key, checking it is one we can
// trust to verify: RSA of at least 2048 bits, EC on P-256/384/521 with the
// point on its curve, Ed25519 of the right length and not of small order.
func (k *publicKey) setRaw(raw any) error {
	switch pub := raw.(type) {
	case *rsa.PublicKey:
		op, err := newRSAPublic(pub)
		if err != nil {
			return err
		}
		k.kind, k.rsa, k.rsaOp = kindRSA, pub, op
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return errors.New("EC key on an unsupported curve")
		}
		// ECDH checks the point is on the curve.
		if _, err := pub.ECDH(); err != nil {
			return errors.New("EC key with an invalid point")
		}
		k.kind, k.ec = kindEC, pub
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return errors.New("Ed25519 key of the wrong size")
		}
		if err := checkEd25519Point(pub); err != nil {
			return err
		}
		k.kind, k.ed = kindEd25519, pub
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return errors.New("it is a private key; give only public keys")
	default:
		return fmt.Errorf("unsupported key type %T", raw)
	}
	return nil
}

// checkEd25519Point refuses an Ed25519 key that is not a point, and one of
// small order (the identity, 32 zero bytes, and the other points of order
// 2, 4 or 8). crypto/ed25519 verifies with such a key, and with it the
// signature R = identity, S = 0 holds for every message (the identity) or
// for one in 4 or 8 (the others), so anyone could sign tokens: the
// Ed25519 counterpart of an EC point off its curve.
func checkEd25519Point(pub ed25519.PublicKey) error {
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return errors.New("Ed25519 key with an invalid point")
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return errors.New("Ed25519 key of small order: anyone could sign for it")
	}
	return nil
}

// Key sources, as KeyFileError names them: the names of the configuration
// fields (and Caddyfile directives) that list key files.
const (
	SourcePublicKey = "public_key"
	SourceJWKSFile  = "jwks_file"
)

// KeyFileError is a key file New could not use. Source tells which kind of
// file it was, so that a caller can name its own setting without loading
// each file again to find out.
type KeyFileError struct {
	Source string // SourcePublicKey or SourceJWKSFile
	Path   string
	Err    error
}

func (e *KeyFileError) Error() string {
	kind := "public key"
	if e.Source == SourceJWKSFile {
		kind = "JWKS file"
	}
	return "token: " + kind + " " + e.Path + ": " + e.Err.Error()
}

func (e *KeyFileError) Unwrap() error { return e.Err }

// loadPEMFile reads the public keys of one PEM file: every block must be a
// public key or a certificate.
func loadPEMFile(path string) ([]*publicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &KeyFileError{Source: SourcePublicKey, Path: path, Err: err}
	}
	if err := checkPEMBlocks(data); err != nil {
		return nil, &KeyFileError{Source: SourcePublicKey, Path: path, Err: err}
	}
	set, err := jwk.Parse(data, jwk.WithPEM(true))
	if err != nil {
		return nil, &KeyFileError{Source: SourcePublicKey, Path: path, Err: fmt.Errorf("unusable key: %w", err)}
	}
	var keys []*publicKey
	for i := 0; i < set.Len(); i++ {
		key, _ := set.Key(i)
		k, err := fromJWK(key)
		if err != nil {
			return nil, &KeyFileError{Source: SourcePublicKey, Path: path, Err: fmt.Errorf("key %d: %w", i+1, err)}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// checkPEMBlocks gives a clear reason for the usual mistakes (a private
// key, a DER or JWK file) before jwx's more technical ones.
func checkPEMBlocks(data []byte) error {
	rest := bytes.TrimSpace(data)
	if len(rest) == 0 {
		return errors.New("the file is empty")
	}
	for n := 1; len(rest) > 0; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return errors.New("not a PEM public key")
		}
		switch {
		case strings.Contains(block.Type, "PRIVATE KEY"):
			return fmt.Errorf("key %d: it is a private key; give only public keys", n)
		case block.Type != "PUBLIC KEY" && block.Type != "RSA PUBLIC KEY" && block.Type != "CERTIFICATE":
			return fmt.Errorf("key %d: a %q PEM block is not a public key", n, block.Type)
		}
		rest = bytes.TrimSpace(rest)
	}
	return nil
}

// isBareJWK reports whether data is one JSON object with a kty member: a
// single JWK rather than a set.
func isBareJWK(data []byte) bool {
	var head struct {
		Kty *string `json:"kty"`
	}
	return json.Unmarshal(data, &head) == nil && head.Kty != nil
}

// loadJWKSFile reads a local JWK Set (or a single JWK, as a set of one). It skips the keys a remote set would
// skip for being of a kind authedge does not use (logging each), but the
// file is configuration: a private, symmetric or broken key in it is an
// error, and so is a set with no signature key.
func loadJWKSFile(path string, logger *zap.Logger) ([]*publicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &KeyFileError{Source: SourceJWKSFile, Path: path, Err: err}
	}
	keys, skipped, err := parseJWKSet(data)
	if err == errNotJWKSet && isBareJWK(data) {
		// jwx's jwk.Parse, which read these files before, took a lone key
		// as a set of one; files written for it keep working.
		keys, skipped, err = parseJWKSet(append(append([]byte(`{"keys":[`), data...), ']', '}'))
	}
	if err != nil {
		return nil, &KeyFileError{Source: SourceJWKSFile, Path: path, Err: err}
	}
	for _, s := range skipped {
		if !s.unusable {
			return nil, &KeyFileError{Source: SourceJWKSFile, Path: path, Err: fmt.Errorf("key %d (kid %q): %s", s.index+1, s.kid, s.reason)}
		}
	}
	logSkipped(logger, skipped, nil, zap.String("jwks_file", path))
	if len(keys) == 0 {
		return nil, &KeyFileError{Source: SourceJWKSFile, Path: path, Err: errors.New("no public signature key in it")}
	}
	return keys, nil
}
