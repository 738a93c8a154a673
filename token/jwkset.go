package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"go.uber.org/zap"
)

// A JWK Set is parsed key by key, not with jwk.Parse: jwx fails the whole
// set when it cannot parse one key, and identity providers publish keys
// of types jwx does not know (ML-DSA's "AKP", for one). One such key must
// not keep authedge on an old set, still trusting a key the provider has
// withdrawn.

// skippedKey is a key of a JWK Set that parseJWKSet did not take.
type skippedKey struct {
	index  int    // position in the keys array, from 0
	kid    string // "" if it has none (or none that is a string)
	kty    string
	reason string // never holds key material
	// unusable: a kind of key authedge does not verify with (unknown
	// type, curve or alg; an encryption key). Otherwise the key is broken,
	// private or symmetric: a local file with one is refused.
	unusable bool
}

// errNotJWKSet is a document that is not a JWK Set at all.
var errNotJWKSet = errors.New(`not a JWK Set: want a JSON object with a "keys" array`)

// parseJWKSet reads a JWK Set (RFC 7517 5) one key at a time: the keys
// authedge can verify with, and each other key with the reason it was
// skipped. Only a document that is not a JWK Set is an error.
func parseJWKSet(data []byte) ([]*publicKey, []skippedKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.Keys == nil {
		return nil, nil, errNotJWKSet
	}
	var keys []*publicKey
	var skipped []skippedKey
	for i, raw := range doc.Keys {
		k, skip := parseSetMember(raw)
		if skip != nil {
			skip.index = i
			skipped = append(skipped, *skip)
			continue
		}
		keys = append(keys, k)
	}
	return keys, skipped, nil
}

// The curves authedge verifies with, by JWK kty; keys on others are
// skipped before jwx sees them (jwx parses some it cannot use).
var supportedCurves = map[string][]string{
	"EC":  {"P-256", "P-384", "P-521"},
	"OKP": {"Ed25519"},
}

// parseSetMember converts one member of a set's keys array.
func parseSetMember(raw json.RawMessage) (*publicKey, *skippedKey) {
	// Only the members needed to classify the key, each read leniently:
	// a kid that is not a string is not worth losing the reason for.
	var head struct {
		Kty any `json:"kty"`
		Kid any `json:"kid"`
		Crv any `json:"crv"`
	}
	if bytes.TrimSpace(raw)[0] != '{' || json.Unmarshal(raw, &head) != nil {
		return nil, &skippedKey{reason: "not a JSON object"}
	}
	kty, _ := head.Kty.(string)
	kid, _ := head.Kid.(string)
	crv, _ := head.Crv.(string)
	skip := func(unusable bool, format string, args ...any) (*publicKey, *skippedKey) {
		return nil, &skippedKey{kid: kid, kty: kty, reason: fmt.Sprintf(format, args...), unusable: unusable}
	}
	switch kty {
	case "RSA", "oct":
	case "EC", "OKP":
		if !containsString(supportedCurves[kty], crv) {
			return skip(true, "unsupported curve %s", quoteShort(crv))
		}
	case "":
		return skip(false, "no kty")
	default:
		return skip(true, "unsupported key type %s", quoteShort(kty))
	}
	key, err := jwk.ParseKey(raw)
	if err != nil {
		// jwx's parse errors name members, never their values.
		return skip(false, "malformed key: %v", err)
	}
	k, err := fromJWK(key)
	if err != nil {
		var u *unusableError
		return skip(errors.As(err, &u), "%v", err)
	}
	return k, nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// maxLoggedName bounds a kid or kty written to the log: they come from
// the key server, and a log line is no place for a megabyte of them.
const maxLoggedName = 64

// quoteShort quotes s for a message, cut to maxLoggedName bytes.
func quoteShort(s string) string {
	if len(s) > maxLoggedName {
		return strconv.Quote(s[:maxLoggedName]) + "..."
	}
	return strconv.Quote(s)
}

// maxSkipLines bounds the warnings one set can cause; the rest are
// counted in one more line.
const maxSkipLines = 16

// skipID identifies a skipped key across fetches, so that a key present in
// every refresh is reported once, not every few minutes.
func (s *skippedKey) skipID() string {
	return s.kid + "\x00" + s.kty + "\x00" + s.reason
}

// logSkipped warns about each skipped key whose skipID is not in seen
// (nil: none seen), and returns the skipIDs of skipped, to pass as seen
// next time.
func logSkipped(logger *zap.Logger, skipped []skippedKey, seen map[string]bool, fields ...zap.Field) map[string]bool {
	now := make(map[string]bool, len(skipped))
	lines, more := 0, 0
	for i := range skipped {
		s := &skipped[i]
		id := s.skipID()
		now[id] = true
		if seen[id] {
			continue
		}
		if lines == maxSkipLines {
			more++
			continue
		}
		lines++
		kid := s.kid
		if len(kid) > maxLoggedName {
			kid = kid[:maxLoggedName] + "..."
		}
		logger.Warn("JWKS key skipped: authedge cannot verify with it",
			append(fields[:len(fields):len(fields)],
				zap.Int("index", s.index),
				zap.String("kid", kid),
				zap.String("reason", s.reason))...)
	}
	if more > 0 {
		logger.Warn("JWKS keys skipped, not logged one by one", append(fields[:len(fields):len(fields)], zap.Int("count", more))...)
	}
	return now
}
