package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/caddyserver/caddy/v2"

	"github.com/authedge/caddy-authedge/token"
)

// Validate reports every problem of c at once, each naming the Caddyfile
// directive at fault, joined into one error (nil if there is none). It only
// checks: no file is read, no connection made, c is not changed. It gives the
// same verdict before and after ApplyDefaults, since an unset value stands
// for its default.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}

	if c.EnvironmentID == "" {
		add("environment_id is required")
	} else if msg := badKeyPart(c.EnvironmentID); msg != "" {
		add("environment_id: %s", msg)
	}
	for _, id := range c.ClientIDs {
		if id == "" {
			add("client_ids: an empty client ID")
		}
	}

	c.JWT.validate(add)
	c.Redis.validate(add)
	c.Verification.validate(add)
	c.Sudo.validate(add)
	c.RateLimit.validate(add)
	c.Identity.validate(add)
	if c.Events != nil {
		c.Events.validate(add)
	}

	// The secure defaults (docs/configuration.md#secure-defaults) need a way
	// to be satisfied; say how.
	v := &c.Verification
	if required := v.RequiredChannels(); len(required) > 0 && !v.HasSender() {
		add("verification: changing %s needs a verification code, but no code sender is configured: "+
			"add `webhook <url> [<secret>]` (or `log`, for development only) to the verification block, "+
			"or turn verification off with `verification { required off }`",
			strings.Join(required, " or "))
	}
	if sensitive := c.Sudo.SensitiveFields(); len(sensitive) > 0 && !v.HasSender() && c.Sudo.MaxAuthAge == 0 {
		add("sudo: replacing or removing a bound %s needs secondary verification, but nothing can satisfy it: "+
			"configure a code sender (verification `webhook` or `log`) or `sudo { max_auth_age <duration> }`, "+
			"or turn it off with `sudo { sensitive off }`",
			strings.Join(sensitive, " or "))
	}
	return errors.Join(errs...)
}

func (j *JWT) validate(add func(string, ...any)) {
	if j.Issuer == "" {
		add("jwt issuer is required")
	}
	for _, aud := range j.Audience {
		if aud == "" {
			add("jwt audience: an empty value")
		}
	}
	if j.JWKSURL == "" && j.JWKSFile == "" && len(j.PublicKeys) == 0 {
		add("jwt: no key to verify tokens with: set jwks_url, jwks_file or public_key")
	}
	if j.JWKSURL != "" {
		if msg := badJWKSURL(j.JWKSURL); msg != "" {
			add("jwt jwks_url: %s", msg)
		}
	}
	for _, p := range j.PublicKeys {
		if p == "" {
			add("jwt public_key: an empty file name")
		}
	}
	// The token package's own rules, so that what validates is what loads.
	for _, alg := range j.Algorithms {
		if err := token.CheckAlgorithm(alg); err != nil {
			add("jwt algorithms: %v", err)
		}
	}
	if j.Leeway != nil && *j.Leeway < 0 {
		add("jwt leeway: must not be negative (0 means strict expiry)")
	}
	if j.Leeway != nil && time.Duration(*j.Leeway) > MaxLeeway {
		add("jwt leeway: at most %v: it is allowance for clocks that disagree, and a larger one keeps "+
			"expired tokens working (set the tokens' lifetime at the identity provider instead)", MaxLeeway)
	}
	if err := token.CheckAdminScope(j.AdminScope); err != nil {
		add("jwt admin_scope: %v", err)
	}
	if err := token.CheckDeviceClaim(j.DeviceClaim); err != nil {
		add("jwt device_claim: %v", err)
	}
	refuseUnresolved("jwt admin_scope", j.AdminScope, add)
	refuseUnresolved("jwt device_claim", j.DeviceClaim, add)
}

// refuseUnresolved refuses a secret placeholder ({env.*}, {file.*}) in a
// field that does not resolve one. Taken as written, it would load and
// then silently name a claim, scope, audience or master no token or
// server has: a device_claim of "{env.DEVICE_CLAIM}", say, turns device
// binding off. The fields that resolve them are listed in
// docs/configuration.md#secrets-and-placeholders.
func refuseUnresolved(directive, value string, add func(string, ...any)) {
	if strings.Contains(value, "{env.") || strings.Contains(value, "{file.") {
		add("%s: %q holds a placeholder, which this setting does not resolve (only environment_id, client_ids, "+
			"jwt issuer and audience, the redis username and passwords and the webhook secrets do); "+
			"write the value, or use the Caddyfile's {$VAR}", directive, value)
	}
}

