package token

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// akpKey is an ML-DSA-44 public key (draft-ietf-cose-dilithium's "AKP"
// key type), which jwx v2 cannot parse. Its pub is a stand-in: only its
// absence from the log matters.
const akpKey = `{"kty":"AKP","alg":"ML-DSA-44","kid":"pq-1","pub":"UFFQVUJMSUNLRVlNQVRFUklBTA"}`

// withExtraKeys splices raw JWK members into the keys array of a set.
func withExtraKeys(t *testing.T, set []byte, raw ...string) []byte {
	t.Helper()
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(set, &doc); err != nil {
		t.Fatal(err)
	}
	var extra []json.RawMessage
	for _, r := range raw {
		extra = append(extra, json.RawMessage(r))
	}
	doc.Keys = append(extra, doc.Keys...)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func observedLogger() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// warnings returns the warn entries whose message contains msg.
func warnings(logs *observer.ObservedLogs, msg string) []observer.LoggedEntry {
	var out []observer.LoggedEntry
	for _, e := range logs.All() {
		if e.Level == zapcore.WarnLevel && strings.Contains(e.Message, msg) {
			out = append(out, e)
		}
	}
	return out
}

// The identity provider rotates its signing key and, in the same set,
// starts publishing a key jwx cannot parse. The new key must verify, the
// withdrawn one must not, and the odd key is reported once, however many
// times the set is fetched.
func TestRemoteRotationPastUnparseableKey(t *testing.T) {
	k := keys()
	c := newClock()
	logger, logs := observedLogger()
	srv := newJWKSServer(t, jwkSet(t, jwkEntry{kid: "old", key: &k.rsa.PublicKey}))
	r := newRemote(t, srv.URL, remoteOptions{now: c.Now, logger: logger})
	v := newVerifier(t, Config{Issuer: testIssuer, Remote: r, Now: c.Now})
	tokenOld := mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "old"})
	tokenNew := mint(t, jwa.ES256, k.ec256, validClaims(), map[string]any{"kid": "new"})
	mustVerify(t, v, tokenOld)

	// The old key is withdrawn (compromised, say); the new one comes with
	// a post-quantum key beside it.
	srv.serve(withExtraKeys(t, jwkSet(t, jwkEntry{kid: "new", key: &k.ec256.PublicKey}), akpKey))
	mustVerify(t, v, tokenNew)
	mustRefuse(t, v, tokenOld, "unknown signing key")

	// Two more fetches of a set that still has the AKP key.
	srv.serve(withExtraKeys(t, jwkSet(t,
		jwkEntry{kid: "new", key: &k.ec256.PublicKey},
		jwkEntry{kid: "next", key: &k.rsa2.PublicKey}), akpKey))
	c.Advance(remoteMissInterval)
	mustVerify(t, v, mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "next"}))
	c.Advance(remoteMissInterval)
	mustRefuse(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "nope"}), "unknown signing key")
	if n := srv.hits.Load(); n != 4 {
		t.Fatalf("%d fetches, want 4", n)
	}
	mustVerify(t, v, tokenNew)
	mustRefuse(t, v, tokenOld, "unknown signing key")

	skips := warnings(logs, "JWKS key skipped")
	if len(skips) != 1 {
		t.Fatalf("%d skip warnings over 3 fetches of the AKP key, want 1: %v", len(skips), logs.All())
	}
	fields := skips[0].ContextMap()
	if fields["kid"] != "pq-1" || !strings.Contains(fields["reason"].(string), `unsupported key type "AKP"`) || fields["jwks_url"] != srv.URL {
		t.Fatalf("skip warning fields %v", fields)
	}
	for _, e := range logs.All() {
		if strings.Contains(e.Message+toJSON(t, e.ContextMap()), "UFFQVUJMSUNLRVlNQVRFUklBTA") {
			t.Fatalf("key material in the log: %v", e)
		}
	}
	if w := warnings(logs, "refresh"); len(w) != 0 {
		t.Fatalf("refresh warnings for fetches that worked: %v", w)
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A refresh that fails keeps the keys, and says so every time.
func TestRemoteFailedRefreshIsLogged(t *testing.T) {
	k := keys()
	c := newClock()
	logger, logs := observedLogger()
	srv := newJWKSServer(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}))
	r := newRemote(t, srv.URL, remoteOptions{now: c.Now, logger: logger})
	v := newVerifier(t, Config{Issuer: testIssuer, Remote: r, Now: c.Now})
	tokenA := mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "a"})
	tokenB := mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "b"})

	for i, serve := range []func(){
		func() { srv.setStatus(http.StatusServiceUnavailable) },
		func() { srv.setStatus(http.StatusOK); srv.serve([]byte(`{"kid":"b"}`)) },
		func() { srv.serve([]byte(`<html>`)) },
	} {
		serve()
		c.Advance(remoteMissInterval)
		// Not "unknown signing key": the set that might hold b could
		// not be had (TestUnknownKidWhileJWKSDownIsUnavailable).
		mustRefuse(t, v, tokenB, errKeysUnavailable.Description)
		if n := len(warnings(logs, "refresh for an unknown kid failed")); n != i+1 {
			t.Fatalf("after failed refresh %d: %d warnings: %v", i+1, n, logs.All())
		}
		mustVerify(t, v, tokenA)
	}
	if got := warnings(logs, "refresh")[0].ContextMap()["error"]; !strings.Contains(got.(string), "503") {
		t.Fatalf("the warning says %q, want the status", got)
	}
}

