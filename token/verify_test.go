package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

func TestAcceptsEachAlgorithm(t *testing.T) {
	k := keys()
	c := newClock()
	cfg := baseConfig(t, c)
	cfg.Algorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}
	v := newVerifier(t, cfg)
	for _, tc := range []struct {
		alg jwa.SignatureAlgorithm
		key any
	}{
		{jwa.RS256, k.rsa}, {jwa.RS384, k.rsa}, {jwa.RS512, k.rsa},
		{jwa.PS256, k.rsa}, {jwa.PS384, k.rsa}, {jwa.PS512, k.rsa},
		{jwa.ES256, k.ec256}, {jwa.ES384, k.ec384}, {jwa.EdDSA, k.ed},
	} {
		t.Run(tc.alg.String(), func(t *testing.T) {
			raw := mint(t, tc.alg, tc.key, validClaims(), nil)
			got := mustVerify(t, v, raw)
			if got.Subject != testSub || !got.Expiry.Equal(testStart.Add(time.Hour)) {
				t.Fatalf("claims %+v", got)
			}
			if got.Admin || got.DeviceID != "" || !got.AuthTime.IsZero() {
				t.Fatalf("claims %+v: nothing but sub and exp was set", got)
			}
		})
	}
}

func TestES512(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := newClock()
	cfg := Config{Issuer: testIssuer, PublicKeyFiles: []string{pemFile(t, &key.PublicKey)}, Now: c.Now}
	// Not in the default set: refused until configured.
	mustRefuse(t, newVerifier(t, cfg), mint(t, jwa.ES512, key, validClaims(), nil), "algorithm not accepted")
	cfg.Algorithms = []string{"ES512"}
	mustVerify(t, newVerifier(t, cfg), mint(t, jwa.ES512, key, validClaims(), nil))
}

func TestRefusesUnsignedAndHMAC(t *testing.T) {
	k := keys()
	v := newVerifier(t, baseConfig(t, newClock()))
	payload := encJSON(t, map[string]any(validClaims()))

	// alg none: with no signature the form is wrong, with one the alg is.
	for _, alg := range []string{"none", "None", "NONE"} {
		header := encJSON(t, map[string]string{"alg": alg, "typ": "JWT"})
		mustRefuse(t, v, header+"."+payload+".", "malformed token")
		mustRefuse(t, v, header+"."+payload+".AAAA", "algorithm not accepted")
	}

	// The classic confusion: HS256 keyed with the bytes of the public key
	// the verifier holds.
	der, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	for _, secret := range [][]byte{pemBytes, der} {
		for _, alg := range []string{"HS256", "HS384", "HS512"} {
			raw := craft(t, map[string]string{"alg": alg}, map[string]any(validClaims()), hs256(secret))
			mustRefuse(t, v, raw, "algorithm not accepted")
		}
	}
}

func TestAlgorithmMustBeConfigured(t *testing.T) {
	k := keys()
	cfg := baseConfig(t, newClock())
	cfg.Algorithms = []string{"RS256"}
	v := newVerifier(t, cfg)
	mustVerify(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), nil))
	mustRefuse(t, v, mint(t, jwa.ES256, k.ec256, validClaims(), nil), "algorithm not accepted")
	mustRefuse(t, v, mint(t, jwa.PS256, k.rsa, validClaims(), nil), "algorithm not accepted")
	// Names are case-sensitive (RFC 7515 4.1.1).
	raw := craft(t, map[string]string{"alg": "rs256"}, map[string]any(validClaims()), rs256(k.rsa))
	mustRefuse(t, v, raw, "algorithm not accepted")
}

func TestAlgorithmMustFitKey(t *testing.T) {
	k := keys()
	v := newVerifier(t, Config{Issuer: testIssuer, PublicKeyFiles: []string{pemFile(t, &k.ec256.PublicKey)}, Now: newClock().Now})
	// An RS256 token against an EC key only: no key can check it.
	mustRefuse(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), nil), "no key for this token's algorithm")
	// ES384 needs a P-384 key, even though a P-256 one is there.
	mustRefuse(t, v, mint(t, jwa.ES384, k.ec384, validClaims(), nil), "no key for this token's algorithm")
}

