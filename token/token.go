package token

import (
	"crypto/sha256"
	"time"
)

// Claims are what authedge needs from a verified access token.
type Claims struct {
	// Subject is the sub claim: the user ID.
	Subject string
	// Scopes is the space-separated scope claim, as given.
	Scopes string
	// Admin reports whether Scopes contains the configured admin scope.
	Admin bool
	// DeviceID is the value of the configured device claim, "" if the
	// token has none (an empty claim is refused, so "" means absent).
	DeviceID string
	// AuthTime is the auth_time claim; zero if absent.
	AuthTime time.Time
	// Expiry is the exp claim.
	Expiry time.Time
	// IssuedAt is the iat claim; zero if absent. Revoking a user's or a
	// device's tokens refuses those issued up to a cutoff.
	IssuedAt time.Time
	// ContentDigest is the SHA-256 of what the signature covers,
	// header.payload: the token's name for revocation (store.TokenDigest),
	// kept from the signature check so that it is hashed once per token.
	ContentDigest [sha256.Size]byte
}

// The package's contract (see verifier.go, config.go, remote.go):
//
//	type Config struct {
//		Issuer      string
//		Audience    []string      // empty: aud must contain the clientID passed to Verify
//		Algorithms  []string      // empty: the default set; none/HS* rejected by New
//		Leeway      time.Duration
//		AdminScope  string
//		DeviceClaim string
//		PublicKeyFiles []string   // PEM
//		JWKSFile    string
//		Remote      *RemoteJWKS   // shared across config reloads by caddymodule
//		Now         func() time.Time // nil: time.Now
//		CacheSize   int           // verified-token cache entries; 0: default, <0: off
//		Logger      *zap.Logger   // warnings about skipped jwks_file keys; nil: none
//	}
//	func New(cfg Config) (*Verifier, error)
//	func (v *Verifier) Verify(ctx context.Context, raw, clientID string) (*Claims, error)
//	    // every failure is a *Error
//	type Error struct{ Description string } // safe to put in WWW-Authenticate error_description
//	func NewRemoteJWKS(ctx context.Context, url string, client *http.Client, logger *zap.Logger) (*RemoteJWKS, error)
//	func (r *RemoteJWKS) Close() error

// Error is why a token was refused. Description is short, never holds any
// part of the token, and is safe to send as an RFC 6750 error_description.
type Error struct {
	Description string
}

// Error implements error.
func (e *Error) Error() string { return "invalid access token: " + e.Description }

// refuse builds the *Error that Verify returns.
func refuse(description string) *Error { return &Error{Description: description} }
