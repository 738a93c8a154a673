package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"math/big"
	"strings"
)

// keyKind is the family of public key an algorithm verifies with.
type keyKind int

const (
	kindRSA keyKind = iota + 1
	kindEC
	kindEd25519
)

// algorithm is one accepted JWS algorithm (RFC 7518 section 3, RFC 8037,
// RFC 9864).
type algorithm struct {
	name string
	// alias is another name of the same algorithm on the keys it fits,
	// or "": Ed25519 for EdDSA (docs/configuration.md#jwt).
	alias string
	kind  keyKind
	hash  crypto.Hash    // unused for EdDSA, which hashes internally
	pss   bool           // RSASSA-PSS rather than PKCS #1 v1.5
	curve elliptic.Curve // EC only: the one curve this algorithm is defined on
}

var algorithms = []*algorithm{
	{name: "RS256", kind: kindRSA, hash: crypto.SHA256},
	{name: "RS384", kind: kindRSA, hash: crypto.SHA384},
	{name: "RS512", kind: kindRSA, hash: crypto.SHA512},
	{name: "PS256", kind: kindRSA, hash: crypto.SHA256, pss: true},
	{name: "PS384", kind: kindRSA, hash: crypto.SHA384, pss: true},
	{name: "PS512", kind: kindRSA, hash: crypto.SHA512, pss: true},
	{name: "ES256", kind: kindEC, hash: crypto.SHA256, curve: elliptic.P256()},
	{name: "ES384", kind: kindEC, hash: crypto.SHA384, curve: elliptic.P384()},
	{name: "ES512", kind: kindEC, hash: crypto.SHA512, curve: elliptic.P521()},
	// RFC 9864 registers Ed25519 as the fully specified name of EdDSA
	// with Ed25519 and deprecates the polymorphic EdDSA. authedge has no
	// Ed448, so on its keys the two are one algorithm: a provider moving
	// to the new name must not lock every user out, and a JWK naming
	// either serves tokens naming either.
	{name: "EdDSA", alias: "Ed25519", kind: kindEd25519},
}

// named reports whether name is a's name or its alias.
func (a *algorithm) named(name string) bool {
	return name == a.name || (a.alias != "" && name == a.alias)
}

// lookupAlgorithm resolves a configured algorithm name. none and the HMAC
// algorithms get an error of their own: they are refused on purpose, not
// merely unknown.
func lookupAlgorithm(name string) (*algorithm, error) {
	for _, a := range algorithms {
		if a.named(name) {
			return a, nil
		}
	}
	switch {
	case strings.EqualFold(name, "none"):
		return nil, fmt.Errorf("%q is never accepted: an unsigned token proves nothing", name)
	case strings.HasPrefix(strings.ToUpper(name), "HS"):
		return nil, fmt.Errorf("%q is never accepted: HMAC needs a shared secret, and authedge holds only public keys", name)
	}
	var known []string
	for _, a := range algorithms {
		known = append(known, a.name)
		if a.alias != "" {
			known = append(known, a.alias)
		}
	}
	return nil, fmt.Errorf("unknown algorithm %q (known: %s)", name, strings.Join(known, " "))
}

// CheckAlgorithm says why name cannot be configured as an accepted
// algorithm, or returns nil: the rule New applies, for config's Validate.
func CheckAlgorithm(name string) error {
	_, err := lookupAlgorithm(name)
	return err
}

// CheckAlgorithmFits says why a token signed with name by pub's private
// half would be refused whatever the token says, or returns nil: name is
// one CheckAlgorithm accepts, and pub a key authedge trusts (setRaw) that
// fits it (fits: the family, and for EC the one curve the algorithm is
// defined on). For tools that sign, such as the authedge-token command.
func CheckAlgorithmFits(name string, pub crypto.PublicKey) error {
	a, err := lookupAlgorithm(name)
	if err != nil {
		return err
	}
	var k publicKey
	if err := k.setRaw(pub); err != nil {
		return err
	}
	if !a.fits(&k) {
		var fitting []string
		for _, b := range algorithms {
			if b.fits(&k) {
				fitting = append(fitting, b.name)
			}
		}
		return fmt.Errorf("%s does not fit the key, which signs %s", name, strings.Join(fitting, ", "))
	}
	return nil
}

// fits reports whether k can verify signatures of a: the right family, the
// right curve, and the JWK's own alg (if it names one) a's name or alias.
func (a *algorithm) fits(k *publicKey) bool {
	if k.kind != a.kind || (k.alg != "" && !a.named(k.alg)) {
		return false
	}
	return a.kind != kindEC || k.ec.Curve == a.curve
}

// digest is the hash of a signing input, computed once per token however
// many keys are tried.
type digest struct {
	sum [sha512.Size]byte
	n   int
}

func (d *digest) bytes() []byte { return d.sum[:d.n] }

// hashInput hashes the signing input with a's hash, without allocating.
func (a *algorithm) hashInput(input []byte) digest {
	var d digest
	switch a.hash {
	case crypto.SHA256:
		s := sha256.Sum256(input)
		d.n = copy(d.sum[:], s[:])
	case crypto.SHA384:
		s := sha512.Sum384(input)
		d.n = copy(d.sum[:], s[:])
	case crypto.SHA512:
		s := sha512.Sum512(input)
		d.n = copy(d.sum[:], s[:])
	}
	return d
}

// verify checks sig over input (whose hash is d) with k, which must fit a.
func (a *algorithm) verify(k *publicKey, input []byte, d *digest, sig []byte) bool {
	switch a.kind {
	case kindRSA:
		if a.pss {
			// RFC 7518 3.5: MGF1 with the same hash, the salt as long as it.
			return k.rsaOp.verifyPSS(a.hash, d.bytes(), sig, a.hash.Size())
		}
		return k.rsaOp.verifyPKCS1v15(a.hash, d.bytes(), sig)
	case kindEC:
		// RFC 7518 3.4: R and S as fixed-size big-endian integers, not
		// ASN.1. Any other length is malformed, not merely wrong.
		size := (a.curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k.ec, d.bytes(), r, s)
	case kindEd25519:
		return ed25519.Verify(k.ed, input, sig)
	}
	return false
}
