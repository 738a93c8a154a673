package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/net/http/httpguts"
)

// The identity defaults and bounds (docs/identity.md).
const (
	DefaultAssertionHeader = "X-Authedge-Assertion"
	DefaultAssertionTTL    = 60 * time.Second
	// MaxAssertionTTL bounds how long a leaked assertion stays usable: it
	// is a bearer credential for the app.
	MaxAssertionTTL = 5 * time.Minute

	// ProfileSourcePrefix starts a header or claim source read from the
	// caller's stored profile rather than from the token.
	ProfileSourcePrefix = "profile."
)

// ProfileFields are the profile fields a source may name after "profile.".
var ProfileFields = []string{"nickname", "username", "phone", "email", "avatar_url", "gender", "description"}

// Identity makes authedge the identity edge of the app it fronts: which
// paths need a token, which headers carry the caller's identity to the app
// and the signed assertion. Nil (no identity block): requests to the app
// pass untouched.
type Identity struct {
	// Protect lists path patterns (Caddy path matcher syntax: /exact,
	// /prefix/*, *.ext; case-insensitive, matched on the cleaned path)
	// that need a valid access token. Others pass without one, as
	// anonymous requests.
	Protect []string `json:"protect,omitempty"`

	// ProtectScope lists path patterns that need a valid access token
	// whose scope claim holds a given scope.
	ProtectScope []ProtectScope `json:"protect_scope,omitempty"`

	// Headers are the request headers set from a valid token for the app.
	// Every one of them is removed from every request first, whatever the
	// client sent.
	Headers []IdentityHeader `json:"headers,omitempty"`

	// StripAuthorization removes the client's Authorization header before
	// the request reaches the app, whether or not the token was valid.
	StripAuthorization bool `json:"strip_authorization,omitempty"`

	// Assertion, if set, adds a signed JWT naming the caller to every
	// request with a valid token.
	Assertion *Assertion `json:"assertion,omitempty"`
}

// ProtectScope is one protect_scope directive: Paths need Scope.
type ProtectScope struct {
	// Scope must be one of the space-separated values of the token's
	// scope claim.
	Scope string `json:"scope,omitempty"`

	// Paths are path patterns, as in Identity.Protect.
	Paths []string `json:"paths,omitempty"`
}

// IdentityHeader is one header directive.
type IdentityHeader struct {
	// Name is the request header's name (any case; matched
	// case-insensitively).
	Name string `json:"name,omitempty"`

	// Source is a top-level claim of the access token (sub, scope, or any
	// string, number or boolean claim), or profile.<field> with field one
	// of nickname username phone email avatar_url gender description.
	Source string `json:"source,omitempty"`
}

// Assertion configures the signed identity assertion.
type Assertion struct {
	// Key is the path of a PEM file holding a private EC P-256 (ES256) or
	// Ed25519 (EdDSA) key, which signs the assertions. Required.
	Key string `json:"key,omitempty"`

	// PreviousKeys are paths of PEM files holding retired public or
	// private keys of the same kinds: published in the JWKS after Key so
	// that apps keep accepting assertions while they rotate.
	PreviousKeys []string `json:"previous_keys,omitempty"`

	// Header is the request header that carries the assertion. Default
	// X-Authedge-Assertion.
	Header string `json:"header,omitempty"`

	// Audience is the assertion's aud claim. Default: environment_id.
	Audience string `json:"audience,omitempty"`

	// TTL is how long an assertion is valid; it never outlives the access
	// token. Default 60s; at least 1s (exp counts in whole seconds), at
	// most 5m.
	TTL caddy.Duration `json:"ttl,omitempty"`

	// Claims are sources (as in IdentityHeader.Source) added to the
	// assertion beside iss, aud, sub, scope, iat, exp and jti. A claim
	// keeps its name; profile.<field> becomes the claim <field>.
	Claims []string `json:"claims,omitempty"`
}

// reservedAssertionClaims are set by authedge itself in every assertion.
var reservedAssertionClaims = []string{"iss", "aud", "sub", "scope", "iat", "exp", "jti"}

// framingHeaders carry the request itself, or the client's credentials:
// an identity header must not replace them. The hop-by-hop ones are those
// reverse_proxy deletes, which would never reach the app.
var framingHeaders = []string{"Authorization", "Host", "Content-Length", "Content-Type",
	"Transfer-Encoding", "Connection", "Te", "Trailer", "Upgrade", "Cookie", "X-Device-Id",
	"Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Alt-Svc"}

// SameHeaderName reports whether a and b name the same header for some
// server the app may run on: ASCII case-insensitively, with '_', '.' and
// '-' equal (CGI reads '-' as '_', PHP then '.' too). The edge removes the
// client's copies of an identity header under every such name.
func SameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if foldHeaderByte(a[i]) != foldHeaderByte(b[i]) {
			return false
		}
	}
	return true
}

func foldHeaderByte(c byte) byte {
	switch {
	case c == '_' || c == '.':
		return '-'
	case 'A' <= c && c <= 'Z':
		return c + ('a' - 'A')
	}
	return c
}

// headerKey is h folded as SameHeaderName compares names. Two identity
// headers with the same key would be one header to such an app, and a
// name with the key of a framing header would remove that header from
// every request.
func headerKey(h string) string {
	b := []byte(h)
	for i, c := range b {
		b[i] = foldHeaderByte(c)
	}
	return string(b)
}