func TestRefusesWrongKeyAndTampering(t *testing.T) {
	k := keys()
	v := newVerifier(t, baseConfig(t, newClock()))
	mustRefuse(t, v, mint(t, jwa.RS256, k.rsa2, validClaims(), nil), "invalid signature")

	good := mint(t, jwa.RS256, k.rsa, validClaims(), nil)
	parts := strings.Split(good, ".")
	evil := validClaims()
	evil["sub"] = "someone-else"
	evil["scope"] = "admin"
	mustRefuse(t, v, parts[0]+"."+encJSON(t, map[string]any(evil))+"."+parts[2], "invalid signature")

	// The same signature under another header.
	mustRefuse(t, v, encJSON(t, map[string]string{"alg": "RS256", "kid": "k1"})+"."+parts[1]+"."+parts[2], "invalid signature")

	// A signature that is r||s of the wrong size, or ASN.1, is refused.
	es := mint(t, jwa.ES256, k.ec256, validClaims(), nil)
	ep := strings.Split(es, ".")
	sig, _ := b64.DecodeString(ep[2])
	mustRefuse(t, v, ep[0]+"."+ep[1]+"."+enc(sig[:63]), "invalid signature")
	mustRefuse(t, v, ep[0]+"."+ep[1]+"."+enc(append(sig, 0)), "invalid signature")
	input := []byte(ep[0] + "." + ep[1])
	sum := sha256Sum(input)
	asn1, err := ecdsa.SignASN1(rand.Reader, k.ec256, sum)
	if err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, v, ep[0]+"."+ep[1]+"."+enc(asn1), "invalid signature")
}

func TestRefusesMalformedTokens(t *testing.T) {
	k := keys()
	v := newVerifier(t, baseConfig(t, newClock()))
	good := mint(t, jwa.RS256, k.rsa, validClaims(), nil)
	p := strings.Split(good, ".")
	sign := rs256(k.rsa)
	claimsJSON := map[string]any(validClaims())

	for name, tc := range map[string]struct{ raw, want string }{
		"empty":               {"", "no token"},
		"one part":            {"abc", "malformed token"},
		"two parts":           {p[0] + "." + p[1], "malformed token"},
		"four parts":          {good + ".AAAA", "malformed token"},
		"five parts (JWE)":    {p[0] + "." + p[1] + "." + p[2] + ".a.b", "malformed token"},
		"only dots":           {"..", "malformed token"},
		"empty payload":       {p[0] + ".." + p[2], "malformed token"},
		"empty signature":     {p[0] + "." + p[1] + ".", "malformed token"},
		"bearer prefix":       {"Bearer " + good, "malformed token"},
		"space":               {good + " ", "malformed token"},
		"newline":             {p[0] + "\n." + p[1] + "." + p[2], "malformed token"},
		"carriage return":     {p[0] + "." + p[1] + "\r." + p[2], "malformed token"},
		"newline at the end":  {good + "\n", "malformed token"},
		"padding":             {p[0] + "=." + p[1] + "." + p[2], "malformed token"},
		"std base64":          {strings.ReplaceAll(good, "_", "/") + "+", "malformed token"},
		"bad base64 length":   {"A." + p[1] + "." + p[2], "malformed token"},
		"non-ascii":           {p[0] + "é." + p[1] + "." + p[2], "malformed token"},
		"nul":                 {p[0] + "\x00." + p[1] + "." + p[2], "malformed token"},
		"too large":           {p[0] + "." + strings.Repeat("A", maxTokenSize) + "." + p[2], "token too large"},
		"header not JSON":     {craft(t, "not json", claimsJSON, sign), "malformed token header"},
		"header array":        {craft(t, `["RS256"]`, claimsJSON, sign), "malformed token header"},
		"header string":       {craft(t, `"RS256"`, claimsJSON, sign), "malformed token header"},
		"header trailing":     {craft(t, `{"alg":"RS256"} x`, claimsJSON, sign), "malformed token header"},
		"header two objects":  {craft(t, `{"alg":"RS256"}{}`, claimsJSON, sign), "malformed token header"},
		"no alg":              {craft(t, map[string]string{"typ": "JWT"}, claimsJSON, sign), "malformed token header"},
		"alg not string":      {craft(t, map[string]any{"alg": 256}, claimsJSON, sign), "malformed token header"},
		"alg null":            {craft(t, `{"alg":null}`, claimsJSON, sign), "malformed token header"},
		"alg twice":           {craft(t, `{"alg":"RS256","alg":"RS256"}`, claimsJSON, sign), "malformed token header"},
		"alg upper-case name": {craft(t, `{"ALG":"RS256"}`, claimsJSON, sign), "malformed token header"},
		"kid not string":      {craft(t, map[string]any{"alg": "RS256", "kid": 1}, claimsJSON, sign), "malformed token header"},
		"crit":                {craft(t, map[string]any{"alg": "RS256", "crit": []string{"exp"}, "exp": 1}, claimsJSON, sign), "unsupported critical header parameter"},
		"crit b64":            {craft(t, map[string]any{"alg": "RS256", "crit": []string{"b64"}, "b64": false}, claimsJSON, sign), "unsupported critical header parameter"},
		"typ dpop":            {craft(t, map[string]any{"alg": "RS256", "typ": "dpop+jwt"}, claimsJSON, sign), "not an access token (typ)"},
		"typ not string":      {craft(t, map[string]any{"alg": "RS256", "typ": 1}, claimsJSON, sign), "malformed token header"},
		"claims not JSON":     {craft(t, map[string]any{"alg": "RS256"}, "{", sign), "malformed token claims"},
		"claims array":        {craft(t, map[string]any{"alg": "RS256"}, `[1]`, sign), "malformed token claims"},
		"claims null":         {craft(t, map[string]any{"alg": "RS256"}, `null`, sign), "malformed token claims"},
	} {
		t.Run(name, func(t *testing.T) { mustRefuse(t, v, tc.raw, tc.want) })
	}
}

