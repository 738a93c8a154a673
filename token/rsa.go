package token

import (
	"crypto"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"

	"filippo.io/bigmod"
)

// RSA signature checks (RFC 8017 8.2.2 and 9.1.2) on a modulus prepared
// once, when its key is loaded.
//
// crypto/rsa.VerifyPKCS1v15 and VerifyPSS take a *rsa.PublicKey and build
// the Montgomery form of its modulus on every call (R² mod n): about a
// third of a 2048-bit verification, paid again for each token signed by
// the same key. filippo.io/bigmod is the standard library's own bigmod
// (crypto/internal/fips140/bigmod, the arithmetic crypto/rsa runs on)
// published as a module, so keeping its *Modulus per key leaves the
// arithmetic exactly what crypto/rsa does. The encoding checks below
// follow crypto/internal/fips140/rsa step for step, and make every check
// it makes: the key's in rsaPublicKey, the signature's in publicOp, the
// encodings' in verifyPKCS1v15 and verifyPSS. TestWycheproof runs
// Wycheproof's RSA vectors through them and FuzzRSAAgainstStdlib holds
// them to crypto/rsa's answers.

// rsaPublic is an RSA public key ready to verify with.
type rsaPublic struct {
	n     *bigmod.Modulus
	e     uint
	size  int // k of RFC 8017: the modulus's length in bytes
	nBits int
}

// maxRSAExponent is crypto/rsa's bound on e: it refuses larger ones, so
// that int being 32 or 64 bits wide changes nothing.
const maxRSAExponent = 1<<31 - 1

// newRSAPublic checks pub as crypto/rsa checks a key before verifying with
// it, and our own bounds on its size, then prepares its modulus.
func newRSAPublic(pub *rsa.PublicKey) (*rsaPublic, error) {
	if pub.N == nil || pub.N.Sign() <= 0 || pub.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("RSA key shorter than %d bits", minRSABits)
	}
	if pub.N.BitLen() > maxRSABits {
		return nil, fmt.Errorf("RSA key longer than %d bits", maxRSABits)
	}
	if pub.N.Bit(0) == 0 {
		return nil, errors.New("RSA key with an even modulus")
	}
	if pub.E < 3 || pub.E%2 == 0 || pub.E > maxRSAExponent {
		return nil, errors.New("RSA key with an invalid exponent")
	}
	n, err := bigmod.NewModulus(pub.N.Bytes())
	if err != nil {
		return nil, fmt.Errorf("RSA key: %w", err)
	}
	return &rsaPublic{n: n, e: uint(pub.E), size: n.Size(), nBits: n.BitLen()}, nil
}

// publicOp computes sig^e mod n, as k bytes. RFC 8017 8.2.2 step 1 and
// 5.2.2 step 1: a signature that is not exactly k bytes long, or whose
// integer is not below n, is invalid.
func (k *rsaPublic) publicOp(sig []byte) ([]byte, bool) {
	if len(sig) != k.size {
		return nil, false
	}
	s, err := bigmod.NewNat().SetBytes(sig, k.n)
	if err != nil {
		return nil, false
	}
	return bigmod.NewNat().ExpShortVarTime(s, k.e, k.n).Bytes(k.n), true
}

// digestInfoPrefixes are the DER DigestInfo headers that precede the hash
// in EMSA-PKCS1-v1_5 (RFC 8017 9.2, note 1), for the hashes of the RS
// algorithms.
var digestInfoPrefixes = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// verifyPKCS1v15 is RSASSA-PKCS1-v1_5-VERIFY (RFC 8017 8.2.2): the whole
// encoded message EM = 0x00 01 FF..FF 00 DigestInfo is built from the
// hash and compared with s^e mod n, never parsed, so no lenient parser
// can be fooled (Bleichenbacher's e=3 forgeries).
func (k *rsaPublic) verifyPKCS1v15(h crypto.Hash, hashed, sig []byte) bool {
	prefix, ok := digestInfoPrefixes[h]
	if !ok || len(hashed) != h.Size() {
		return false
	}
	tLen := len(prefix) + len(hashed)
	if k.size < tLen+11 {
		return false // RFC 8017 9.2 step 3: "intended encoded message length too short"
	}
	em, ok := k.publicOp(sig)
	if !ok {
		return false
	}
	var buf [512]byte // a 4096-bit key's EM fits: no allocation for it
	var expected []byte
	if k.size <= len(buf) {
		expected = buf[:k.size]
	} else {
		expected = make([]byte, k.size)
	}
	expected[0], expected[1] = 0x00, 0x01
	for i := 2; i < k.size-tLen-1; i++ {
		expected[i] = 0xff
	}
	expected[k.size-tLen-1] = 0x00
	copy(expected[k.size-tLen:], prefix)
	copy(expected[k.size-len(hashed):], hashed)
	return subtle.ConstantTimeCompare(em, expected) == 1
}