// The periodic refresh, run by httprc, reports its failures too.
func TestRemotePeriodicRefreshFailureIsLogged(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for real refresh ticks")
	}
	k := keys()
	logger, logs := observedLogger()
	srv := newJWKSServer(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}))
	// A password in the URL stays out of the log.
	url := strings.Replace(srv.URL, "http://", "http://user:s3cret@", 1)
	r := newRemote(t, url, remoteOptions{refreshWindow: time.Second, refreshInterval: time.Second, logger: logger})
	srv.serve([]byte(`{"keys":`))
	waitFor(t, func() bool { return len(warnings(logs, "JWKS refresh failed")) > 0 })
	if msg := warnings(logs, "JWKS refresh failed")[0].ContextMap()["error"].(string); strings.Contains(msg, "s3cret") || !strings.Contains(msg, "JWK Set") {
		t.Fatalf("the warning says %q", msg)
	}
	if len(r.current().byKid["a"]) != 1 {
		t.Fatal("a failed refresh dropped the keys")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// A set whose every key is unusable is installed (the provider withdrew
// the old keys) and warned about.
func TestRemoteSetWithNoUsableKey(t *testing.T) {
	k := keys()
	c := newClock()
	logger, logs := observedLogger()
	srv := newJWKSServer(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}))
	r := newRemote(t, srv.URL, remoteOptions{now: c.Now, logger: logger})
	v := newVerifier(t, Config{Issuer: testIssuer, Remote: r, Now: c.Now})
	tokenA := mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "a"})
	mustVerify(t, v, tokenA)
	srv.serve([]byte(`{"keys":[` + akpKey + `]}`))
	mustRefuse(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "pq-1"}), "unknown signing key")
	mustRefuse(t, v, tokenA, "unknown signing key")
	mustRefuse(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), nil), "no key for this token's algorithm")
	if n := len(warnings(logs, "no key authedge can verify with")); n != 1 {
		t.Fatalf("%d warnings for an unusable set, want 1: %v", n, logs.All())
	}
}

// A local JWKS file with a key jwx cannot parse loads, minus that key.
func TestJWKSFileSkipsUnknownKeyTypes(t *testing.T) {
	k := keys()
	logger, logs := observedLogger()
	set := withExtraKeys(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey}), akpKey,
		`{"kty":"OKP","crv":"X25519","kid":"x","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}`)
	path := writeFile(t, "jwks.json", set)
	v := newVerifier(t, Config{Issuer: testIssuer, JWKSFile: path, Now: newClock().Now, Logger: logger})
	mustVerify(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": "a"}))
	skips := warnings(logs, "JWKS key skipped")
	if len(skips) != 2 || skips[0].ContextMap()["jwks_file"] != path || skips[0].ContextMap()["kid"] != "pq-1" || skips[1].ContextMap()["kid"] != "x" {
		t.Fatalf("skip warnings %v", logs.All())
	}
}

