package edge

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/handler"
	"github.com/authedge/caddy-authedge/internal/pemkey"
)

// JWKSPath serves the assertion's public keys.
const JWKSPath = "/auth/v1/identity/jwks"

// signer makes the identity assertion: a compact JWS (ES256 or EdDSA)
// whose header is fixed, so it is encoded once.
type signer struct {
	header   string // canonical request header name
	ec       *ecdsa.PrivateKey
	ed       ed25519.PrivateKey
	prefix   []byte // base64url(JOSE header) + "."
	issuer   string
	audience string
	ttl      time.Duration
	claims   []assertionClaim
	jwks     []byte
}

// assertionClaim is one asked-for claim: its name in the assertion and
// where its value comes from.
type assertionClaim struct {
	name string
	src  source
}

func newSigner(a *config.Assertion, environmentID string) (*signer, error) {
	key, err := loadKeyFile(a.Key, true)
	if err != nil {
		return nil, fmt.Errorf("identity assertion key: %w", err)
	}
	s := &signer{
		header:   http.CanonicalHeaderKey(a.Header),
		issuer:   "authedge:" + environmentID,
		audience: a.Audience,
		ttl:      time.Duration(a.TTL),
	}
	var pub crypto.PublicKey
	alg := jwa.ES256
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		s.ec, pub = k, &k.PublicKey
	case ed25519.PrivateKey:
		s.ed, pub, alg = k, k.Public(), jwa.EdDSA
	}
	public := []crypto.PublicKey{pub}
	for _, path := range a.PreviousKeys {
		k, err := loadKeyFile(path, false)
		if err != nil {
			return nil, fmt.Errorf("identity assertion previous_key: %w", err)
		}
		public = append(public, publicOf(k))
	}
	set := jwk.NewSet()
	var kid string
	for i, p := range public {
		k, err := jwkOf(p)
		if err != nil {
			return nil, fmt.Errorf("identity assertion: %w", err)
		}
		if i == 0 {
			kid = k.KeyID()
		}
		if err := set.AddKey(k); err != nil {
			return nil, fmt.Errorf("identity assertion: %w", err)
		}
	}
	if s.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("identity assertion: %w", err)
	}
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg.String(), kid, "JWT"})
	if err != nil {
		return nil, err
	}
	s.prefix = append(base64.RawURLEncoding.AppendEncode(nil, hdr), '.')
	for _, src := range a.Claims {
		parsed, err := parseSource(src)
		if err != nil {
			return nil, fmt.Errorf("identity assertion claims: %w", err)
		}
		s.claims = append(s.claims, assertionClaim{name: config.AssertionClaimName(src), src: parsed})
	}
	return s, nil
}