// verifyPSS is RSASSA-PSS-VERIFY (RFC 8017 8.1.2) with MGF1 over h and a
// salt of exactly sLen bytes: JWS's PS algorithms fix both (RFC 7518 3.5).
func (k *rsaPublic) verifyPSS(h crypto.Hash, mHash, sig []byte, sLen int) bool {
	em, ok := k.publicOp(sig)
	if !ok {
		return false
	}
	// 8.1.2 step 2c: EM is emLen = ⌈(modBits-1)/8⌉ bytes, one fewer than k
	// when modBits is 1 mod 8; the byte dropped must then be zero.
	emBits := k.nBits - 1
	emLen := (emBits + 7) / 8
	for len(em) > emLen {
		if em[0] != 0 {
			return false
		}
		em = em[1:]
	}
	return emsaPSSVerify(mHash, em, emBits, sLen, h.New())
}

// emsaPSSVerify is EMSA-PSS-VERIFY (RFC 8017 9.1.2), step numbers as
// there. It overwrites em.
func emsaPSSVerify(mHash, em []byte, emBits, sLen int, hf hash.Hash) bool {
	hLen := hf.Size()
	emLen := (emBits + 7) / 8
	// Step 2: mHash is the hash of the message.
	if len(mHash) != hLen || len(em) != emLen || sLen < 0 {
		return false
	}
	// Step 3.
	if emLen < hLen+sLen+2 {
		return false
	}
	// Step 4.
	if em[emLen-1] != 0xbc {
		return false
	}
	// Step 5.
	db := em[:emLen-hLen-1]
	hashH := em[emLen-hLen-1 : emLen-1]
	// Step 6: the bits above emBits must be zero.
	bitMask := byte(0xff >> (8*emLen - emBits))
	if em[0]&^bitMask != 0 {
		return false
	}
	// Steps 7 and 8: DB = maskedDB xor MGF1(H).
	mgf1XOR(db, hf, hashH)
	// Step 9.
	db[0] &= bitMask
	// Step 10: PS is zeros, then 0x01, then the salt.
	psLen := emLen - hLen - sLen - 2
	for _, b := range db[:psLen] {
		if b != 0x00 {
			return false
		}
	}
	if db[psLen] != 0x01 {
		return false
	}
	// Steps 11 to 13: H' = Hash(0x00 x 8 || mHash || salt).
	salt := db[len(db)-sLen:]
	var zeros [8]byte
	var sum [64]byte
	hf.Reset()
	hf.Write(zeros[:])
	hf.Write(mHash)
	hf.Write(salt)
	// Step 14.
	return subtle.ConstantTimeCompare(hf.Sum(sum[:0]), hashH) == 1
}

// mgf1XOR xors out with MGF1 (RFC 8017 B.2.1) of seed over hf.
func mgf1XOR(out []byte, hf hash.Hash, seed []byte) {
	var counter [4]byte
	var buf [64]byte
	for done := 0; done < len(out); {
		hf.Reset()
		hf.Write(seed)
		hf.Write(counter[:])
		digest := hf.Sum(buf[:0])
		for i := 0; i < len(digest) && done < len(out); i++ {
			out[done] ^= digest[i]
			done++
		}
		for i := len(counter) - 1; i >= 0; i-- {
			if counter[i]++; counter[i] != 0 {
				break
			}
		}
	}
}
