package revoke

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/store"
)

// es256Twins signs payload with a fresh P-256 key and returns the token
// and its twin: the same content with the signature (r, n-s), which
// verifies as well.
func es256Twins(t testing.TB, payload string) (token, twin string, key *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jws.Sign([]byte(payload), jws.WithKey(jwa.ES256, key))
	if err != nil {
		t.Fatal(err)
	}
	token = string(signed)
	i := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature: %v (%d bytes)", err, len(sig))
	}
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(elliptic.P256().Params().N, s)
	s.FillBytes(sig[32:])
	twin = token[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
	if _, err := jws.Verify([]byte(twin), jws.WithKey(jwa.ES256, &key.PublicKey)); err != nil {
		t.Fatalf("the twin does not verify, so the test proves nothing: %v", err)
	}
	return token, twin, key
}

// An ECDSA signature has a twin that verifies too: revoking a token must
// revoke its twin, whether the twin was checked before the revocation
// (a remembered verdict the log must turn), after it, or never.
func TestRevokedTokensSignatureTwinIsRevoked(t *testing.T) {
	srv := redistest.Start(t)
	c := newChecker(t, &countingSource{Store: newStore(t, srv.Addr)}, Options{})
	other := newStore(t, srv.Addr)
	now := time.Now()
	raw, twinRaw, _ := es256Twins(t, `{"sub":"u1"}`)
	token, twin := tok(raw, "u1", "", now), tok(twinRaw, "u1", "", now)
	if store.TokenDigest(raw) != store.TokenDigest(twinRaw) {
		t.Fatal("twins have different digests")
	}
	if mustRevoked(t, c, twin) {
		t.Fatal("revoked before any revocation")
	}
	waitFresh(t, c)
	if mustRevoked(t, c, twin) || mustRevoked(t, c, token) {
		t.Fatal("revoked before any revocation")
	}
	if _, err := other.RevokeToken(context.Background(), store.TokenDigest(raw), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	refusedWithin(t, c, token, time.Second)
	if !mustRevoked(t, c, twin) {
		t.Error("the revoked token's twin (r, n-s), checked before the revocation, is still accepted")
	}
	fresh := newChecker(t, &countingSource{Store: newStore(t, srv.Addr)}, Options{})
	if !mustRevoked(t, fresh, twin) {
		t.Error("the revoked token's twin, never checked before, is accepted")
	}
}
