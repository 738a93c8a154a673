package token

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"go.uber.org/zap"
)

// Defaults applied by New to a zero Config field.
const (
	DefaultLeeway      = 30 * time.Second
	DefaultAdminScope  = "admin"
	DefaultDeviceClaim = "device_id"
	DefaultCacheSize   = 10000
)

// DefaultAlgorithms are the algorithms accepted when Config.Algorithms is
// empty: every asymmetric JWS algorithm in common use.
var DefaultAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}

// Config configures a Verifier. Only Issuer and one key source (PublicKeyFiles,
// JWKSFile or Remote) are required; New fills the rest with the defaults.
type Config struct {
	// Issuer is the required value of the iss claim.
	Issuer string
	// Audience, if set, lists accepted aud values: the token's aud must
	// contain one of them. Empty: aud must contain the clientID given to
	// Verify.
	Audience []string
	// Algorithms are the accepted alg header values; empty means
	// DefaultAlgorithms. "none" and the HMAC algorithms are refused by New:
	// a verifier holding public keys must never treat one as a secret.
	// "EdDSA" and "Ed25519" (RFC 9864's name for it) each allow both.
	Algorithms []string
	// Leeway is the clock skew allowed for exp, nbf, iat and auth_time;
	// zero means DefaultLeeway, unless NoLeeway is set. Negative is an
	// error.
	Leeway time.Duration
	// NoLeeway makes a zero Leeway mean none: exp, nbf, iat and auth_time
	// are checked against the exact time.
	NoLeeway bool
	// AdminScope is the scope, in the space-separated scope claim, that
	// makes Claims.Admin true; empty means DefaultAdminScope.
	AdminScope string
	// DeviceClaim names the claim read into Claims.DeviceID; empty means
	// DefaultDeviceClaim.
	DeviceClaim string
	// PublicKeyFiles are PEM files of RSA, EC or Ed25519 public keys (or
	// certificates). Their keys have no kid and are tried for any token.
	PublicKeyFiles []string
	// JWKSFile is a local JWK Set of public keys.
	JWKSFile string
	// Remote is a remote JWK Set; it may be shared by several Verifiers and
	// is not closed by them.
	Remote *RemoteJWKS
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CacheSize bounds the verified-token cache: 0 means DefaultCacheSize,
	// a negative value turns the cache off.
	CacheSize int
	// Logger gets a warning for each key of JWKSFile that is skipped; nil
	// means none. (A RemoteJWKS has its own, given to NewRemoteJWKS.)
	Logger *zap.Logger
	// Observer is told of every lookup in the verified-token cache, for
	// metrics; nil means none. (*metrics.Set implements it.)
	Observer Observer
}

// Observer is told what the Verifier does, for metrics. Its methods run on
// every Verify, so they must be cheap and safe for concurrent use.
type Observer interface {
	// CacheLookup reports one lookup in the verified-token cache: hit if
	// the token was found there. A token too large to be cached, or a
	// Verifier without a cache, makes no lookup.
	CacheLookup(hit bool)
}

// CheckAdminScope says why scope cannot be the admin scope, or returns nil:
// the scope claim is space-separated, so it may hold no whitespace.
func CheckAdminScope(scope string) error {
	if strings.IndexFunc(scope, unicode.IsSpace) >= 0 {
		return errors.New("holds a space, but the scope claim is space-separated")
	}
	return nil
}

// CheckDeviceClaim says why name cannot be the device claim, or returns nil.
func CheckDeviceClaim(name string) error {
	// In any case: a Go app behind that decodes the token with
	// encoding/json matches member names regardless of case, so to it a
	// device claim "Sub" would be a second sub (claims.go's foldedClaim).
	if slices.ContainsFunc(registeredClaims, func(r string) bool { return strings.EqualFold(r, name) }) {
		return fmt.Errorf("%q is a registered claim with another meaning, in any letter case", name)
	}
	return nil
}

// registeredClaims are claims whose meaning is fixed, so DeviceClaim may not
// name one of them.
var registeredClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "auth_time"}

// settings is a Config with defaults applied and algorithms resolved, read
// on every Verify.
type settings struct {
	issuer      string
	audience    []string
	algorithms  []*algorithm
	leeway      time.Duration
	adminScope  string
	deviceClaim string
	now         func() time.Time
	cacheSize   int
}

// resolve checks cfg and applies the defaults.
func (cfg *Config) resolve() (*settings, error) {
	s := &settings{
		issuer:      cfg.Issuer,
		leeway:      cfg.Leeway,
		adminScope:  cfg.AdminScope,
		deviceClaim: cfg.DeviceClaim,
		now:         cfg.Now,
		cacheSize:   cfg.CacheSize,
	}
	if s.issuer == "" {
		return nil, errors.New("token: an issuer is required")
	}
	for _, aud := range cfg.Audience {
		if aud == "" {
			return nil, errors.New("token: an audience value is empty")
		}
		s.audience = append(s.audience, aud)
	}
	if s.leeway < 0 {
		return nil, fmt.Errorf("token: leeway %s is negative", s.leeway)
	}
	if s.leeway == 0 && !cfg.NoLeeway {
		s.leeway = DefaultLeeway
	}
	if s.adminScope == "" {
		s.adminScope = DefaultAdminScope
	}
	if err := CheckAdminScope(s.adminScope); err != nil {
		return nil, fmt.Errorf("token: admin scope: %w", err)
	}
	if s.deviceClaim == "" {
		s.deviceClaim = DefaultDeviceClaim
	}
	if err := CheckDeviceClaim(s.deviceClaim); err != nil {
		return nil, fmt.Errorf("token: device claim: %w", err)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.cacheSize == 0 {
		s.cacheSize = DefaultCacheSize
	}
	names := cfg.Algorithms
	if len(names) == 0 {
		names = DefaultAlgorithms
	}
	for _, name := range names {
		alg, err := lookupAlgorithm(name)
		if err != nil {
			return nil, fmt.Errorf("token: algorithms: %w", err)
		}
		if !containsAlgorithm(s.algorithms, alg) {
			s.algorithms = append(s.algorithms, alg)
		}
	}
	return s, nil
}

func containsAlgorithm(list []*algorithm, alg *algorithm) bool {
	for _, a := range list {
		if a == alg {
			return true
		}
	}
	return false
}

// allowed returns the configured algorithm named by a token's alg header,
// or nil. The header is the only place the name comes from, and it only
// selects among what the configuration already allows. Either name of
// EdDSA allows both: they are one algorithm on the keys authedge has.
func (s *settings) allowed(name string) *algorithm {
	for _, a := range s.algorithms {
		if a.named(name) {
			return a
		}
	}
	return nil
}
