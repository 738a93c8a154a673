// Package secret is authedge's one source of randomness for anything an
// attacker must not guess: verification codes, verification IDs and the
// opaque tokens handed to clients.
package secret

import (
	"crypto/rand"
	"encoding/base64"
	"math/big"
	"strings"
)

// Code returns a uniformly random 6-digit decimal code, leading zeros kept.
func Code() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	s := n.String()
	for len(s) < 6 {
		s = "0" + s
	}
	return s
}

// Token returns 32 random bytes, base64url-encoded without padding: an
// opaque bearer value (verification_token, sudo_token) or an unguessable ID.
func Token() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ID returns 16 random bytes, base64url-encoded without padding: an
// identifier that must not be guessable, such as a verification_id.
func ID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// IsCode, IsID and IsToken report whether s has the shape Code, ID or
// Token gives. A value of another shape was not issued here: the caller
// can refuse it without looking it up, and it never becomes part of a key.
func IsCode(s string) bool { return len(s) == 6 && strings.Trim(s, "0123456789") == "" }

// IsID: see IsCode.
func IsID(s string) bool { return len(s) == 22 && isBase64URL(s) }

// IsToken: see IsCode.
func IsToken(s string) bool { return len(s) == 43 && isBase64URL(s) }

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