func TestNonCanonicalBase64(t *testing.T) {
	k := keys()
	v := newVerifier(t, baseConfig(t, newClock()))
	good := mint(t, jwa.RS256, k.rsa, validClaims(), nil)
	// A 256-byte signature is 342 characters: the last one carries 4 unused
	// bits, which must be zero. Setting one gives a second spelling of the
	// same bytes, which a lax decoder would accept.
	last := good[len(good)-1]
	idx := strings.IndexByte(b64Alphabet, last)
	if idx%16 != 0 {
		t.Fatalf("last character %q carries data bits in its low nibble", last)
	}
	alt := good[:len(good)-1] + string(b64Alphabet[idx+1])
	mustRefuse(t, v, alt, "malformed token")
	mustVerify(t, v, good)
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestAccessTokenTypes(t *testing.T) {
	k := keys()
	v := newVerifier(t, baseConfig(t, newClock()))
	for _, typ := range []string{"JWT", "jwt", "at+jwt", "application/at+JWT", "application/jwt"} {
		mustVerify(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"typ": typ}))
	}
	for _, typ := range []string{"logout+jwt", "JOSE", "", "secevent+jwt"} {
		mustRefuse(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"typ": typ}), "not an access token (typ)")
	}
}

func TestHeaderKeysAreIgnored(t *testing.T) {
	// A token carrying its own key (jwk header) signed by that key must not
	// verify: keys come from the configuration only.
	k := keys()
	v := newVerifier(t, baseConfig(t, newClock()))
	der, _ := x509.MarshalPKIXPublicKey(&k.rsa2.PublicKey)
	hdr := map[string]any{"alg": "RS256", "jku": "https://evil.example/jwks", "x5c": []string{enc(der)}}
	mustRefuse(t, v, craft(t, hdr, map[string]any(validClaims()), rs256(k.rsa2)), "invalid signature")
}

