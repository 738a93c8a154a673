package token

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// The bar (perf issues): RS256 through Verify, cache off, costs at most
// 1.0× BenchmarkBareRSAVerify, a bare crypto/rsa check of the same token:
// the key's modulus is prepared once, at load (rsa.go), where crypto/rsa
// prepares it per call. BenchmarkJWXParseRS256 is jwx's own path, for
// reference.

func benchToken(b *testing.B, alg jwa.SignatureAlgorithm, key any) string {
	cl := validClaims()
	cl["scope"] = "openid profile admin"
	cl["device_id"] = "device-123"
	cl["auth_time"] = testStart.Unix() - 60
	cl["jti"] = "8f14e45f-ceea-467f-a9f5-8f2e6e0f7a1b"
	return mint(b, alg, key, cl, map[string]any{"typ": "at+jwt"})
}

func benchVerifier(b *testing.B, cacheSize int) *Verifier {
	cfg := baseConfig(b, newClock())
	cfg.CacheSize = cacheSize
	return newVerifier(b, cfg)
}

func runVerify(b *testing.B, v *Verifier, raw string) {
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, raw, testClient); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRS256(b *testing.B) {
	runVerify(b, benchVerifier(b, -1), benchToken(b, jwa.RS256, keys().rsa))
}

func BenchmarkVerifyES256(b *testing.B) {
	runVerify(b, benchVerifier(b, -1), benchToken(b, jwa.ES256, keys().ec256))
}

func BenchmarkVerifyEdDSA(b *testing.B) {
	runVerify(b, benchVerifier(b, -1), benchToken(b, jwa.EdDSA, keys().ed))
}

func BenchmarkVerifyRS256Cached(b *testing.B) {
	runVerify(b, benchVerifier(b, 0), benchToken(b, jwa.RS256, keys().rsa))
}

func BenchmarkBareRSAVerify(b *testing.B) {
	raw := benchToken(b, jwa.RS256, keys().rsa)
	dot := strings.LastIndexByte(raw, '.')
	input := []byte(raw[:dot])
	sig, err := b64.DecodeString(raw[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	pub := &keys().rsa.PublicKey
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256(input)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJWXParseRS256(b *testing.B) {
	raw := []byte(benchToken(b, jwa.RS256, keys().rsa))
	pub := &keys().rsa.PublicKey
	clk := jwt.ClockFunc(newClock().Now)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jwt.Parse(raw, jwt.WithKey(jwa.RS256, pub), jwt.WithClock(clk), jwt.WithIssuer(testIssuer), jwt.WithAudience(testClient)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRS256OverBare measures the bar with the two checks interleaved,
// one of each per iteration, so that load on a shared machine weighs on
// both alike, and reports the ratio of their medians as x/bare: medians
// shrug off the iterations a busy machine preempts. lean (Verify, cache
// off) must be ≤ 1.0; sig is the signature check alone (hash and RSA, as
// Verify does it); jwx (jwt.Parse) is for reference.
func BenchmarkRS256OverBare(b *testing.B) {
	v := benchVerifier(b, -1)
	raw := benchToken(b, jwa.RS256, keys().rsa)
	dot := strings.LastIndexByte(raw, '.')
	input := []byte(raw[:dot])
	sig, err := b64.DecodeString(raw[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	pub := &keys().rsa.PublicKey
	clk := jwt.ClockFunc(newClock().Now)
	key := &publicKey{}
	if err := key.setRaw(pub); err != nil {
		b.Fatal(err)
	}
	rs256, _ := lookupAlgorithm("RS256")
	for _, tc := range []struct {
		name  string
		check func() error
	}{
		{"lean", func() error { _, err := v.Verify(b.Context(), raw, testClient); return err }},
		{"sig", func() error {
			d := rs256.hashInput(input)
			if !rs256.verify(key, input, &d, sig) {
				return errSignature
			}
			return nil
		}},
		{"jwx", func() error {
			_, err := jwt.Parse([]byte(raw), jwt.WithKey(jwa.RS256, pub), jwt.WithClock(clk), jwt.WithIssuer(testIssuer), jwt.WithAudience(testClient))
			return err
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var checked, bare []time.Duration
			for b.Loop() {
				start := time.Now()
				sum := sha256.Sum256(input)
				if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
					b.Fatal(err)
				}
				mid := time.Now()
				if err := tc.check(); err != nil {
					b.Fatal(err)
				}
				bare = append(bare, mid.Sub(start))
				checked = append(checked, time.Since(mid))
			}
			b.ReportMetric(float64(median(checked))/float64(median(bare)), "x/bare")
			b.ReportMetric(float64(median(checked).Nanoseconds()), "x-ns")
			b.ReportMetric(float64(median(bare).Nanoseconds()), "bare-ns")
		})
	}
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// BenchmarkJSONStringEscaped reads a claim string with escapes, a
// surrogate pair among them: the path that checks for lone surrogates.
func BenchmarkJSONStringEscaped(b *testing.B) {
	raw := []byte(`"user-\u00e9-\ud83d\ude00-\u4e2d\u6587-name"`)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := jsonString(raw); !ok {
			b.Fatal("refused")
		}
	}
}

// BenchmarkSplitCompact is the first read of every new token: its form
// checked, its parts decoded.
func BenchmarkSplitCompact(b *testing.B) {
	raw := benchToken(b, jwa.RS256, keys().rsa)
	b.ReportAllocs()
	for b.Loop() {
		tok, err := splitCompact(raw)
		if err != nil {
			b.Fatal(err)
		}
		tok.release()
	}
}
