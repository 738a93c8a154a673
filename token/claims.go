package token

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"
)

// verified is a token whose signature, issuer and claim syntax have been
// checked: what stays true for as long as the key set does. The checks that
// depend on the clock or on the caller (times, audience) are redone on every
// use, cached or not, by accept.
type verified struct {
	claims   Claims
	audience []string
	// oneAudience holds audience's value when aud has one (the usual
	// case), so that the list costs no allocation of its own.
	oneAudience [1]string
	notAfter    time.Time // exp
	nbf         time.Time // zero if absent
	iat         time.Time // zero if absent
}

// Claim indexes, for refusing a claim given twice.
const (
	claimIss = iota
	claimSub
	claimAud
	claimExp
	claimNbf
	claimIat
	claimScope
	claimAuthTime
	claimDevice
	claimCount
)

// errClaim is the failure for a claim of the wrong type or given twice.
var errClaim = [claimCount]*Error{
	claimIss:      refuse("invalid iss claim"),
	claimSub:      refuse("invalid sub claim"),
	claimAud:      refuse("invalid aud claim"),
	claimExp:      refuse("invalid exp claim"),
	claimNbf:      refuse("invalid nbf claim"),
	claimIat:      refuse("invalid iat claim"),
	claimScope:    refuse("invalid scope claim"),
	claimAuthTime: refuse("invalid auth_time claim"),
	claimDevice:   refuse("invalid device claim"),
}

// Failures of the claims' content.
var (
	errIssuer   = refuse("wrong issuer")
	errNoExp    = refuse("missing exp claim")
	errNoSub    = refuse("missing sub claim")
	errNoAud    = refuse("missing aud claim")
	errExpired  = refuse("token expired")
	errNotYet   = refuse("token not yet valid")
	errIssued   = refuse("token issued in the future")
	errAuthTime = refuse("auth_time in the future")
	errAudience = refuse("audience not accepted")
)

// parseClaims reads the claims authedge uses. Each may appear at most once:
// RFC 7519 4 lets a parser keep the last of duplicates, but another parser
// in front of the app may keep the first, and the two must never disagree
// on who the user is.
func (s *settings) parseClaims(data []byte) (*verified, *Error) {
	var (
		v verified
		// later makes sub, scope and a single aud in one allocation,
		// once the walk is over.
		later deferredStrings
		seen  [claimCount]bool
		fail  *Error
		// issOK: iss is the issuer expected. Only compared, so not
		// copied out of data.
		issOK bool
	)
	err := walkObject(data, func(name, value []byte) error {
		idx := -1
		var ok bool
		switch {
		case nameIs(name, "iss"):
			idx = claimIss
			issOK, ok = jsonStringIs(value, s.issuer)
		case nameIs(name, "sub"):
			idx = claimSub
			ok = later.add(&v.claims.Subject, value)
		case nameIs(name, "aud"):
			idx = claimAud
			if one, isOne := singleString(value); isOne {
				v.audience = v.oneAudience[:]
				ok = later.add(&v.oneAudience[0], one)
			} else {
				v.audience, ok = jsonStrings(value)
			}
		case nameIs(name, "exp"):
			idx = claimExp
			v.notAfter, ok = jsonNumericDate(value)
		case nameIs(name, "nbf"):
			idx = claimNbf
			v.nbf, ok = jsonNumericDate(value)
		case nameIs(name, "iat"):
			idx = claimIat
			v.iat, ok = jsonNumericDate(value)
		case nameIs(name, "scope"):
			idx = claimScope
			ok = later.add(&v.claims.Scopes, value)
		case nameIs(name, "auth_time"):
			idx = claimAuthTime
			v.claims.AuthTime, ok = jsonNumericDate(value)
		case nameIs(name, s.deviceClaim):
			idx = claimDevice
			v.claims.DeviceID, ok = jsonString(value)
			// An empty binding would bind to no header at all.
			ok = ok && v.claims.DeviceID != ""
		default:
			// encoding/json, which a Go app behind may read the token
			// with (golang-jwt's RegisteredClaims), matches member names
			// regardless of case, folding Unicode ("\u017fub" is sub to
			// it), and keeps the last: to it, such a name is the claim
			// given twice, or given where authedge sees none.
			if idx = s.foldedClaim(name); idx < 0 {
				return nil
			}
		}
		if !ok || seen[idx] {
			fail = errClaim[idx]
			return fail
		}
		seen[idx] = true
		return nil
	})
	later.finish()
	switch {
	case fail != nil:
		return nil, fail
	case err != nil:
		return nil, errBadClaims
	case !seen[claimIss] || !issOK:
		return nil, errIssuer
	case !seen[claimExp]:
		return nil, errNoExp
	case v.claims.Subject == "":
		return nil, errNoSub
	case !seen[claimAud]:
		return nil, errNoAud
	}
	v.claims.Expiry = v.notAfter
	v.claims.IssuedAt = v.iat
	v.claims.Admin = hasScope(v.claims.Scopes, s.adminScope)
	return &v, nil
}