func TestTimeClaims(t *testing.T) {
	k := keys()
	c := newClock()
	v := newVerifier(t, baseConfig(t, c))
	with := func(name string, value any) string {
		cl := validClaims()
		if value == nil {
			delete(cl, name)
		} else {
			cl[name] = value
		}
		return craft(t, map[string]string{"alg": "ES256"}, map[string]any(cl), es256(k.ec256))
	}
	now := testStart.Unix()
	mustRefuse(t, v, with("exp", now-3600), "token expired")
	mustRefuse(t, v, with("exp", now-30), "token expired") // exp must be after now-leeway
	mustVerify(t, v, with("exp", now-29))
	mustVerify(t, v, with("exp", float64(now)+0.5))
	mustRefuse(t, v, with("exp", nil), "missing exp claim")
	mustRefuse(t, v, with("exp", "2099-01-01"), "invalid exp claim")
	mustRefuse(t, v, with("exp", 1e300), "invalid exp claim")
	mustRefuse(t, v, with("exp", true), "invalid exp claim")

	mustRefuse(t, v, with("nbf", now+60), "token not yet valid")
	mustVerify(t, v, with("nbf", now+30))
	mustVerify(t, v, with("nbf", nil))
	mustRefuse(t, v, with("nbf", "now"), "invalid nbf claim")

	mustRefuse(t, v, with("iat", now+31), "token issued in the future")
	mustVerify(t, v, with("iat", now+30))
	mustVerify(t, v, with("iat", nil))
	mustRefuse(t, v, with("iat", []int{1}), "invalid iat claim")

	// Leeway is configurable.
	cfg := baseConfig(t, c)
	cfg.Leeway = 5 * time.Minute
	wide := newVerifier(t, cfg)
	mustVerify(t, wide, with("exp", now-299))
	mustVerify(t, wide, with("nbf", now+299))
	mustRefuse(t, wide, with("nbf", now+301), "token not yet valid")
}

func TestSubjectAndIssuer(t *testing.T) {
	k := keys()
	v := newVerifier(t, baseConfig(t, newClock()))
	with := func(name string, value any) string {
		cl := validClaims()
		if value == nil {
			delete(cl, name)
		} else {
			cl[name] = value
		}
		return craft(t, map[string]string{"alg": "EdDSA"}, map[string]any(cl), func(in []byte) []byte { return ed25519.Sign(k.ed, in) })
	}
	mustRefuse(t, v, with("sub", nil), "missing sub claim")
	mustRefuse(t, v, with("sub", ""), "missing sub claim")
	mustRefuse(t, v, with("sub", 42), "invalid sub claim")
	mustRefuse(t, v, with("sub", []string{"a"}), "invalid sub claim")
	mustRefuse(t, v, with("iss", nil), "wrong issuer")
	mustRefuse(t, v, with("iss", "https://issuer.example/"), "wrong issuer")
	mustRefuse(t, v, with("iss", 1), "invalid iss claim")
	if got := mustVerify(t, v, with("sub", "用户-ü")); got.Subject != "用户-ü" {
		t.Fatalf("sub %q", got.Subject)
	}
	// JSON escapes are decoded: "\u0075ser" is "user".
	raw := craft(t, map[string]string{"alg": "EdDSA"},
		`{"iss":"https://issuer.example","sub":"\u0075ser-2","aud":"env-1","exp":`+itoa(testStart.Unix()+60)+`}`,
		func(in []byte) []byte { return ed25519.Sign(k.ed, in) })
	if got := mustVerify(t, v, raw); got.Subject != "user-2" {
		t.Fatalf("sub %q", got.Subject)
	}
}

