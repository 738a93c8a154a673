// Command mint writes pre-minted JWT access tokens for the load harness
// (bench/run.sh), so that signing never competes with the server for CPU
// while a scenario runs.
//
// It keeps an RSA and a P-256 key pair in -keys (created on first use,
// reused after, so token files minted earlier stay valid) and writes, next to
// them, the public keys as PEM (for caddy-security and authedge's
// public_key) and as one JWK Set (for authedge's jwks_file). RS256 is what
// the scenarios use; ES256 signs some 50 times faster, which makes minting
// the million tokens of the RSS figure quick.
//
// Every token has a distinct sub (<prefix><zero-padded index>) and the same
// iat/exp, so every line of the output has the same length: the wrk scripts
// seek straight to a token by index instead of reading the file up to it.
//
// Usage:
//
//	go run ./bench/mint -keys bench/out/keys -n 500000 -out bench/out/tokens.txt
//	go run ./bench/mint -keys bench/out/keys -n 1 -foreign -out bench/out/bad.txt
//	go run ./bench/mint -keys bench/out/keys -alg ES256 -n 1000000 -out bench/out/es256.txt
package main

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

const (
	jwksFile  = "jwks.json"
	batchSize = 4096
)

// keyFiles names a key pair's files in the -keys directory.
type keyFiles struct{ private, public, kid string }

var keyFilesByAlg = map[string]keyFiles{
	"RS256": {"rs256.key.pem", "rs256.pub.pem", "bench-rs256"},
	"ES256": {"es256.key.pem", "es256.pub.pem", "bench-es256"},
}

type options struct {
	keysDir  string
	out      string
	alg      string
	n        int
	start    int
	prefix   string
	issuer   string
	audience string
	roles    string
	ttl      time.Duration
	foreign  bool
}