// badJWKSURL says what is wrong with a JWKS URL, or "". Plain http is only
// for a key server on this machine: anyone on the path could swap the keys.
func badJWKSURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "not an absolute URL"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if isLoopback(u.Hostname()) {
			return ""
		}
		return "must use https (plain http only for localhost): the keys decide who is signed in"
	}
	return "must be an https URL"
}

// InClearText reports whether deliveries to w travel unencrypted beyond
// this machine: plain http to a host that is not loopback. It is allowed
// (an SMS gateway inside the same private network is common), and worth a
// warning: the bodies carry codes and full phone numbers and emails.
func (w *Webhook) InClearText() bool {
	u, err := url.Parse(w.URL)
	return err == nil && u.Scheme == "http" && !isLoopback(u.Hostname())
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (r *Redis) validate(add func(string, ...any)) {
	validateAddresses("redis address", r.Addresses, add)
	if s := r.Sentinel; s != nil {
		if len(r.Addresses) > 0 {
			add("redis: address and sentinel are exclusive: give the Sentinels' addresses in the sentinel block")
		}
		refuseUnresolved("redis sentinel", s.MasterName, add)
		if s.MasterName == "" {
			add("redis sentinel: the master name is required")
		} else if strings.IndexFunc(s.MasterName, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			add("redis sentinel: the master name must not contain spaces or control characters")
		}
		if len(s.Addresses) == 0 {
			add("redis sentinel: at least one Sentinel address is required")
		}
		validateAddresses("redis sentinel address", s.Addresses, add)
	}
	switch r.ReadFrom {
	case "", ReadFromMaster, ReadFromReplicas:
	default:
		add("redis read_from: %q is neither %s nor %s", r.ReadFrom, ReadFromReplicas, ReadFromMaster)
	}
	if r.ReadFrom == ReadFromReplicas && r.Sentinel == nil && len(r.Addresses) < 2 {
		add("redis read_from: a single node has no replicas to read from; use sentinel or a Cluster")
	}
	if w := r.Wait; w != nil {
		if w.Replicas < 1 {
			add("redis wait: the number of replicas must be at least 1")
		}
		if time.Duration(w.Timeout) < time.Millisecond {
			add("redis wait: the timeout must be at least 1ms (WAIT counts in milliseconds, and 0 would wait for ever)")
		}
	}
	if r.DB < 0 {
		add("redis db: must not be negative")
	}
	if r.DB != 0 && len(r.Addresses) > 1 {
		add("redis db: a Redis Cluster (more than one address) has only db 0")
	}
	if r.KeyPrefix != "" {
		if msg := badKeyPart(r.KeyPrefix); msg != "" {
			add("redis key_prefix: %s", msg)
		}
	}
	if r.Timeout < 0 {
		add("redis timeout: must be positive (leave it out for the default, %s)", DefaultRedisTimeout)
	} else if belowMillisecond(r.Timeout) {
		add("redis timeout: must be at least 1ms: a Redis round trip and a dial take about that, so most requests would be 503")
	}
}

// belowMillisecond reports a duration set to less than Redis can keep:
// its expiries and windows count in whole milliseconds, so a shorter one
// would reach Redis as 0, which it refuses, failing every request that
// uses it. Zero is "unset", the default's.
func belowMillisecond(d caddy.Duration) bool {
	return d > 0 && time.Duration(d) < time.Millisecond
}

// validateAddresses checks that each of addrs is host:port.
func validateAddresses(what string, addrs []string, add func(string, ...any)) {
	for _, addr := range addrs {
		// A Redis URL (rediss://default:<password>@host:6380) is not
		// host:port either, but quoting it would put the password in
		// the error, which Caddy prints and logs.
		if at := strings.LastIndexByte(addr, '@'); at >= 0 {
			add("%s: %q is not host:port; give the user name and password as redis username and password, not in the address",
				what, "xxxxx@"+addr[at+1:])
			continue
		}
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			add("%s: %q is not host:port", what, addr)
			continue
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			add("%s: %q has no valid port", what, addr)
		}
	}
}

// badKeyPart says why s cannot be part of a Redis key, or "". A brace
// would move the hash tag that keeps one environment in one cluster slot.
func badKeyPart(s string) string {
	switch {
	case len(s) > 128:
		return "longer than 128 bytes"
	case strings.ContainsAny(s, "{}"):
		return "must not contain { or }: it is part of every Redis key's hash tag"
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return "must not contain spaces or control characters"
	}
	return ""
}