func TestClaimsAreReadStrictly(t *testing.T) {
	k := keys()
	v := newVerifier(t, baseConfig(t, newClock()))
	exp := itoa(testStart.Unix() + 60)
	sign := rs256(k.rsa)
	hdr := map[string]string{"alg": "RS256"}
	for name, tc := range map[string]struct{ payload, want string }{
		"sub twice":          {`{"iss":"https://issuer.example","sub":"a","sub":"b","aud":"env-1","exp":` + exp + `}`, "invalid sub claim"},
		"aud twice":          {`{"iss":"https://issuer.example","sub":"a","aud":"x","aud":"env-1","exp":` + exp + `}`, "invalid aud claim"},
		"exp twice":          {`{"iss":"https://issuer.example","sub":"a","aud":"env-1","exp":1,"exp":` + exp + `}`, "invalid exp claim"},
		"escaped name twice": {`{"iss":"https://issuer.example","sub":"a","\u0073ub":"b","aud":"env-1","exp":` + exp + `}`, "invalid sub claim"},
		// encoding/json, with which a Go app behind may read the token
		// (golang-jwt's RegisteredClaims), matches names regardless of
		// case, with Unicode folding, and keeps the last: to it "SUB" or
		// "\u017fub" is a second sub, naming another user.
		"SUB is a second sub":          {`{"iss":"https://issuer.example","sub":"a","SUB":"b","aud":"env-1","exp":` + exp + `}`, "invalid sub claim"},
		"SUB alone is not sub":         {`{"iss":"https://issuer.example","SUB":"a","aud":"env-1","exp":` + exp + `}`, "invalid sub claim"},
		"long s folds to s":            {`{"iss":"https://issuer.example","sub":"a","\u017fub":"b","aud":"env-1","exp":` + exp + `}`, "invalid sub claim"},
		"long s unescaped":             {"{\"iss\":\"https://issuer.example\",\"sub\":\"a\",\"\u017fub\":\"b\",\"aud\":\"env-1\",\"exp\":" + exp + "}", "invalid sub claim"},
		"Scope beside scope":           {`{"iss":"https://issuer.example","sub":"a","aud":"env-1","exp":` + exp + `,"scope":"x","Scope":"admin"}`, "invalid scope claim"},
		"ISS beside iss":               {`{"ISS":"https://other.example","iss":"https://issuer.example","sub":"a","aud":"env-1","exp":` + exp + `}`, "invalid iss claim"},
		"Aud beside aud":               {`{"iss":"https://issuer.example","sub":"a","aud":"env-1","Aud":"env-2","exp":` + exp + `}`, "invalid aud claim"},
		"device claim in another case": {`{"iss":"https://issuer.example","sub":"a","aud":"env-1","exp":` + exp + `,"Device_ID":"d"}`, "invalid device claim"},
		"invalid UTF-8":                {"{\"iss\":\"https://issuer.example\",\"sub\":\"a\xff\",\"aud\":\"env-1\",\"exp\":" + exp + "}", "invalid sub claim"},
		// A lone surrogate decodes to U+FFFD, as invalid UTF-8 would:
		// "\ud800" and "\udbff" would be the same user.
		"lone high surrogate":      {`{"iss":"https://issuer.example","sub":"a\ud800","aud":"env-1","exp":` + exp + `}`, "invalid sub claim"},
		"lone low surrogate":       {`{"iss":"https://issuer.example","sub":"\udc00a","aud":"env-1","exp":` + exp + `}`, "invalid sub claim"},
		"high surrogate, no low":   {`{"iss":"https://issuer.example","sub":"\ud800\u0061","aud":"env-1","exp":` + exp + `}`, "invalid sub claim"},
		"lone surrogate in aud":    {`{"iss":"https://issuer.example","sub":"a","aud":["env-1","\udfff"],"exp":` + exp + `}`, "invalid aud claim"},
		"lone surrogate in device": {`{"iss":"https://issuer.example","sub":"a","aud":"env-1","exp":` + exp + `,"device_id":"\ud800"}`, "invalid device claim"},
	} {
		t.Run(name, func(t *testing.T) { mustRefuse(t, v, craft(t, hdr, tc.payload, sign), tc.want) })
	}
	// A surrogate pair is one character, and an escaped backslash before
	// a "u" no escape.
	pair := `{"iss":"https://issuer.example","sub":"\ud83d\ude00\\ud800","aud":"env-1","exp":` + exp + `}`
	if got := mustVerify(t, v, craft(t, hdr, pair, sign)); got.Subject != "\U0001F600\\ud800" {
		t.Fatalf("sub %q", got.Subject)
	}
	// Unknown claims of any shape are fine.
	cl := validClaims()
	cl["extra"] = map[string]any{"nested": []any{1, "two", nil, map[string]any{"}": "]"}}}
	cl["jti"] = "abc"
	cl["subject"], cl["Issuer"], cl["expires"] = "x", "y", 1
	mustVerify(t, v, craft(t, hdr, map[string]any(cl), sign))
}

