package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// FuzzParseClaimsJWX holds the hand-written claims reader to jwx, the
// library it replaced: whatever parseClaims accepts, jwx must read the
// same issuer, subject, audience and times from. authedge may refuse more
// (a claim given twice, invalid UTF-8, a date past 9999), never less.
// Times may differ by less than a second: jwx drops a NumericDate's
// fraction, authedge keeps it. jwx refuses a negative NumericDate (a
// date before 1970), which authedge reads: such an exp has passed, such
// an nbf or iat restricts nothing, so those bodies are left out.
func FuzzParseClaimsJWX(f *testing.F) {
	s, err := (&Config{Issuer: testIssuer, PublicKeyFiles: []string{"x"}}).resolve()
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		`{"iss":"https://issuer.example","sub":"u","aud":["a","b"],"exp":1.5,"nbf":-0,"iat":-1.5,"scope":"admin"}`,
		`{"iss":"https:\/\/issuer.example","sub":"\u0075\t","aud":"a","exp":1e3,"x":{"exp":[1,{"}":"]"}]}}`,
		`{"iss":"https://issuer.example","sub":"u","aud":[],"exp":253402300799,"nbf":-62135596800}`,
		`{"iss":"https://issuer.example","sub":"u","aud":"a","exp":1E-400,"iat":0.0000000001}`,
		`{"iss":"https://issuer.example","sub":"u","aud":"a","exp":1e400}`,
		`{"iss":"https://issuer.example","sub":"u","aud":"a","exp":"1"}`,
		`{"iss":"https://issuer.example","s\u0075b":"u","aud":"a","exp":1,"sub":"v"}`,
		`{"iss":"https://issuer.example","sub":"\ud800","aud":"\udc00","exp":1}`,
		`{"iss":"https://issuer.example","sub":"\u0000","aud":["\ufffd"],"exp":1}`,
		"\ufeff{\"iss\":\"https://issuer.example\",\"sub\":\"u\",\"aud\":\"a\",\"exp\":1}",
		`{"iss":"https://issuer.example","sub":"u","aud":"a","exp":1} {}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, fail := s.parseClaims(data)
		if fail != nil {
			return
		}
		if negativeDate(data) {
			return
		}
		tok := jwt.New()
		if err := tok.(interface{ UnmarshalJSON([]byte) error }).UnmarshalJSON(data); err != nil {
			t.Fatalf("%q: accepted what jwx refuses: %v", data, err)
		}
		if tok.Issuer() != testIssuer || tok.Subject() != v.claims.Subject {
			t.Fatalf("%q: iss/sub %q, jwx reads %q/%q", data, v.claims.Subject, tok.Issuer(), tok.Subject())
		}
		if aud := tok.Audience(); !slices.Equal(aud, v.audience) && !(len(aud) == 0 && len(v.audience) == 0) {
			t.Fatalf("%q: aud %q, jwx reads %q", data, v.audience, aud)
		}
		for _, d := range []struct {
			name      string
			got, want time.Time
		}{
			{"exp", v.notAfter, tok.Expiration()},
			{"nbf", v.nbf, tok.NotBefore()},
			{"iat", v.iat, tok.IssuedAt()},
		} {
			if diff := d.got.Sub(d.want); d.got.IsZero() != d.want.IsZero() && d.name == "exp" || diff <= -time.Second || diff >= time.Second {
				t.Fatalf("%q: %s %v, jwx reads %v", data, d.name, d.got, d.want)
			}
		}
	})
}

// negativeDate reports whether exp, nbf or iat is a negative number.
func negativeDate(data []byte) bool {
	negative := false
	_ = walkObject(data, func(name, value []byte) error {
		if (nameIs(name, "exp") || nameIs(name, "nbf") || nameIs(name, "iat")) && value[0] == '-' {
			negative = true
		}
		return nil
	})
	return negative
}

// FuzzParseHeaderJWX holds the JOSE header reader to jwx's: whatever
// parseHeader accepts, jwx reads the same alg and kid from. parseHeader
// ignores the parameters it has no use for (jwk, x5c, cty...), which jwx
// parses and may refuse: jwx then reads alg and kid alone.
func FuzzParseHeaderJWX(f *testing.F) {
	for _, seed := range []string{
		`{"alg":"RS256","kid":"k1","typ":"JWT"}`,
		`{"\u0061lg":"ES256","kid":"\u006b"}`,
		`{"alg":"RS256","alg":"none"}`,
		`{"alg":"RS256","ALG":"none","Kid":1}`,
		`{"alg":"RS256","crit":["exp"]}`,
		`{"alg":"RS256","typ":"dpop+jwt"}`,
		`{"alg":"RS256","kid":"\ud800"}`,
		`{"alg":"HS256","jwk":{"kty":"oct","k":"AA"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, fail := parseHeader(data)
		if fail != nil {
			return
		}
		ref := jws.NewHeaders()
		if err := json.Unmarshal(data, ref); err != nil {
			var all map[string]json.RawMessage
			if json.Unmarshal(data, &all) != nil {
				t.Fatalf("%q: accepted what encoding/json refuses", data)
			}
			maps.DeleteFunc(all, func(name string, _ json.RawMessage) bool { return name != "alg" && name != "kid" })
			data, _ = json.Marshal(all)
			ref = jws.NewHeaders()
			if err := json.Unmarshal(data, ref); err != nil {
				t.Fatalf("%q: accepted what jwx refuses: %v", data, err)
			}
		}
		if string(ref.Algorithm()) != h.alg || ref.KeyID() != h.kid {
			t.Fatalf("%q: alg/kid %q/%q, jwx reads %q/%q", data, h.alg, h.kid, ref.Algorithm(), ref.KeyID())
		}
	})
}

// FuzzSplitCompact holds the compact splitter, which decodes into pooled
// buffers, to strings.Split and encoding/base64: what it accepts has
// three non-empty parts, each the one spelling of what it decoded to, and
// the parts it returns are exactly those, whatever an earlier token left
// in the pool.
func FuzzSplitCompact(f *testing.F) {
	for _, seed := range []string{"eyJhbGciOiJSUzI1NiJ9.e30.AAAA", "a.b.c", "YQ.YR.YQ", "YQ==.e30.AAAA", "e30.e30.e30.e30", "e30\n.e30.AAAA", "..", "e30.e30."} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, fail := splitCompact(raw)
		if fail != nil {
			return
		}
		defer tok.release()
		parts := strings.Split(raw, ".")
		if len(parts) != 3 || string(tok.signingInput) != parts[0]+"."+parts[1] {
			t.Fatalf("%q accepted, signing input %q", raw, tok.signingInput)
		}
		for i, got := range [][]byte{tok.header, tok.payload, tok.signature} {
			want, err := base64.RawURLEncoding.DecodeString(parts[i])
			if err != nil || len(want) == 0 || !bytes.Equal(got, want) || base64.RawURLEncoding.EncodeToString(got) != parts[i] {
				t.Fatalf("%q part %d: %q, encoding/base64 reads %q (%v)", raw, i, got, want, err)
			}
		}
	})
}
