package token

import (
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"strings"
	"sync"
	"testing"
)

// The RSA check of rsa.go is held to crypto/rsa's answers here, beyond
// Wycheproof's vectors (TestWycheproof): on keys whose size is not a
// multiple of 8 bits, on e = 3, and on signatures whose encoded message
// is crafted wrong in one place, which random signatures never reach.

// rsaTestKey is a private key, to make signatures and encoded messages
// with, and the publicKey authedge loads from its public half.
type rsaTestKey struct {
	name string
	priv *rsa.PrivateKey
	pub  *publicKey
}

var (
	rsaTestKeysOnce sync.Once
	rsaTestKeysList []*rsaTestKey
)

// rsaTestKeys are the shared 2048-bit test key, and keys made here of
// 2049 and 2050 bits (for PSS, EM is one byte shorter than the modulus
// at 2049 bits and has only one spare bit at 2050) and of e = 3.
func rsaTestKeys(t testing.TB) []*rsaTestKey {
	rsaTestKeysOnce.Do(func() {
		for _, spec := range []struct {
			name         string
			pBits, qBits int
			e            int
		}{
			{"2049 bits", 1024, 1025, 65537},
			{"2050 bits", 1025, 1025, 65537},
			{"e=3", 1024, 1024, 3},
		} {
			priv, err := makeRSAKey(spec.pBits, spec.qBits, spec.e)
			if err != nil {
				panic(err)
			}
			rsaTestKeysList = append(rsaTestKeysList, &rsaTestKey{name: spec.name, priv: priv})
		}
		rsaTestKeysList = append(rsaTestKeysList, &rsaTestKey{name: "2048 bits", priv: keys().rsa})
		for _, k := range rsaTestKeysList {
			k.pub = &publicKey{}
			if err := k.pub.setRaw(&k.priv.PublicKey); err != nil {
				panic(k.name + ": " + err.Error())
			}
		}
	})
	return rsaTestKeysList
}

// makeRSAKey makes a key of primes of the given sizes and exponent e,
// which rsa.GenerateKey cannot (it fixes e = 65537 and equal halves).
func makeRSAKey(pBits, qBits, e int) (*rsa.PrivateKey, error) {
	bigE := big.NewInt(int64(e))
	one := big.NewInt(1)
	prime := func(bits int) (*big.Int, error) {
		for {
			p, err := rand.Prime(rand.Reader, bits)
			if err != nil {
				return nil, err
			}
			if new(big.Int).GCD(nil, nil, bigE, new(big.Int).Sub(p, one)).Cmp(one) == 0 {
				return p, nil
			}
		}
	}
	p, err := prime(pBits)
	if err != nil {
		return nil, err
	}
	q, err := prime(qBits)
	if err != nil {
		return nil, err
	}
	phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
	priv := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: new(big.Int).Mul(p, q), E: e},
		D:         new(big.Int).ModInverse(bigE, phi),
		Primes:    []*big.Int{p, q},
	}
	priv.Precompute()
	return priv, priv.Validate()
}

var rsaAlgorithmNames = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

