package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// fuzzFixture is one verifier and a few valid tokens for it, built once:
// fuzz workers call the target many times.
type fuzzFixture struct {
	v      *Verifier
	tokens []string
}

func newFuzzFixture(f *testing.F) *fuzzFixture {
	k := keys()
	c := newClock()
	v := newVerifier(f, baseConfig(f, c))
	fx := &fuzzFixture{v: v}
	cl := validClaims()
	cl["scope"] = "read admin"
	cl["device_id"] = "dev-1"
	fx.tokens = []string{
		mint(f, jwa.RS256, k.rsa, cl, nil),
		mint(f, jwa.PS384, k.rsa, cl, map[string]any{"kid": "x"}),
		mint(f, jwa.ES256, k.ec256, cl, nil),
		mint(f, jwa.ES384, k.ec384, cl, nil),
		mint(f, jwa.EdDSA, k.ed, cl, map[string]any{"typ": "at+jwt"}),
		// RFC 9864's name for EdDSA on Ed25519, which jwx does not sign.
		craft(f, map[string]string{"alg": "Ed25519"}, map[string]any(cl), eddsa(k.ed)),
	}
	for _, raw := range fx.tokens {
		mustVerify(f, v, raw)
	}
	return fx
}

// FuzzVerify: no input panics, every failure is a *Error, and nothing but
// the fixture's own tokens verifies: random bytes cannot forge a signature.
func FuzzVerify(f *testing.F) {
	fx := newFuzzFixture(f)
	for _, raw := range fx.tokens {
		f.Add(raw)
		p := strings.Split(raw, ".")
		f.Add(p[0] + "." + p[1] + ".")
		f.Add(p[0] + "." + p[1] + "." + p[2] + "." + p[2])
		f.Add(p[1] + "." + p[0] + "." + p[2])
	}
	for _, s := range []string{"", ".", "..", "...", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA", "eyJ9.eyJ9.eyJ9"} {
		f.Add(s)
	}
	valid := make(map[string]bool)
	for _, raw := range fx.tokens {
		valid[raw] = true
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := fx.v.Verify(t.Context(), raw, testClient)
		if err == nil {
			if !valid[raw] {
				t.Fatalf("a token that was never signed verified: %q -> %+v", raw, c)
			}
			return
		}
		var te *Error
		if !errors.As(err, &te) || te.Description == "" {
			t.Fatalf("error %T %v is not a *Error", err, err)
		}
	})
}

// FuzzFlippedByte: changing any one byte of a valid token, in any way,
// makes it fail.
func FuzzFlippedByte(f *testing.F) {
	fx := newFuzzFixture(f)
	for i := range fx.tokens {
		for _, pos := range []uint16{0, 10, 40, 100, 200, 300, 500, 700, 65535} {
			f.Add(uint8(i), pos, byte(1))
		}
		f.Add(uint8(i), uint16(len(fx.tokens[i])-1), byte(0x01))
		f.Add(uint8(i), uint16(len(fx.tokens[i])-1), byte(0x03))
	}
	f.Fuzz(func(t *testing.T, which uint8, pos uint16, xor byte) {
		if xor == 0 {
			return
		}
		raw := []byte(fx.tokens[int(which)%len(fx.tokens)])
		raw[int(pos)%len(raw)] ^= xor
		if c, err := fx.v.Verify(t.Context(), string(raw), testClient); err == nil {
			t.Fatalf("a token with byte %d xor %#x verified: %+v", int(pos)%len(raw), xor, c)
		}
	})
}