func TestAudience(t *testing.T) {
	k := keys()
	c := newClock()
	v := newVerifier(t, baseConfig(t, c))
	with := func(aud any) string {
		cl := validClaims()
		if aud == nil {
			delete(cl, "aud")
		} else {
			cl["aud"] = aud
		}
		return craft(t, map[string]string{"alg": "RS256"}, map[string]any(cl), rs256(k.rsa))
	}
	// Without configured audiences, aud must hold the client_id.
	mustVerify(t, v, with("env-1"))
	mustVerify(t, v, with([]string{"other", "env-1"}))
	mustRefuse(t, v, with("env-2"), "audience not accepted")
	mustRefuse(t, v, with([]string{"other"}), "audience not accepted")
	mustRefuse(t, v, with([]string{}), "audience not accepted")
	mustRefuse(t, v, with(nil), "missing aud claim")
	refuseFor(t, v, with("env-1"), "env-2", "audience not accepted")
	refuseFor(t, v, with(""), "", "audience not accepted")
	if _, err := v.Verify(t.Context(), with([]string{"env-1", "env-2"}), "env-2"); err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, v, with(7), "invalid aud claim")
	mustRefuse(t, v, with([]any{"env-1", 7}), "invalid aud claim")
	mustRefuse(t, v, with(map[string]string{"env-1": "env-1"}), "invalid aud claim")

	// With configured audiences, aud must hold one of them, whatever the
	// client_id.
	cfg := baseConfig(t, c)
	cfg.Audience = []string{"api://edge", "api://other"}
	va := newVerifier(t, cfg)
	mustRefuse(t, va, with("env-1"), "audience not accepted")
	if _, err := va.Verify(t.Context(), with([]string{"x", "api://other"}), "env-9"); err != nil {
		t.Fatal(err)
	}
	if _, err := va.Verify(t.Context(), with("api://edge"), "env-1"); err != nil {
		t.Fatal(err)
	}
}

func TestScopeDeviceAndAuthTime(t *testing.T) {
	k := keys()
	c := newClock()
	v := newVerifier(t, baseConfig(t, c))
	with := func(extra claims) string {
		cl := validClaims()
		for n, x := range extra {
			cl[n] = x
		}
		return mint(t, jwa.ES256, k.ec256, cl, nil)
	}
	for scope, admin := range map[string]bool{
		"admin":            true,
		"read admin write": true,
		"read  admin":      true,
		"administrator":    false,
		"admin:read":       false,
		"superadmin":       false,
		"read\tadmin":      false, // scopes are separated by spaces only (RFC 6749 3.3)
		"":                 false,
		"Admin":            false,
	} {
		got := mustVerify(t, v, with(claims{"scope": scope}))
		if got.Admin != admin || got.Scopes != scope {
			t.Errorf("scope %q: Admin %v, Scopes %q", scope, got.Admin, got.Scopes)
		}
	}
	mustRefuse(t, v, with(claims{"scope": []string{"admin"}}), "invalid scope claim")

	got := mustVerify(t, v, with(claims{"device_id": "dev-1", "auth_time": testStart.Unix() - 60}))
	if got.DeviceID != "dev-1" || !got.AuthTime.Equal(testStart.Add(-time.Minute)) {
		t.Fatalf("claims %+v", got)
	}
	mustRefuse(t, v, with(claims{"device_id": 5}), "invalid device claim")
	mustRefuse(t, v, with(claims{"device_id": ""}), "invalid device claim")
	mustRefuse(t, v, with(claims{"auth_time": "yesterday"}), "invalid auth_time claim")
	mustRefuse(t, v, with(claims{"auth_time": testStart.Unix() + 3600}), "auth_time in the future")

	cfg := baseConfig(t, c)
	cfg.AdminScope = "authedge:admin"
	cfg.DeviceClaim = "did"
	custom := newVerifier(t, cfg)
	got = mustVerify(t, custom, with(claims{"scope": "admin authedge:admin", "device_id": "x", "did": "dev-2"}))
	if !got.Admin || got.DeviceID != "dev-2" {
		t.Fatalf("claims %+v", got)
	}
	got = mustVerify(t, custom, with(claims{"scope": "admin", "device_id": "x"}))
	if got.Admin || got.DeviceID != "" {
		t.Fatalf("claims %+v", got)
	}
}