// jwkOf is p as a JWK with its RFC 7638 thumbprint as kid.
func jwkOf(p crypto.PublicKey) (jwk.Key, error) {
	k, err := jwk.FromRaw(p)
	if err != nil {
		return nil, err
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	alg := jwa.ES256
	if _, ok := p.(ed25519.PublicKey); ok {
		alg = jwa.EdDSA
	}
	for name, v := range map[string]any{
		jwk.KeyIDKey:     base64.RawURLEncoding.EncodeToString(tp),
		jwk.AlgorithmKey: alg,
		jwk.KeyUsageKey:  jwk.ForSignature,
	} {
		if err := k.Set(name, v); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// sign makes the assertion for id at now: iss, aud, sub, scope, iat, exp
// (iat + ttl, never past the access token's exp), jti, then the claims
// asked for that have a value. A token accepted within the leeway after
// its exp gets iat = exp: the assertion still ends with the token, and a
// JWT issued after it expired would be nonsense to any verifier.
func (s *signer) sign(id *Identity, now time.Time) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	iat := now.Unix()
	exp := now.Add(s.ttl).Unix()
	if tokenExp := id.Claims.Expiry.Unix(); !id.Claims.Expiry.IsZero() && tokenExp < exp {
		exp = tokenExp
		iat = min(iat, exp)
	}
	p := make([]byte, 0, 256)
	p = append(p, `{"iss":`...)
	p = handler.AppendJSONString(p, s.issuer)
	p = append(p, `,"aud":`...)
	p = handler.AppendJSONString(p, s.audience)
	p = append(p, `,"sub":`...)
	p = handler.AppendJSONString(p, id.Claims.Subject)
	p = append(p, `,"scope":`...)
	p = handler.AppendJSONString(p, id.Claims.Scopes)
	p = append(p, `,"iat":`...)
	p = strconv.AppendInt(p, iat, 10)
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, exp, 10)
	p = append(p, `,"jti":"`...)
	p = base64.RawURLEncoding.AppendEncode(p, jti[:])
	p = append(p, '"')
	for i := range s.claims {
		c := &s.claims[i]
		v, ok := id.value(c.src)
		if !ok {
			continue
		}
		p = append(p, ',')
		p = handler.AppendJSONString(p, c.name)
		p = append(p, ':')
		if v.json != nil {
			p = append(p, v.json...)
		} else {
			p = handler.AppendJSONString(p, v.text)
		}
	}
	p = append(p, '}')

	out := make([]byte, 0, len(s.prefix)+base64.RawURLEncoding.EncodedLen(len(p))+1+88)
	out = append(out, s.prefix...)
	out = base64.RawURLEncoding.AppendEncode(out, p)
	var sig []byte
	if s.ed != nil {
		sig = ed25519.Sign(s.ed, out)
	} else {
		digest := sha256.Sum256(out)
		r, ss, err := ecdsa.Sign(rand.Reader, s.ec, digest[:])
		if err != nil {
			return "", err
		}
		var rs [64]byte
		r.FillBytes(rs[:32])
		ss.FillBytes(rs[32:])
		sig = rs[:]
	}
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, sig)
	return string(out), nil
}

// loadKeyFile reads one PEM key: a private EC P-256 or Ed25519 key, or
// (unless privateOnly) the public half of one.
func loadKeyFile(path string, privateOnly bool) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, err := pemkey.Block(data, privateOnly)
	if errors.Is(err, pemkey.ErrPublic) {
		return nil, fmt.Errorf("%s: a public key cannot sign: want a private EC P-256 or Ed25519 key", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PUBLIC KEY": // pemkey.Block gives one only when !privateOnly
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s: PEM block %q is not a key this accepts (PRIVATE KEY, EC PRIVATE KEY%s)",
			path, block.Type, map[bool]string{true: "", false: ", PUBLIC KEY"}[privateOnly])
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return k, nil
		}
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return k, nil
		}
	case ed25519.PrivateKey, ed25519.PublicKey:
		return k, nil
	}
	return nil, fmt.Errorf("%s: %w", path, errKeyKind)
}

var errKeyKind = errors.New("not an EC P-256 (ES256) or Ed25519 (EdDSA) key")

func publicOf(k any) crypto.PublicKey {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return &k.PublicKey
	case ed25519.PrivateKey:
		return k.Public()
	}
	return k
}

// HandlesJWKS reports whether r asks for the assertion's JWKS: only when
// an assertion is configured, else the path is the app's like any other.
func (e *Edge) HandlesJWKS(r *http.Request) bool {
	return e.signer != nil && r.URL.Path == JWKSPath
}

// ServeJWKS answers the assertion's public keys: Key first, then the
// previous keys, so that an app may rotate without a gap.
func (e *Edge) ServeJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		handler.WriteError(w, handler.MethodNotAllowed("GET, HEAD"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(e.signer.jwks)
	}
}

// JWKS is the assertion's public key set as served, nil without an
// assertion.
func (e *Edge) JWKS() []byte {
	if e.signer == nil {
		return nil
	}
	return e.signer.jwks
}