// FuzzParseClaims reaches the claims reader directly, which FuzzVerify
// cannot past the signature. It must not panic, and what it accepts must
// agree with encoding/json.
func FuzzParseClaims(f *testing.F) {
	s, err := (&Config{Issuer: testIssuer, PublicKeyFiles: []string{"x"}}).resolve()
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"iss":"https://issuer.example","sub":"u","aud":["a","b"],"exp":1.5,"nbf":0,"iat":-1,"scope":"admin","auth_time":3,"device_id":"d"}`))
	f.Add([]byte(`{"iss":"https://issuer.example","sub":"\u0075","aud":"a","exp":1e3,"x":{"y":[1,{"}":"]"}]}}`))
	f.Add([]byte(`{"sub":1}`))
	f.Add([]byte(`{"a":"\"","sub":"x\\"}`))
	f.Add([]byte(` { "iss" : "https://issuer.example" , "sub" : "u" , "aud" : [ ] , "exp" : 2 } `))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{`))
	f.Add([]byte(`{"iss":"https://issuer.example","sub":"u","aud":["a"],"exp":1,"scope":"openid admin"}`))
	f.Add([]byte(`{"iss":"https://issuer.example","sub":"u","aud":"\u0061","exp":1,"scope":"x","sub":"v"}`))
	f.Add([]byte(`{"iss":"https://issuer.example","sub":"u","aud":[1],"exp":1}`))
	f.Add([]byte(`{"iss":"https://issuer.example","sub":"","aud":["a","b"],"exp":1}`))
	f.Add([]byte(`{"iss":"https://issuer.example","sub":"u","aud":"a","exp":1,"\u017fub":"v"}`))
	f.Add([]byte(`{"iss":"https://issuer.example","sub":"u","aud":"a","exp":1,"scope":"x","SCOPE":"admin"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, fail := s.parseClaims(data)
		if fail != nil {
			return
		}
		// A Go app behind reading the token into a struct (golang-jwt's
		// RegisteredClaims) matches names regardless of case: it must
		// read the same user.
		var st struct {
			Iss   string `json:"iss"`
			Sub   string `json:"sub"`
			Scope string `json:"scope"`
		}
		if err := json.Unmarshal(data, &st); err != nil || st.Iss != testIssuer || st.Sub != v.claims.Subject || st.Scope != v.claims.Scopes {
			t.Fatalf("iss/sub/scope %q/%q, encoding/json's struct decoding reads %q/%q/%q (%v)", v.claims.Subject, v.claims.Scopes, st.Iss, st.Sub, st.Scope, err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("accepted what encoding/json refuses: %v", err)
		}
		var sub string
		if err := json.Unmarshal(m["sub"], &sub); err != nil || sub != v.claims.Subject {
			t.Fatalf("sub %q, encoding/json says %q (%v)", v.claims.Subject, sub, err)
		}
		var iss string
		if err := json.Unmarshal(m["iss"], &iss); err != nil || iss != testIssuer {
			t.Fatalf("iss %q accepted", iss)
		}
		if v.claims.Admin != hasScope(v.claims.Scopes, "admin") {
			t.Fatal("Admin disagrees with the scopes")
		}
		var scope string
		if raw, ok := m["scope"]; ok && (json.Unmarshal(raw, &scope) != nil || scope != v.claims.Scopes) {
			t.Fatalf("scope %q, encoding/json says %q", v.claims.Scopes, scope)
		}
		var aud []string
		if json.Unmarshal(m["aud"], &aud) != nil {
			var one string
			if err := json.Unmarshal(m["aud"], &one); err != nil {
				t.Fatalf("aud %s accepted: %v", m["aud"], err)
			}
			aud = []string{one}
		}
		if !slices.Equal(aud, v.audience) {
			t.Fatalf("aud %q, encoding/json says %q", v.audience, aud)
		}
	})
}

// FuzzWalkObject checks the member scanner against encoding/json on any
// JSON object.
func FuzzWalkObject(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":[1,2,{"c":"]}"}],"d":{"e":null},"\u0061":"x\"y","f":true,"g":-1.5e3}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(` {"a" : "b" } `))
	f.Add([]byte(`{"a":"\\","b":"\\\""}`))
	f.Add([]byte(`[{"a":1}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got := map[string]string{}
		err := walkObject(data, func(name, value []byte) error {
			var n string
			if err := json.Unmarshal(name, &n); err != nil {
				t.Fatalf("name %q is not a JSON string", name)
			}
			buf, err := compactJSON(value)
			if err != nil {
				t.Fatalf("value %q is not JSON: %v", value, err)
			}
			got[n] = string(buf)
			return nil
		})
		var want map[string]json.RawMessage
		jsonErr := json.Unmarshal(data, &want)
		if jsonErr != nil || want == nil { // not an object ("null" decodes to a nil map)
			if err == nil {
				t.Fatalf("walkObject accepted %q; encoding/json: %v", data, jsonErr)
			}
			return
		}
		if err != nil {
			t.Fatalf("walkObject refused %q: %v", data, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d members, encoding/json found %d", len(got), len(want))
		}
		for name, raw := range want {
			buf, _ := compactJSON(raw)
			if got[name] != string(buf) {
				t.Fatalf("member %q = %s, encoding/json says %s", name, got[name], buf)
			}
		}
	})
}

func compactJSON(raw []byte) ([]byte, error) {
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// FuzzJSONStringIs: comparing a raw string in place agrees with decoding
// it first, on any JSON value.
func FuzzJSONStringIs(f *testing.F) {
	f.Add([]byte(`"https://issuer.example"`), "https://issuer.example")
	f.Add([]byte(`"https:\/\/issuer.example"`), "https://issuer.example")
	f.Add([]byte(`"\u0061"`), "a")
	f.Add([]byte("\"\xff\""), "\xff")
	f.Add([]byte(`1`), "1")
	f.Fuzz(func(t *testing.T, raw []byte, want string) {
		if !json.Valid(raw) {
			return
		}
		raw = bytes.TrimSpace(raw)
		s, ok := jsonString(raw)
		is, isOK := jsonStringIs(raw, want)
		if isOK != ok || (ok && is != (s == want)) {
			t.Fatalf("jsonStringIs(%q, %q) = %v, %v; jsonString gives %q, %v", raw, want, is, isOK, s, ok)
		}
	})
}

// FuzzJSONStringSurrogates: jsonString refuses exactly the strings whose
// escapes hold an unpaired UTF-16 surrogate, told here by unicode/utf16
// from the string's code units, and otherwise agrees with encoding/json.
func FuzzJSONStringSurrogates(f *testing.F) {
	for _, s := range []string{`"\ud83d\ude00"`, `"\ud800"`, `"\udc00"`, `"\ud800\u0041"`, `"\ud800\\u0041"`, `"\\ud800"`,
		`"\uD800\uDFFF"`, `"\udbff\udbff"`, `"x\ud800\ud800\udc00"`, `"\ufffd"`, `"\u0000\n"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		raw = bytes.TrimSpace(raw)
		if !json.Valid(raw) || raw[0] != '"' || !utf8.Valid(raw) {
			return
		}
		var units []uint16
		for i := 1; i < len(raw)-1; {
			if raw[i] == '\\' && raw[i+1] == 'u' {
				u, _ := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
				units = append(units, uint16(u))
				i += 6
				continue
			}
			r, n := utf8.DecodeRune(raw[i:])
			if r == '\\' {
				n = 2 // any other escape is one character, no surrogate
			}
			units = utf16.AppendRune(units, r)
			i += n
		}
		unpaired := false
		for i := 0; i < len(units); i++ {
			switch {
			case !utf16.IsSurrogate(rune(units[i])):
			case i+1 < len(units) && utf16.DecodeRune(rune(units[i]), rune(units[i+1])) != utf8.RuneError:
				i++
			default:
				unpaired = true
			}
		}
		s, ok := jsonString(raw)
		if ok == unpaired {
			t.Fatalf("jsonString(%s) ok = %v; unpaired surrogate: %v", raw, ok, unpaired)
		}
		var want string
		if ok && (json.Unmarshal(raw, &want) != nil || s != want) {
			t.Fatalf("jsonString(%s) = %q, encoding/json reads %q", raw, s, want)
		}
	})
}