func TestErrorsAreTyped(t *testing.T) {
	v := newVerifier(t, baseConfig(t, newClock()))
	_, err := v.Verify(t.Context(), "x.y.z", testClient)
	te, ok := err.(*Error)
	if !ok || te.Description == "" || !strings.Contains(te.Error(), te.Description) {
		t.Fatalf("error %T %v", err, err)
	}
	c, err := v.Verify(t.Context(), mint(t, jwa.RS256, keys().rsa, validClaims(), nil), testClient)
	if err != nil || c == nil {
		t.Fatalf("a good token gave %v, %v", c, err)
	}
}

func TestTokensWithoutKidTryEveryKey(t *testing.T) {
	// Two RSA PEM keys: a kid-less token signed by either verifies.
	k := keys()
	c := newClock()
	cfg := Config{Issuer: testIssuer, PublicKeyFiles: []string{pemFile(t, &k.rsa.PublicKey), pemFile(t, &k.rsa2.PublicKey)}, Now: c.Now}
	v := newVerifier(t, cfg)
	mustVerify(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), nil))
	mustVerify(t, v, mint(t, jwa.RS256, k.rsa2, validClaims(), nil))
	// PEM keys have no kid, so they are tried for a token with one too.
	mustVerify(t, v, mint(t, jwa.RS256, k.rsa2, validClaims(), map[string]any{"kid": "whatever"}))
}

