package config

import "github.com/authedge/caddy-authedge/token"

// TokenConfig is the verifier's configuration from the jwt block: its
// rules and local key files. The caller adds what config does not hold
// (the remote key set, the logger, the clock, an observer).
func (j JWT) TokenConfig() token.Config {
	leeway := j.EffectiveLeeway()
	return token.Config{
		Issuer:         j.Issuer,
		Audience:       j.Audience,
		Algorithms:     j.Algorithms,
		Leeway:         leeway,
		NoLeeway:       leeway == 0, // leeway 0s: strict expiry, not the default
		AdminScope:     j.AdminScope,
		DeviceClaim:    j.DeviceClaim,
		PublicKeyFiles: j.PublicKeys,
		JWKSFile:       j.JWKSFile,
	}
}