func main() {
	var o options
	flag.StringVar(&o.keysDir, "keys", "bench/out/keys", "directory of the key pairs, their PEM files and the JWKS (created if missing)")
	flag.StringVar(&o.out, "out", "", "file to write the tokens to, one per line (required)")
	flag.StringVar(&o.alg, "alg", "RS256", "RS256 or ES256")
	flag.IntVar(&o.n, "n", 1000, "number of tokens")
	flag.IntVar(&o.start, "start", 0, "index of the first user")
	flag.StringVar(&o.prefix, "prefix", "bench-user-", "sub prefix; the index, zero-padded to 9 digits, follows")
	flag.StringVar(&o.issuer, "iss", "https://bench.authedge.test", "iss claim")
	flag.StringVar(&o.audience, "aud", "bench-env", "aud claim")
	flag.StringVar(&o.roles, "role", "bench/user", "value of the roles claim (caddy-security's ACL matches it)")
	flag.DurationVar(&o.ttl, "ttl", 24*time.Hour, "lifetime of the tokens")
	flag.BoolVar(&o.foreign, "foreign", false, "sign with a fresh throwaway key (tokens that must be rejected)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "mint:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.out == "" || o.n <= 0 || o.start < 0 || o.start+o.n > 1e9 {
		return errors.New("need -out, -n > 0 and start+n below 1e9")
	}
	files, ok := keyFilesByAlg[o.alg]
	if !ok {
		return fmt.Errorf("-alg %q: want RS256 or ES256", o.alg)
	}
	keys, err := loadOrCreateKeys(o.keysDir)
	if err != nil {
		return err
	}
	key := keys[o.alg]
	if o.foreign {
		if key, err = generate(o.alg); err != nil {
			return err
		}
	}
	header := b64(mustJSON(map[string]string{"alg": o.alg, "typ": "JWT", "kid": files.kid}))
	now := time.Now().Unix()
	claims := func(i int) []byte {
		// A struct, not a map, so that the field order and so the length is fixed.
		return mustJSON(struct {
			Iss   string   `json:"iss"`
			Sub   string   `json:"sub"`
			Aud   string   `json:"aud"`
			Iat   int64    `json:"iat"`
			Exp   int64    `json:"exp"`
			Roles []string `json:"roles"`
		}{o.issuer, fmt.Sprintf("%s%09d", o.prefix, o.start+i), o.audience, now, now + int64(o.ttl/time.Second), []string{o.roles}})
	}

	f, err := os.Create(o.out)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	lineLen := -1
	workers := runtime.GOMAXPROCS(0)
	for base := 0; base < o.n; base += batchSize {
		batch := make([]string, min(batchSize, o.n-base))
		var wg sync.WaitGroup
		errs := make([]error, workers)
		for wk := 0; wk < workers; wk++ {
			wg.Add(1)
			go func(wk int) {
				defer wg.Done()
				for j := wk; j < len(batch); j += workers {
					signingInput := header + "." + b64(claims(base+j))
					sig, err := sign(key, signingInput)
					if err != nil {
						errs[wk] = err
						return
					}
					batch[j] = signingInput + "." + b64(sig)
				}
			}(wk)
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		for _, tok := range batch {
			if lineLen < 0 {
				lineLen = len(tok) + 1
			} else if len(tok)+1 != lineLen {
				return fmt.Errorf("token lengths differ (%d, %d): the wrk scripts need fixed-length lines", lineLen-1, len(tok))
			}
			w.WriteString(tok)
			w.WriteByte('\n')
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	meta := map[string]any{"alg": o.alg, "n": o.n, "start": o.start, "line_len": lineLen, "exp": now + int64(o.ttl/time.Second), "foreign": o.foreign}
	if err := os.WriteFile(o.out+".meta.json", append(mustJSON(meta), '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s\n", mustJSON(meta))
	return f.Close()
}

// sign returns the JWS signature of signingInput: PKCS #1 v1.5 for RSA, the
// fixed-size r||s of RFC 7518 for ECDSA.
func sign(key crypto.Signer, signingInput string) ([]byte, error) {
	digest := sha256.Sum256([]byte(signingInput))
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:])
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	}
	return nil, fmt.Errorf("unsupported key %T", key)
}

func generate(alg string) (crypto.Signer, error) {
	if alg == "ES256" {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return rsa.GenerateKey(rand.Reader, 2048)
}

// loadOrCreateKeys returns the harness's key pairs by algorithm, creating
// them and writing their public forms (PEM, one JWKS) the first time.
func loadOrCreateKeys(dir string) (map[string]crypto.Signer, error) {
	keys := map[string]crypto.Signer{}
	for alg, files := range keyFilesByAlg {
		raw, err := os.ReadFile(filepath.Join(dir, files.private))
		if errors.Is(err, fs.ErrNotExist) {
			return createKeys(dir)
		}
		if err != nil {
			return nil, err
		}
		block, _ := pem.Decode(raw)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM block", files.private)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", files.private, err)
		}
		signer, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: not a signing key", files.private)
		}
		keys[alg] = signer
	}
	return keys, nil
}

func createKeys(dir string) (map[string]crypto.Signer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	keys := map[string]crypto.Signer{}
	var jwks []map[string]string
	for _, alg := range []string{"RS256", "ES256"} {
		files := keyFilesByAlg[alg]
		key, err := generate(alg)
		if err != nil {
			return nil, err
		}
		keys[alg] = key
		pub, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, files.public), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
			return nil, err
		}
		jwk := map[string]string{"use": "sig", "alg": alg, "kid": files.kid}
		switch k := key.(type) {
		case *rsa.PrivateKey:
			jwk["kty"], jwk["n"], jwk["e"] = "RSA", b64(k.N.Bytes()), b64(big.NewInt(int64(k.E)).Bytes())
		case *ecdsa.PrivateKey:
			x, y := make([]byte, 32), make([]byte, 32)
			k.X.FillBytes(x)
			k.Y.FillBytes(y)
			jwk["kty"], jwk["crv"], jwk["x"], jwk["y"] = "EC", "P-256", b64(x), b64(y)
		}
		jwks = append(jwks, jwk)
	}
	if err := os.WriteFile(filepath.Join(dir, jwksFile), append(mustJSON(map[string]any{"keys": jwks}), '\n'), 0o644); err != nil {
		return nil, err
	}
	// The private keys are written last: their presence means the set is complete.
	for alg, key := range keys {
		priv, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, keyFilesByAlg[alg].private), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}), 0o600); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
