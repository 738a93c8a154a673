package token

import (
	"errors"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// TestKindOfEveryRefusal sorts every refusal the package can return, so a
// new one is a decision here rather than a silent "other".
func TestKindOfEveryRefusal(t *testing.T) {
	want := map[*Error]Kind{
		errNoToken: KindMalformed, errTooLarge: KindMalformed, errMalformed: KindMalformed,
		errBadHeader: KindMalformed, errBadClaims: KindMalformed,
		errNoExp: KindMalformed, errNoSub: KindMalformed, errNoAud: KindMalformed,
		errExpired:    KindExpired,
		errSignature:  KindBadSignature,
		errUnknownKey: KindUnknownKey, errNoKey: KindUnknownKey,
		errCrit: KindOther, errTyp: KindOther, errAlgorithm: KindOther,
		errIssuer: KindOther, errNotYet: KindOther, errIssued: KindOther,
		errAuthTime: KindOther, errAudience: KindOther,
	}
	for _, e := range errClaim {
		want[e] = KindMalformed
	}
	for e, k := range want {
		if got := KindOf(e); got != k {
			t.Errorf("KindOf(%q) = %d, want %d", e.Description, got, k)
		}
	}
	if got := KindOf(errors.New("not a token error")); got != KindOther {
		t.Errorf("a foreign error: %d, want KindOther", got)
	}
	if got := KindOf(&Error{Description: "invalid signature"}); got != KindOther {
		t.Errorf("an *Error that is not one of ours is sorted by identity, not text: got %d", got)
	}
}

// TestKindOfVerifyErrors checks the sorting on what Verify really returns.
func TestKindOfVerifyErrors(t *testing.T) {
	k := keys()
	c := newClock()
	v := newVerifier(t, baseConfig(t, c))
	jwks := newVerifier(t, Config{
		Issuer:   testIssuer,
		JWKSFile: writeFile(t, "jwks.json", jwkSet(t, jwkEntry{kid: "k1", key: &k.rsa.PublicKey})),
		Now:      c.Now,
	})
	expired := validClaims()
	expired["exp"] = testStart.Add(-time.Hour).Unix()
	wrongIssuer := validClaims()
	wrongIssuer["iss"] = "https://elsewhere.example"
	cases := []struct {
		name string
		v    *Verifier
		raw  string
		want Kind
	}{
		{"expired", v, mint(t, jwa.RS256, k.rsa, expired, nil), KindExpired},
		{"signed by another key", v, mint(t, jwa.RS256, k.rsa2, validClaims(), nil), KindBadSignature},
		{"unknown kid", jwks, mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "nope"}), KindUnknownKey},
		{"not a JWS", v, "abc.def", KindMalformed},
		{"wrong issuer", v, mint(t, jwa.RS256, k.rsa, wrongIssuer, nil), KindOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.Verify(t.Context(), tc.raw, testClient)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := KindOf(err); got != tc.want {
				t.Fatalf("KindOf(%v) = %d, want %d", err, got, tc.want)
			}
		})
	}
}

type countingObserver struct{ hits, misses int }

func (o *countingObserver) CacheLookup(hit bool) {
	if hit {
		o.hits++
	} else {
		o.misses++
	}
}

// TestObserverSeesCacheLookups: the first Verify of a token misses, the
// next ones hit; a refused token is looked up (and missed) too.
func TestObserverSeesCacheLookups(t *testing.T) {
	k := keys()
	obs := &countingObserver{}
	cfg := baseConfig(t, newClock())
	cfg.Observer = obs
	v := newVerifier(t, cfg)
	raw := mint(t, jwa.RS256, k.rsa, validClaims(), nil)
	for range 3 {
		mustVerify(t, v, raw)
	}
	if _, err := v.Verify(t.Context(), mint(t, jwa.RS256, k.rsa2, validClaims(), nil), testClient); err == nil {
		t.Fatal("a token of another key was accepted")
	}
	if obs.hits != 2 || obs.misses != 2 {
		t.Fatalf("hits %d misses %d, want 2 and 2", obs.hits, obs.misses)
	}

	off := baseConfig(t, newClock())
	off.CacheSize = -1
	off.Observer = obs
	mustVerify(t, newVerifier(t, off), raw)
	if obs.hits != 2 || obs.misses != 2 {
		t.Fatalf("a Verifier without a cache reported a lookup: hits %d misses %d", obs.hits, obs.misses)
	}
}