// foldedClaim returns the index of the claim read whose name the raw
// member name equals under encoding/json's case folding (bytes.EqualFold),
// or -1. Only names that are not exactly a claim read reach it.
func (s *settings) foldedClaim(raw []byte) int {
	name := raw[1 : len(raw)-1]
	if bytes.IndexByte(name, '\\') >= 0 {
		var decoded string
		if json.Unmarshal(raw, &decoded) != nil {
			return -1
		}
		name = []byte(decoded)
	}
	for idx, want := range claimNames {
		if idx == claimDevice {
			want = s.deviceClaim
		}
		if bytes.EqualFold(name, []byte(want)) {
			return idx
		}
	}
	return -1
}

// claimNames are the names of the claims read, by index; the device
// claim's is configured.
var claimNames = [claimCount]string{
	claimIss:      "iss",
	claimSub:      "sub",
	claimAud:      "aud",
	claimExp:      "exp",
	claimNbf:      "nbf",
	claimIat:      "iat",
	claimScope:    "scope",
	claimAuthTime: "auth_time",
}

// deferredStrings decodes JSON string values into their destinations,
// making those without escapes (nearly all) in one allocation when
// finish is called, rather than one each.
type deferredStrings struct {
	dst  [3]*string
	raw  [3][]byte
	n    int
	size int
}

// add checks raw as jsonString does and reports whether it is a string;
// *dst holds its value once finish has run.
func (d *deferredStrings) add(dst *string, raw []byte) bool {
	if raw[0] != '"' || !utf8.Valid(raw[1:len(raw)-1]) || bytes.IndexByte(raw, '\\') >= 0 || d.n == len(d.dst) {
		var ok bool
		*dst, ok = jsonString(raw)
		return ok
	}
	inner := raw[1 : len(raw)-1]
	d.dst[d.n], d.raw[d.n] = dst, inner
	d.n++
	d.size += len(inner)
	return true
}

// finish fills in the destinations add deferred.
func (d *deferredStrings) finish() {
	if d.n == 0 {
		return
	}
	var b strings.Builder
	b.Grow(d.size)
	for _, raw := range d.raw[:d.n] {
		b.Write(raw)
	}
	all := b.String()
	for i, raw := range d.raw[:d.n] {
		*d.dst[i], all = all[:len(raw)], all[len(raw):]
	}
}

// hasScope reports whether the space-separated scopes hold want exactly:
// "administrator" is not "admin".
func hasScope(scopes, want string) bool {
	for scopes != "" {
		var scope string
		scope, scopes, _ = strings.Cut(scopes, " ")
		if scope == want {
			return true
		}
	}
	return false
}

// accept runs the checks that depend on the clock and the caller, and
// returns the caller's own copy of the claims.
func (s *settings) accept(v *verified, now time.Time, clientID string) (*Claims, *Error) {
	switch {
	case !v.notAfter.After(now.Add(-s.leeway)):
		return nil, errExpired
	case !v.nbf.IsZero() && v.nbf.After(now.Add(s.leeway)):
		return nil, errNotYet
	case !v.iat.IsZero() && v.iat.After(now.Add(s.leeway)):
		return nil, errIssued
	case !v.claims.AuthTime.IsZero() && v.claims.AuthTime.After(now.Add(s.leeway)):
		// A future auth_time would count as a fresh sign-in for ever.
		return nil, errAuthTime
	case !s.audienceAccepted(v.audience, clientID):
		return nil, errAudience
	}
	c := v.claims
	return &c, nil
}

// audienceAccepted: with Config.Audience, aud must hold one of its values;
// without, it must hold the client_id the request is for.
func (s *settings) audienceAccepted(aud []string, clientID string) bool {
	for _, a := range aud {
		if a == "" {
			continue
		}
		if len(s.audience) == 0 {
			if a == clientID {
				return true
			}
			continue
		}
		for _, want := range s.audience {
			if a == want {
				return true
			}
		}
	}
	return false
}
