package config

import (
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/authedge/caddy-authedge/token"
)

// The defaults of docs/configuration.md#options. ApplyDefaults fills them
// into the unset fields.
const (
	DefaultLeeway      = token.DefaultLeeway
	DefaultAdminScope  = token.DefaultAdminScope
	DefaultDeviceClaim = token.DefaultDeviceClaim

	DefaultRedisAddress = "127.0.0.1:6379"
	DefaultKeyPrefix    = "authedge"
	DefaultRedisTimeout = 500 * time.Millisecond

	DefaultCodeTTL              = 10 * time.Minute
	DefaultVerificationTokenTTL = 10 * time.Minute
	DefaultSudoTokenTTL         = 15 * time.Minute

	DefaultEditCount  = 30
	DefaultEditWindow = time.Minute

	DefaultLookupCount  = 30
	DefaultLookupWindow = time.Minute
	DefaultStreamMaxLen = 1000000
	DefaultRetryFor     = 24 * time.Hour
)

// MaxLeeway bounds leeway: RFC 7519 speaks of "no more than a few
// minutes" of clock skew, and each second past that is a second in
// which an expired, perhaps stolen, token still works.
const MaxLeeway = 5 * time.Minute

// Contact channel names, as verification required and sudo sensitive use
// them.
const (
	ChannelPhone = "phone"
	ChannelEmail = "email"
)

// DefaultAlgorithms are the JWS algorithms accepted when none are
// configured: the asymmetric ones in common use.
func DefaultAlgorithms() []string { return slices.Clone(token.DefaultAlgorithms) }

// DefaultChannels are the channels that need verification, and the fields
// that need sudo, when the configuration does not say: both of them.
func DefaultChannels() []string { return []string{ChannelPhone, ChannelEmail} }

// ApplyDefaults fills every unset field with its default
// (docs/configuration.md#options). It depends on nothing but c: no
// environment, no files, no network, so the same config always means the same
// thing. It is idempotent.
//
// Nil lists get their default; an empty, non-nil list (Caddyfile "off") is
// kept, because it is how a user turns a secure default off.
func (c *Config) ApplyDefaults() {
	j := &c.JWT
	if len(j.Algorithms) == 0 {
		j.Algorithms = DefaultAlgorithms()
	}
	if j.Leeway == nil {
		leeway := caddy.Duration(DefaultLeeway)
		j.Leeway = &leeway
	}
	setString(&j.AdminScope, DefaultAdminScope)
	setString(&j.DeviceClaim, DefaultDeviceClaim)

	r := &c.Redis
	if len(r.Addresses) == 0 && r.Sentinel == nil {
		r.Addresses = []string{DefaultRedisAddress}
	}
	setString(&r.KeyPrefix, DefaultKeyPrefix)
	setDuration(&r.Timeout, DefaultRedisTimeout)

	v := &c.Verification
	if v.Required == nil {
		channels := DefaultChannels()
		v.Required = &channels
	}
	setDuration(&v.CodeTTL, DefaultCodeTTL)
	setDuration(&v.TokenTTL, DefaultVerificationTokenTTL)

	s := &c.Sudo
	if s.Sensitive == nil {
		fields := DefaultChannels()
		s.Sensitive = &fields
	}
	setDuration(&s.TokenTTL, DefaultSudoTokenTTL)

	if c.RateLimit.Edits == nil {
		c.RateLimit.Edits = &Limit{Count: DefaultEditCount, Window: caddy.Duration(DefaultEditWindow)}
	}
	if c.RateLimit.Lookups == nil {
		c.RateLimit.Lookups = &Limit{Count: DefaultLookupCount, Window: caddy.Duration(DefaultLookupWindow)}
	}
	c.Identity.applyDefaults(c.EnvironmentID)

	// No events block stays nil: events are off unless asked for.
	if e := c.Events; e != nil {
		if e.StreamMaxLen == 0 {
			e.StreamMaxLen = DefaultStreamMaxLen
		}
		setDuration(&e.RetryFor, DefaultRetryFor)
	}
}

// EffectiveLeeway returns the clock skew allowed for exp, nbf, iat and
// auth_time: the configured one, zero included, or the default if unset.
func (j JWT) EffectiveLeeway() time.Duration {
	if j.Leeway == nil {
		return DefaultLeeway
	}
	return time.Duration(*j.Leeway)
}

// RequiredChannels returns the channels whose change to a new value needs a
// verification_token: the configured list, or the default if unset.
func (v Verification) RequiredChannels() []string {
	if v.Required == nil {
		return DefaultChannels()
	}
	return *v.Required
}

// SensitiveFields returns the fields whose bound value needs sudo to be
// replaced or removed: the configured list, or the default if unset.
func (s Sudo) SensitiveFields() []string {
	if s.Sensitive == nil {
		return DefaultChannels()
	}
	return *s.Sensitive
}

// HasSender reports whether verification codes can be delivered at all,
// by webhook or by log.
func (v Verification) HasSender() bool {
	return v.Webhook != nil || v.Log
}

func setString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// setDuration treats zero as unset, as Caddy's modules do: it serves the
// durations where zero would be nonsense (a TTL, a timeout). A duration
// where zero means something is a pointer instead (JWT.Leeway).
func setDuration(d *caddy.Duration, def time.Duration) {
	if *d == 0 {
		*d = caddy.Duration(def)
	}
}