func (v *Verification) validate(add func(string, ...any)) {
	if v.Required != nil {
		validateChannels("verification required", *v.Required, add)
	}
	if v.Webhook != nil {
		if msg := badWebhookURL(v.Webhook.URL); msg != "" {
			add("verification webhook: %s", msg)
		}
	}
	if v.Webhook != nil && v.Log {
		add("verification: webhook and log are exclusive: choose one code sender")
	}
	if v.CodeTTL < 0 {
		add("verification code_ttl: must be positive (leave it out for the default, %s)", DefaultCodeTTL)
	} else if belowMillisecond(v.CodeTTL) {
		add("verification code_ttl: must be at least 1ms (Redis keeps it in milliseconds)")
	}
	if v.TokenTTL < 0 {
		add("verification token_ttl: must be positive (leave it out for the default, %s)", DefaultVerificationTokenTTL)
	} else if belowMillisecond(v.TokenTTL) {
		add("verification token_ttl: must be at least 1ms (Redis keeps it in milliseconds)")
	}
}

// badWebhookURL says what is wrong with a webhook URL, or "". The URL is
// not quoted back: it may carry credentials.
func badWebhookURL(raw string) string {
	if raw == "" {
		return "a URL is required"
	}
	if strings.Contains(raw, "{env.") || strings.Contains(raw, "{file.") {
		// As refuseUnresolved says, but without quoting the URL.
		return "holds a placeholder, which the URL does not resolve (only its secret does); write the URL, or use the Caddyfile's {$VAR}"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "must be an absolute http or https URL"
	}
	return ""
}

func (e *Events) validate(add func(string, ...any)) {
	if e.StreamMaxLen < 0 {
		add("events stream_max_len: must be positive (leave it out for the default, %d)", DefaultStreamMaxLen)
	}
	if w := e.Webhook; w != nil {
		if msg := badWebhookURL(w.URL); msg != "" {
			add("events webhook: %s", msg)
		}
		// Unlike a code delivery, an event is always signed: its receiver
		// acts on it (a changed email, revoked tokens), and anyone who can
		// reach the URL could forge one.
		if w.Secret == "" {
			add("events webhook: a secret is required: `webhook <url> <secret>` (receivers verify every event with it)")
		}
	}
	if e.RetryFor < 0 {
		add("events retry_for: must be positive (leave it out for the default, %s)", DefaultRetryFor)
	}
}

func (s *Sudo) validate(add func(string, ...any)) {
	if s.Sensitive != nil {
		validateChannels("sudo sensitive", *s.Sensitive, add)
	}
	if s.TokenTTL < 0 {
		add("sudo token_ttl: must be positive (leave it out for the default, %s)", DefaultSudoTokenTTL)
	} else if belowMillisecond(s.TokenTTL) {
		add("sudo token_ttl: must be at least 1ms (Redis keeps it in milliseconds)")
	}
	if s.MaxAuthAge < 0 {
		add("sudo max_auth_age: must not be negative (0 turns it off)")
	}
}

func (r *RateLimit) validate(add func(string, ...any)) {
	r.Edits.validate("rate_limit edits", add)
	r.Lookups.validate("rate_limit lookups", add)
}

// validate checks a limit that is set; nil is the default's to fill.
func (l *Limit) validate(directive string, add func(string, ...any)) {
	if l == nil {
		return
	}
	if l.Count <= 0 {
		add("%s: the count must be positive", directive)
	}
	if l.Window <= 0 {
		add("%s: the window must be positive", directive)
	} else if belowMillisecond(l.Window) {
		add("%s: the window must be at least 1ms (Redis keeps it in milliseconds)", directive)
	}
}

// validateChannels checks a list of contact channels: phone and email,
// each at most once.
func validateChannels(directive string, list []string, add func(string, ...any)) {
	for i := range list {
		if err := checkChannel(list, i); err != nil {
			add("%s: %v", directive, err)
		}
	}
}

// CheckChannels says what is wrong with a list of channels (verification
// required, sudo sensitive), or returns nil: each must be phone or email,
// once. The Caddyfile parser calls it to point at the line.
func CheckChannels(list []string) error {
	for i := range list {
		if err := checkChannel(list, i); err != nil {
			return err
		}
	}
	return nil
}

func checkChannel(list []string, i int) error {
	switch ch := list[i]; {
	case ch != ChannelPhone && ch != ChannelEmail:
		return fmt.Errorf("unknown channel %q (phone, email, or off)", ch)
	case slices.Contains(list[:i], ch):
		return fmt.Errorf("%s is listed twice", ch)
	}
	return nil
}