// signRSA is crypto/rsa's signature of msg under alg.
func signRSA(t testing.TB, alg *algorithm, priv *rsa.PrivateKey, msg []byte) []byte {
	d := alg.hashInput(msg)
	var sig []byte
	var err error
	if alg.pss {
		sig, err = rsa.SignPSS(rand.Reader, priv, alg.hash, d.bytes(), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	} else {
		sig, err = rsa.SignPKCS1v15(nil, priv, alg.hash, d.bytes())
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// openRSA is s^e mod n as a k-byte EM, with math/big: independent of the
// code under test.
func openRSA(priv *rsa.PrivateKey, sig []byte) []byte {
	em := new(big.Int).Exp(new(big.Int).SetBytes(sig), big.NewInt(int64(priv.E)), priv.N)
	return em.FillBytes(make([]byte, priv.Size()))
}

// sealRSA is the signature whose EM is em: em^d mod n, k bytes. em must
// be below n.
func sealRSA(priv *rsa.PrivateKey, em []byte) []byte {
	s := new(big.Int).Exp(new(big.Int).SetBytes(em), priv.D, priv.N)
	return s.FillBytes(make([]byte, priv.Size()))
}

// agreeWithStdlib checks sig through alg.verify, the request path's
// check, and through crypto/rsa, and fails unless they agree; it returns
// the answer.
func agreeWithStdlib(t testing.TB, k *rsaTestKey, alg *algorithm, msg, sig []byte, what string) bool {
	t.Helper()
	d := alg.hashInput(msg)
	got := alg.verify(k.pub, msg, &d, sig)
	want := stdlibRSAVerify(alg, &k.priv.PublicKey, msg, sig)
	if got != want {
		t.Fatalf("%s, %s, %s: authedge says %v, crypto/rsa %v", k.name, alg.name, what, got, want)
	}
	return got
}

func TestRSAAgreesWithStdlib(t *testing.T) {
	msg := []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0")
	for _, k := range rsaTestKeys(t) {
		for _, name := range rsaAlgorithmNames {
			alg, _ := lookupAlgorithm(name)
			sig := signRSA(t, alg, k.priv, msg)
			if !agreeWithStdlib(t, k, alg, msg, sig, "valid") {
				t.Fatalf("%s %s: a valid signature is refused", k.name, name)
			}
			refused := map[string][]byte{
				"other message":      nil,
				"zero prepended":     append([]byte{0}, sig...),
				"zero appended":      append(append([]byte{}, sig...), 0),
				"last byte dropped":  sig[:len(sig)-1],
				"empty":              {},
				"n itself":           k.priv.N.FillBytes(make([]byte, len(sig))),
				"s + n":              new(big.Int).Add(new(big.Int).SetBytes(sig), k.priv.N).Bytes(),
				"all ones":           []byte(strings.Repeat("\xff", len(sig))),
				"first byte flipped": append([]byte{sig[0] ^ 1}, sig[1:]...),
			}
			for what, bad := range refused {
				m := msg
				if what == "other message" {
					bad, m = sig, []byte("other")
				}
				if agreeWithStdlib(t, k, alg, m, bad, what) {
					t.Errorf("%s %s: %s is accepted", k.name, name, what)
				}
			}
		}
	}
}

// TestRSAStrippedLeadingZero: a signature one byte short because its
// integer starts with a zero byte is refused (RFC 8017 8.2.2 step 1), as
// crypto/rsa refuses it. Wycheproof has no such vector.
func TestRSAStrippedLeadingZero(t *testing.T) {
	k := rsaTestKeys(t)[3]
	msg := []byte("m")
	alg, _ := lookupAlgorithm("PS256")
	for i := 0; ; i++ {
		if i == 5000 {
			t.Fatal("no PSS signature with a leading zero byte in 5000")
		}
		sig := signRSA(t, alg, k.priv, msg)
		if sig[0] != 0 {
			continue
		}
		if !agreeWithStdlib(t, k, alg, msg, sig, "valid") {
			t.Fatal("a valid signature is refused")
		}
		if agreeWithStdlib(t, k, alg, msg, sig[1:], "leading zero stripped") {
			t.Fatal("a signature shorter than the modulus is accepted")
		}
		return
	}
}

// TestRSAEncodingFlaws signs encoded messages that are right but for one
// flaw, so that each check of the encoding (not only the arithmetic) is
// what refuses them; every one must also be refused by crypto/rsa.
func TestRSAEncodingFlaws(t *testing.T) {
	msg := []byte("m")
	for _, k := range rsaTestKeys(t) {
		for _, name := range rsaAlgorithmNames {
			alg, _ := lookupAlgorithm(name)
			em := openRSA(k.priv, signRSA(t, alg, k.priv, msg))
			flaws := map[string]func(em []byte){
				"last byte":    func(em []byte) { em[len(em)-1] ^= 1 },
				"second byte":  func(em []byte) { em[1] ^= 1 },
				"middle byte":  func(em []byte) { em[len(em)/2] ^= 0x40 },
				"hash byte":    func(em []byte) { em[len(em)-20] ^= 1 },
				"header byte":  func(em []byte) { em[len(em)-alg.hash.Size()-3] ^= 1 },
				"top bit":      func(em []byte) { em[0] |= 0x80 },
				"lowest spare": func(em []byte) { em[0] |= byte(1 << ((k.priv.N.BitLen() - 1) % 8)) },
			}
			for what, flaw := range flaws {
				bad := append([]byte{}, em...)
				flaw(bad)
				if new(big.Int).SetBytes(bad).Cmp(k.priv.N) >= 0 {
					continue // not an EM any signature opens to
				}
				if agreeWithStdlib(t, k, alg, msg, sealRSA(k.priv, bad), "EM flaw "+what) && !bytesEqual(bad, em) {
					t.Errorf("%s %s: EM with its %s changed is accepted", k.name, name, what)
				}
			}
		}
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// TestRSAKeyChecks: the keys crypto/rsa refuses to verify with are refused
// at load, so that no token meets them; the largest exponent it takes
// loads.
func TestRSAKeyChecks(t *testing.T) {
	n := keys().rsa.N
	short := new(big.Int).Rsh(n, 1024)
	short.SetBit(short, 0, 1)
	// Odd numbers of a size: the checks look at the size, not at primes.
	odd := func(bits uint) *big.Int {
		m := new(big.Int).Lsh(big.NewInt(1), bits-1)
		return m.SetBit(m, 0, 1)
	}
	for name, pub := range map[string]*rsa.PublicKey{
		"1024 bits":    {N: short, E: 65537},
		"8193 bits":    {N: odd(8193), E: 65537},
		"16384 bits":   {N: odd(16384), E: 65537},
		"even modulus": {N: new(big.Int).SetBit(n, 0, 0), E: 65537},
		"no modulus":   {E: 65537},
		"negative":     {N: new(big.Int).Neg(n), E: 65537},
		"e = 1":        {N: n, E: 1},
		"e = 2":        {N: n, E: 2},
		"e even":       {N: n, E: 65536},
		"e = 2^31+1":   {N: n, E: 1<<31 + 1},
		"e negative":   {N: n, E: -3},
	} {
		if err := (&publicKey{}).setRaw(pub); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if err := (&publicKey{}).setRaw(&rsa.PublicKey{N: n, E: 1<<31 - 1}); err != nil {
		t.Errorf("e = 2^31-1: %v", err)
	}
	if err := (&publicKey{}).setRaw(&rsa.PublicKey{N: odd(8192), E: 65537}); err != nil {
		t.Errorf("8192 bits: %v", err)
	}
}

// FuzzRSAAgainstStdlib: the RSA check of the request path and crypto/rsa
// give the same answer for random signatures, for valid signatures with
// bytes changed, and for signatures of encoded messages with bytes
// changed (which reach the encoding checks; random signatures do not).
// mut is read as (position high, position low, xor) triples.
func FuzzRSAAgainstStdlib(f *testing.F) {
	rsaTestKeys(f)
	f.Add(uint8(0), uint8(0), uint8(0), []byte("m"), []byte{})
	f.Add(uint8(1), uint8(3), uint8(1), []byte("m"), []byte{0, 0, 1})
	f.Add(uint8(2), uint8(4), uint8(2), []byte("m"), []byte{0, 0, 0x80})
	f.Add(uint8(3), uint8(5), uint8(2), []byte("m"), []byte{0, 255, 1})
	f.Add(uint8(0), uint8(1), uint8(2), []byte("m"), []byte{0, 1, 0xff})
	f.Add(uint8(3), uint8(0), uint8(1), []byte(""), []byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, keyIdx, algIdx, mode uint8, msg, mut []byte) {
		ks := rsaTestKeys(t)
		k := ks[int(keyIdx)%len(ks)]
		alg, _ := lookupAlgorithm(rsaAlgorithmNames[int(algIdx)%len(rsaAlgorithmNames)])
		var sig []byte
		switch mode % 3 {
		case 0: // the fuzzer's own bytes
			sig = mut
		case 1: // a valid signature, changed
			sig = mutate(signRSA(t, alg, k.priv, msg), mut)
			switch len(mut) % 3 {
			case 1:
				sig = sig[1:]
			case 2:
				sig = append([]byte{0}, sig...)
			}
		case 2: // the signature of a valid EM, changed
			em := mutate(openRSA(k.priv, signRSA(t, alg, k.priv, msg)), mut)
			if new(big.Int).SetBytes(em).Cmp(k.priv.N) >= 0 {
				return
			}
			sig = sealRSA(k.priv, em)
		}
		agreeWithStdlib(t, k, alg, msg, sig, "fuzzed")
	})
}

// mutate xors b (in place) as the (position high, position low, xor)
// triples of mut say, positions taken modulo len(b).
func mutate(b, mut []byte) []byte {
	for i := 0; i+2 < len(mut) && len(b) > 0; i += 3 {
		b[(int(mut[i])<<8|int(mut[i+1]))%len(b)] ^= mut[i+2]
	}
	return b
}

// TestRSAConcurrentUse: one key's prepared modulus serves concurrent
// requests; under -race this shows that verifying never writes to it.
func TestRSAConcurrentUse(t *testing.T) {
	k := rsaTestKeys(t)[3]
	msg := []byte("m")
	var wg sync.WaitGroup
	for _, name := range rsaAlgorithmNames {
		alg, _ := lookupAlgorithm(name)
		sig := signRSA(t, alg, k.priv, msg)
		for range 2 {
			wg.Go(func() {
				for range 10 {
					d := alg.hashInput(msg)
					if !alg.verify(k.pub, msg, &d, sig) {
						t.Errorf("%s: a valid signature is refused", name)
						return
					}
				}
			})
		}
	}
	wg.Wait()
}