func TestParseJWKSet(t *testing.T) {
	k := keys()
	good := string(withExtraKeys(t, jwkSet(t, jwkEntry{kid: "a", key: &k.rsa.PublicKey})))
	goodKey := good[len(`{"keys":[`) : len(good)-2]
	for name, tc := range map[string]struct {
		member   string
		unusable bool
		reason   string
	}{
		"AKP":             {akpKey, true, `unsupported key type "AKP"`},
		"Ed448":           {`{"kty":"OKP","crv":"Ed448","x":"AQ"}`, true, `unsupported curve "Ed448"`},
		"X25519":          {`{"kty":"OKP","crv":"X25519","x":"AQ"}`, true, `unsupported curve "X25519"`},
		"secp256k1":       {`{"kty":"EC","crv":"secp256k1","x":"AQ","y":"AQ"}`, true, `unsupported curve "secp256k1"`},
		"enc":             {`{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}`, true, `use "enc"`},
		"RSA-OAEP":        {`{"kty":"RSA","alg":"RSA-OAEP","n":"AQAB","e":"AQAB"}`, true, `unsupported alg "RSA-OAEP"`},
		"key_ops":         {`{"kty":"RSA","key_ops":["encrypt"],"n":"AQAB","e":"AQAB"}`, true, "key_ops"},
		"long kty":        {`{"kty":"` + strings.Repeat("Z", 500) + `"}`, true, `"` + strings.Repeat("Z", maxLoggedName) + `"...`},
		"long use":        {`{"kty":"RSA","use":"` + strings.Repeat("Z", 500) + `","n":"AQAB","e":"AQAB"}`, true, `use "` + strings.Repeat("Z", maxLoggedName) + `"... is not sig`},
		"no kty":          {`{"n":"AQAB"}`, false, "no kty"},
		"not an object":   {`"RSA"`, false, "not a JSON object"},
		"null":            {`null`, false, "not a JSON object"},
		"malformed RSA":   {`{"kty":"RSA","n":"!!","e":"AQAB"}`, false, "malformed key"},
		"short RSA":       {`{"kty":"RSA","n":"AQAB","e":"AQAB"}`, false, "shorter than 2048"},
		"bad point":       {`{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"}`, false, "invalid point"},
		"symmetric":       {`{"kty":"oct","k":"c2VjcmV0"}`, false, "symmetric"},
		"private EC":      {`{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ","d":"AQ"}`, false, "private key"},
		"alg of key type": {`{"kty":"RSA","alg":"ES256",` + goodKey[len(`{`):], false, "does not match"},
	} {
		t.Run(name, func(t *testing.T) {
			keys, skipped, err := parseJWKSet([]byte(`{"keys":[` + tc.member + `,` + goodKey + `]}`))
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 1 || keys[0].kid != "a" {
				t.Fatalf("the good key beside it was not kept: %v", keys)
			}
			if len(skipped) != 1 || skipped[0].index != 0 || skipped[0].unusable != tc.unusable || !strings.Contains(skipped[0].reason, tc.reason) {
				t.Fatalf("skipped %+v, want unusable=%v with %q", skipped, tc.unusable, tc.reason)
			}
		})
	}
	for _, doc := range []string{``, `[]`, `{}`, `{"keys":null}`, `{"keys":{}}`, `{"keys":[1,}`, goodKey} {
		if _, _, err := parseJWKSet([]byte(doc)); err != errNotJWKSet {
			t.Errorf("parseJWKSet(%.40q): %v, want errNotJWKSet", doc, err)
		}
	}
}

// Many odd keys make a bounded number of lines.
func TestSkipWarningsAreBounded(t *testing.T) {
	logger, logs := observedLogger()
	var members []string
	for i := 0; i < 100; i++ {
		members = append(members, `{"kty":"AKP","kid":"k`+string(rune('A'+i%26))+strings.Repeat("x", i)+`"}`)
	}
	_, skipped, err := parseJWKSet([]byte(`{"keys":[` + strings.Join(members, ",") + `]}`))
	if err != nil || len(skipped) != 100 {
		t.Fatal(err, len(skipped))
	}
	logSkipped(logger, skipped, nil)
	if n := logs.Len(); n != maxSkipLines+1 {
		t.Fatalf("%d lines for 100 skipped keys", n)
	}
	for _, e := range logs.All()[:maxSkipLines] {
		if kid := e.ContextMap()["kid"].(string); len(kid) > maxLoggedName+3 {
			t.Fatalf("a kid of %d bytes logged", len(kid))
		}
	}
}

// FuzzParseJWKSet: no input panics, and every key it keeps is one
// Verify can use.
func FuzzParseJWKSet(f *testing.F) {
	k := keys()
	f.Add(jwkSet(f, jwkEntry{kid: "a", key: &k.rsa.PublicKey}, jwkEntry{kid: "e", key: &k.ec256.PublicKey}))
	f.Add(jwkSet(f, jwkEntry{kid: "d", key: k.ed.Public()}))
	f.Add(jwkSet(f, jwkEntry{kid: "d", alg: "Ed25519", key: k.ed.Public()}, jwkEntry{kid: "r", alg: "Ed25519", key: &k.rsa.PublicKey}))
	f.Add([]byte(`{"keys":[` + akpKey + `,{"kty":"oct","k":"AQ"},null,1]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, skipped, err := parseJWKSet(data)
		if err != nil {
			if keys != nil || skipped != nil {
				t.Fatal("an error with results")
			}
			return
		}
		for _, key := range keys {
			if key.kind == 0 || (key.rsa == nil && key.ec == nil && key.ed == nil) {
				t.Fatalf("kept an empty key %+v", key)
			}
		}
		for _, s := range skipped {
			if s.reason == "" {
				t.Fatal("a key skipped without a reason")
			}
		}
	})
}