func sha256Sum(b []byte) []byte {
	h := crypto.SHA256.New()
	h.Write(b)
	return h.Sum(nil)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestEd25519AlgorithmName: RFC 9864 names EdDSA on Ed25519 "Ed25519". A
// provider that moves to the new name must not lock its users out: either
// name verifies with an Ed25519 key and only with one, either name in the
// configuration allows both, and a JWK naming either serves tokens naming
// either. Names stay case-sensitive.
func TestEd25519AlgorithmName(t *testing.T) {
	k := keys()
	c := newClock()
	token := func(alg string, header map[string]any) string {
		h := map[string]any{"alg": alg, "typ": "JWT"}
		for name, value := range header {
			h[name] = value
		}
		return craft(t, h, map[string]any(validClaims()), eddsa(k.ed))
	}

	// The default list names EdDSA only; it allows Ed25519 too.
	v := newVerifier(t, baseConfig(t, c))
	mustVerify(t, v, token("Ed25519", nil))
	mustVerify(t, v, token("EdDSA", nil))
	for _, alg := range []string{"ed25519", "ED25519", "Ed25519 ", "eddsa", "Ed448"} {
		mustRefuse(t, v, token(alg, nil), "algorithm not accepted")
	}
	// Signed by another key, or by RSA, it does not verify.
	_, other, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, v, craft(t, map[string]string{"alg": "Ed25519"}, map[string]any(validClaims()), eddsa(other)), "invalid signature")
	mustRefuse(t, v, craft(t, map[string]string{"alg": "Ed25519"}, map[string]any(validClaims()), rs256(k.rsa)), "invalid signature")

	for _, names := range [][]string{{"EdDSA"}, {"Ed25519"}, {"RS256", "Ed25519"}} {
		cfg := baseConfig(t, c)
		cfg.Algorithms = names
		v := newVerifier(t, cfg)
		mustVerify(t, v, token("Ed25519", nil))
		mustVerify(t, v, token("EdDSA", nil))
	}
	cfg := baseConfig(t, c)
	cfg.Algorithms = []string{"RS256", "ES256"}
	v = newVerifier(t, cfg)
	mustRefuse(t, v, token("Ed25519", nil), "algorithm not accepted")
	mustRefuse(t, v, token("EdDSA", nil), "algorithm not accepted")
	for _, bad := range []string{"ed25519", "ED25519", "eddsa"} {
		cfg.Algorithms = []string{bad}
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "unknown algorithm") {
			t.Fatalf("algorithms %q: %v, want unknown algorithm", bad, err)
		}
	}

	// Only an Ed25519 key verifies it: RSA and EC keys do not fit.
	v = newVerifier(t, Config{Issuer: testIssuer, PublicKeyFiles: []string{pemFile(t, &k.rsa.PublicKey), pemFile(t, &k.ec256.PublicKey)}, Now: c.Now})
	mustRefuse(t, v, token("Ed25519", nil), "no key for this token's algorithm")
	mustRefuse(t, v, craft(t, map[string]string{"alg": "Ed25519"}, map[string]any(validClaims()), rs256(k.rsa)), "no key for this token's algorithm")
	mustRefuse(t, v, craft(t, map[string]string{"alg": "Ed25519"}, map[string]any(validClaims()), es256(k.ec256)), "no key for this token's algorithm")

	// JWKs: alg Ed25519, alg EdDSA and no alg each serve both names; a
	// JWK that names another algorithm serves neither, and an Ed25519
	// JWK serves no other algorithm.
	set := jwkSet(t,
		jwkEntry{kid: "new", alg: "Ed25519", key: k.ed.Public()},
		jwkEntry{kid: "old", alg: "EdDSA", key: k.ed.Public()},
		jwkEntry{kid: "none", key: k.ed.Public()},
		jwkEntry{kid: "rsa", alg: "RS256", key: &k.rsa.PublicKey},
		jwkEntry{kid: "ec", alg: "ES256", key: &k.ec256.PublicKey},
	)
	if !strings.Contains(string(set), `"alg":"Ed25519"`) {
		t.Fatalf("the set has no Ed25519 alg: %s", set)
	}
	v = newVerifier(t, Config{Issuer: testIssuer, JWKSFile: writeFile(t, "jwks.json", set), Now: c.Now})
	for _, kid := range []string{"new", "old", "none"} {
		for _, alg := range []string{"Ed25519", "EdDSA"} {
			mustVerify(t, v, token(alg, map[string]any{"kid": kid}))
		}
		mustRefuse(t, v, mint(t, jwa.RS256, k.rsa, validClaims(), map[string]any{"kid": kid}), "no key for this token's algorithm")
		mustRefuse(t, v, mint(t, jwa.ES256, k.ec256, validClaims(), map[string]any{"kid": kid}), "no key for this token's algorithm")
	}
	for _, kid := range []string{"rsa", "ec"} {
		mustRefuse(t, v, token("Ed25519", map[string]any{"kid": kid}), "no key for this token's algorithm")
		mustRefuse(t, v, token("EdDSA", map[string]any{"kid": kid}), "no key for this token's algorithm")
	}
	mustRefuse(t, v, token("ed25519", map[string]any{"kid": "new"}), "algorithm not accepted")

	// A JWK whose alg names Ed25519 but that is not an Ed25519 key is
	// refused like any other mismatch: in a file, the config fails...
	for _, e := range []jwkEntry{
		{kid: "x", alg: "Ed25519", key: &k.rsa.PublicKey},
		{kid: "x", alg: "Ed25519", key: &k.ec256.PublicKey},
		{kid: "x", alg: "EdDSA", key: &k.ec256.PublicKey},
	} {
		_, err := New(Config{Issuer: testIssuer, JWKSFile: writeFile(t, "jwks.json", jwkSet(t, e))})
		if err == nil || !strings.Contains(err.Error(), "does not match the key") {
			t.Fatalf("alg %s on %T: %v, want a mismatch", e.alg, e.key, err)
		}
	}
	// ...and an Ed448 key, or a wrongly spelled alg, is skipped as one
	// authedge cannot verify with.
	got, skipped, err := parseJWKSet([]byte(`{"keys":[` +
		`{"kty":"OKP","crv":"Ed448","alg":"Ed25519","kid":"448","x":"` + enc(make([]byte, 57)) + `"},` +
		`{"kty":"OKP","crv":"Ed448","alg":"EdDSA","kid":"448b","x":"` + enc(make([]byte, 57)) + `"},` +
		`{"kty":"OKP","crv":"Ed25519","alg":"ed25519","kid":"lc","x":"` + enc(k.ed.Public().(ed25519.PublicKey)) + `"}]}`))
	if err != nil || len(got) != 0 || len(skipped) != 3 {
		t.Fatalf("parseJWKSet: %d keys, %+v, %v; want all three skipped", len(got), skipped, err)
	}
	for _, s := range skipped {
		if !s.unusable {
			t.Fatalf("%+v: want skipped as unusable", s)
		}
	}
}
