package handler

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"go.uber.org/zap/zapcore"

	"github.com/authedge/caddy-authedge/token"
)

// While the JWKS cannot be fetched, a token naming a kid the last set
// lacked (the issuer rotated in a new key) is answered 503, not 401:
// CloudBase's SDK drops its credentials on a 401, signing out a user
// whose token may be good. (token.TestUnknownKidWhileJWKSDownIsUnavailable
// shows the same token verifying once the set is back.)
func TestUnknownKidWhileJWKSDownIs503(t *testing.T) {
	rotated, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	setOf := func(keys map[string]*rsa.PrivateKey) []byte {
		set := jwk.NewSet()
		for kid, k := range keys {
			pub, err := jwk.FromRaw(&k.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			_ = pub.Set(jwk.KeyIDKey, kid)
			_ = set.AddKey(pub)
		}
		b, err := json.Marshal(set)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var down atomic.Bool
	body := setOf(map[string]*rsa.PrivateKey{"a": rsaKey()})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	remote, err := token.NewRemoteJWKS(t.Context(), srv.URL, srv.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	e := newEnv(t, withRemoteJWKS(remote))

	payload, err := json.Marshal(e.claimsFor("rotated-user"))
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, "b")
	signed, err := jws.Sign(payload, jws.WithKey(jwa.RS256, rotated, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}

	down.Store(true)
	res := e.serve(http.MethodGet, pathMe, "", bearer(string(signed)))
	res.wantError(t, http.StatusServiceUnavailable, "unavailable")
	if res.header.Get("Retry-After") == "" {
		t.Error("a 503 without Retry-After")
	}
	// A token of a known key is not held up by the outage.
	e.serve(http.MethodGet, pathMe, "", bearer(e.token("known-user"))).wantOK(t)

	// Made-up kids need no key at all to be answered 503: the outage is
	// logged where the fetch fails, and these are not a warning each, or
	// anyone could write one per request while the JWKS is down.
	e.logs.TakeAll()
	b64 := base64.RawURLEncoding
	for i := range 10 {
		forged := b64.EncodeToString(fmt.Appendf(nil, `{"alg":"RS256","kid":"made-up-%d"}`, i)) + "." +
			b64.EncodeToString(payload) + "." + b64.EncodeToString([]byte("not a signature"))
		e.serve(http.MethodGet, pathMe, "", bearer(forged)).wantError(t, http.StatusServiceUnavailable, "unavailable")
	}
	for _, l := range e.logs.TakeAll() {
		if l.Level > zapcore.DebugLevel {
			t.Errorf("a made-up kid during the outage logged at %s: %s %v", l.Level, l.Message, l.ContextMap())
		}
	}
}

// POST /auth/v1/revoke with a token whose key cannot be looked up (its kid
// is new and the JWKS is down) is 503, not the 200 {} of a token that does
// not verify: that 200 would tell the client its token was revoked while
// it stays good. Nothing is written; the client can try again.
func TestRevokeWhileJWKSDownIs503(t *testing.T) {
	rotated, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	pub, err := jwk.FromRaw(&rsaKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	_ = pub.Set(jwk.KeyIDKey, "a")
	_ = set.AddKey(pub)
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	remote, err := token.NewRemoteJWKS(t.Context(), srv.URL, srv.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	e := newEnv(t, withRemoteJWKS(remote))
	payload, err := json.Marshal(e.claimsFor("rotated-user"))
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, "b")
	signed, err := jws.Sign(payload, jws.WithKey(jwa.RS256, rotated, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}

	down.Store(true)
	res := e.serve(http.MethodPost, pathRevoke, jsonBody(t, map[string]string{"token": string(signed)}), noHeader("Authorization"))
	res.wantError(t, http.StatusServiceUnavailable, "unavailable")
	if keys := e.revocationKeys(); len(keys) != 0 {
		t.Errorf("a revocation that could not be checked wrote %v", keys)
	}
	// A token of a known key is revoked as ever, and one that does not
	// verify is still 200 {}.
	known := e.token("known-user")
	e.serve(http.MethodPost, pathRevoke, jsonBody(t, map[string]string{"token": known}), noHeader("Authorization")).wantOK(t)
	e.meWith(known).wantRevoked(t)
	e.serve(http.MethodPost, pathRevoke, jsonBody(t, map[string]string{"token": "not.a.token"}), noHeader("Authorization")).wantOK(t)
}
