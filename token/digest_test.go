package token

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// Claims.ContentDigest names the token for revocation: the SHA-256 of
// header.payload, whichever algorithm signed it (the signature's own hash
// or not), from a fresh verification and from the cache alike. A wrong
// one would let a revoked token through.
func TestContentDigest(t *testing.T) {
	k := keys()
	c := newClock()
	cfg := baseConfig(t, c)
	cfg.Algorithms = []string{"RS256", "RS384", "PS256", "PS512", "ES256", "ES384", "EdDSA"}
	v := newVerifier(t, cfg)
	for _, tc := range []struct {
		alg jwa.SignatureAlgorithm
		key any
	}{
		{jwa.RS256, k.rsa}, {jwa.RS384, k.rsa}, {jwa.PS256, k.rsa}, {jwa.PS512, k.rsa},
		{jwa.ES256, k.ec256}, {jwa.ES384, k.ec384}, {jwa.EdDSA, k.ed},
	} {
		t.Run(tc.alg.String(), func(t *testing.T) {
			raw := mint(t, tc.alg, tc.key, validClaims(), nil)
			want := sha256.Sum256([]byte(raw[:strings.LastIndexByte(raw, '.')]))
			for _, when := range []string{"verified", "cached"} {
				if got := mustVerify(t, v, raw).ContentDigest; got != want {
					t.Errorf("%s: ContentDigest %x, want the SHA-256 of header.payload %x", when, got, want)
				}
			}
		})
	}
}