// applyDefaults fills the assertion's unset fields.
func (id *Identity) applyDefaults(environmentID string) {
	if id == nil || id.Assertion == nil {
		return
	}
	a := id.Assertion
	setString(&a.Header, DefaultAssertionHeader)
	setString(&a.Audience, environmentID)
	if a.TTL == 0 {
		a.TTL = caddy.Duration(DefaultAssertionTTL)
	}
}

// validate checks the identity block without reading the key files (the
// edge reads them when it is built, and names the directive if one is not
// a usable key).
func (id *Identity) validate(add func(string, ...any)) {
	if id == nil {
		return
	}
	for _, p := range id.Protect {
		if msg := BadPathPattern(p); msg != "" {
			add("identity protect: %q %s", p, msg)
		}
	}
	for _, ps := range id.ProtectScope {
		if ps.Scope == "" || strings.ContainsAny(ps.Scope, " \t\r\n") {
			add("identity protect_scope: the scope %q must be one non-empty word", ps.Scope)
		}
		refuseUnresolved("identity protect_scope", ps.Scope, add)
		if len(ps.Paths) == 0 {
			add("identity protect_scope %s: no path", ps.Scope)
		}
		for _, p := range ps.Paths {
			if msg := BadPathPattern(p); msg != "" {
				add("identity protect_scope: %q %s", p, msg)
			}
		}
	}
	seen := make(map[string]string) // headerKey -> directive that named it
	name := func(directive, h string) {
		switch {
		case !httpguts.ValidHeaderFieldName(h):
			add("%s: %q is not a valid header name", directive, h)
			return
		case slices.ContainsFunc(framingHeaders, func(f string) bool { return headerKey(f) == headerKey(h) }):
			add("%s: %s cannot carry identity: it is part of the request or of the client's credentials", directive, h)
			return
		}
		key := headerKey(h)
		if prev, ok := seen[key]; ok {
			add("%s: the header %s is named twice (also by %s)", directive, h, prev)
			return
		}
		seen[key] = directive
	}
	for _, h := range id.Headers {
		name("identity header", h.Name)
		if msg := BadSource(h.Source); msg != "" {
			add("identity header %s: %s", h.Name, msg)
		}
		refuseUnresolved("identity header "+h.Name, h.Source, add)
	}
	if a := id.Assertion; a != nil {
		a.validate(add, name)
	}
}

func (a *Assertion) validate(add func(string, ...any), name func(directive, h string)) {
	if a.Key == "" {
		add("identity assertion key: required (a PEM file with a private EC P-256 or Ed25519 key)")
	}
	for _, p := range a.PreviousKeys {
		if p == "" {
			add("identity assertion previous_key: an empty file name")
		}
	}
	header := a.Header
	if header == "" {
		header = DefaultAssertionHeader
	}
	name("identity assertion header", header)
	switch ttl := time.Duration(a.TTL); {
	case ttl < 0:
		add("identity assertion ttl: must be positive")
	case ttl > 0 && ttl < time.Second:
		// Its exp is in whole seconds (RFC 7519's NumericDate): shorter,
		// most assertions would expire the second they are issued.
		add("identity assertion ttl: must be at least 1s (its exp counts in whole seconds)")
	case ttl > MaxAssertionTTL:
		add("identity assertion ttl: %s is over the maximum of %s: an assertion is a bearer credential for the app",
			ttl, MaxAssertionTTL)
	}
	refuseUnresolved("identity assertion audience", a.Audience, add)
	names := make(map[string]bool)
	for _, src := range a.Claims {
		refuseUnresolved("identity assertion claims", src, add)
		if msg := BadSource(src); msg != "" {
			add("identity assertion claims: %s", msg)
			continue
		}
		claim := AssertionClaimName(src)
		switch {
		case containsFold(reservedAssertionClaims, claim):
			add("identity assertion claims: %s is always in the assertion; it cannot be added", claim)
		case names[claim]:
			add("identity assertion claims: the claim %s is asked for twice", claim)
		}
		names[claim] = true
	}
}

// AssertionClaimName is the claim under which a source goes into the
// assertion: its own name, or the field of a profile source.
func AssertionClaimName(source string) string {
	return strings.TrimPrefix(source, ProfileSourcePrefix)
}

// BadSource says what is wrong with a header or claim source, or "".
func BadSource(source string) string {
	if field, ok := strings.CutPrefix(source, ProfileSourcePrefix); ok {
		if !slices.Contains(ProfileFields, field) {
			return fmt.Sprintf("unknown profile field %q (one of %s)", field, strings.Join(ProfileFields, " "))
		}
		return ""
	}
	if source == "" {
		return "a source is required: a claim name or profile.<field>"
	}
	for i := 0; i < len(source); i++ {
		if c := source[i]; c < 0x21 || c == 0x7f || c == '"' || c == '\\' {
			return fmt.Sprintf("the claim name %q has a space, quote, backslash or control character", source)
		}
	}
	return ""
}

// BadPathPattern says what is wrong with a protect path pattern, or "".
// Placeholders are refused: what a path needs must not depend on the
// request.
func BadPathPattern(p string) string {
	switch {
	case p == "":
		return "is empty"
	case p[0] != '/' && p[0] != '*':
		return "must start with / or * (Caddy path patterns: /exact, /prefix/*, *.ext)"
	case strings.ContainsAny(p, "{}"):
		return "must not hold placeholders: what a path needs must not depend on the request"
	case strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "holds a control character"
	}
	return ""
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
