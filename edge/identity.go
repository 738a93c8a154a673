package edge

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/store"
	"github.com/authedge/caddy-authedge/token"
)

// Identity is the verified caller of one request that passed the edge.
// Claims beyond those token.Claims holds are read from the verified token
// only when something asks, and the profile at most once. Safe for
// concurrent use (placeholders may be read from other goroutines).
type Identity struct {
	// Claims are the verified token's claims.
	Claims *token.Claims

	ctx      context.Context
	raw      string // "Bearer <token>", verified
	profiles Profiles

	mu          sync.Mutex
	claimsRead  bool
	extra       map[string]claimValue
	profileRead bool
	profile     store.Profile // zero if the user has none
	profileErr  error
}

func newIdentity(ctx context.Context, claims *token.Claims, authorization string, profiles Profiles) *Identity {
	return &Identity{Claims: claims, ctx: ctx, raw: authorization, profiles: profiles}
}

// claimValue is a top-level string, number or boolean claim: text is what
// a header or placeholder gets, json what the assertion gets.
type claimValue struct {
	text string
	json []byte // nil for a string: it is quoted from text
}

// source is where a header or assertion claim value comes from: a claim of
// the token, or a field of the profile.
type source struct {
	claim string
	field string // profile field; "" for a claim
}

func (s source) profile() bool { return s.field != "" }

func parseSource(s string) (source, error) {
	if msg := config.BadSource(s); msg != "" {
		return source{}, fmt.Errorf("%s", msg)
	}
	if field, ok := strings.CutPrefix(s, config.ProfileSourcePrefix); ok {
		return source{field: field}, nil
	}
	return source{claim: s}, nil
}

// value resolves src; ok is false for a missing claim or an unreadable
// profile.
func (id *Identity) value(src source) (claimValue, bool) {
	if src.profile() {
		v, err := id.ProfileField(src.field)
		return claimValue{text: v}, err == nil && v != ""
	}
	return id.claim(src.claim)
}

// Claim returns a top-level string, number or boolean claim of the token
// as text (strings as they are, numbers and booleans as JSON writes them).
// ok is false if the token has no such claim, or has it twice, or of
// another type.
func (id *Identity) Claim(name string) (string, bool) {
	v, ok := id.claim(name)
	return v.text, ok
}

func (id *Identity) claim(name string) (claimValue, bool) {
	switch name {
	case "sub":
		return claimValue{text: id.Claims.Subject}, true
	case "scope":
		if id.Claims.Scopes != "" {
			return claimValue{text: id.Claims.Scopes}, true
		}
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	if !id.claimsRead {
		id.claimsRead = true
		id.extra = readClaims(id.raw)
	}
	v, ok := id.extra[name]
	return v, ok
}

// AllClaims returns every top-level string, number and boolean claim as text.
func (id *Identity) AllClaims() map[string]string {
	id.mu.Lock()
	defer id.mu.Unlock()
	if !id.claimsRead {
		id.claimsRead = true
		id.extra = readClaims(id.raw)
	}
	out := make(map[string]string, len(id.extra))
	for k, v := range id.extra {
		out[k] = v.text
	}
	return out
}

// ProfileField returns a field of the caller's stored profile ("" if the
// user has none, or the field is empty), reading the profile at most once
// per request.
func (id *Identity) ProfileField(field string) (string, error) {
	p, err := id.loadProfile()
	if err != nil {
		return "", err
	}
	switch field {
	case "nickname":
		return p.Nickname, nil
	case "username":
		return p.Username, nil
	case "phone":
		return p.Phone, nil
	case "email":
		return p.Email, nil
	case "avatar_url":
		return p.AvatarURL, nil
	case "gender":
		return p.Gender, nil
	case "description":
		return p.Description, nil
	}
	return "", fmt.Errorf("edge: unknown profile field %q", field)
}

func (id *Identity) loadProfile() (*store.Profile, error) {
	id.mu.Lock()
	defer id.mu.Unlock()
	if !id.profileRead {
		id.profileRead = true
		id.profile, _, id.profileErr = id.profiles.Profile(id.ctx, id.Claims.Subject)
	}
	return &id.profile, id.profileErr
}

// readClaims decodes the payload of a verified "Bearer <token>" into its
// top-level string, number and boolean claims. A claim given twice is left
// out: two parsers in front of the app must never disagree on its value.
func readClaims(authorization string) map[string]claimValue {
	raw := authorization
	if i := strings.IndexByte(raw, ' '); i >= 0 {
		raw = strings.TrimSpace(raw[i+1:])
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	return decodeClaims(payload)
}

func decodeClaims(payload []byte) map[string]claimValue {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	out := make(map[string]claimValue)
	// dropped holds the names seen but not in out: given an object, an
	// array or null (a claim first given as an object and then as a
	// string is given twice all the same), or given twice. Nil until
	// needed: most payloads have one such name (aud) at most.
	var dropped map[string]bool
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		name, _ := t.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil
		}
		v, ok := scalar(value)
		_, kept := out[name]
		switch {
		case kept || dropped[name]:
			delete(out, name)
			ok = false
		case ok:
			out[name] = v
		}
		if !ok {
			if dropped == nil {
				dropped = make(map[string]bool)
			}
			dropped[name] = true
		}
	}
	return out
}

// scalar reads a JSON string, number or boolean. Integers keep their
// digits; other numbers are written as encoding/json writes a float64.
func scalar(raw json.RawMessage) (claimValue, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return claimValue{}, false
	}
	switch c := raw[0]; {
	case c == '"':
		// Invalid UTF-8 and an escaped lone surrogate are no text:
		// encoding/json reads either as U+FFFD, so different claims
		// would reach the app as one (the token refuses them in the
		// claims it reads itself, sub among them).
		if !utf8.Valid(raw) || token.LoneSurrogate(raw) {
			return claimValue{}, false
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return claimValue{}, false
		}
		return claimValue{text: s}, true
	case c == 't' || c == 'f':
		return claimValue{text: string(raw), json: raw}, true
	case c == '-' || (c >= '0' && c <= '9'):
		if _, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return claimValue{text: string(raw), json: raw}, true
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return claimValue{}, false
		}
		b, err := json.Marshal(f)
		if err != nil {
			return claimValue{}, false
		}
		return claimValue{text: string(b), json: b}, true
	}
	return claimValue{}, false
}
