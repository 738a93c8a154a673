// Package config holds authedge's typed configuration: the tree that Caddy's
// JSON config unmarshals into, its defaults and its validation. It parses no
// Caddyfile and opens no connection; caddymodule does both.
//
// Durations are caddy.Duration, as in Caddy's own modules: in JSON, integer
// nanoseconds or a string such as "500ms", "10m" or "1d". A duration left
// out, or given as 0, takes its default, except where zero has a meaning of
// its own (JWT.Leeway, a pointer, where 0 means strict expiry).
package config

import "github.com/caddyserver/caddy/v2"

// Duration is caddy.Duration under a shorter name, for code that builds a
// Config: an alias, not a type of its own, so it reads and writes JSON as
// Caddy's modules do.
type Duration = caddy.Duration

// Config is the whole authedge configuration of one handler instance.
type Config struct {
	// EnvironmentID names the CloudBase environment. It is the default
	// client_id and the Redis namespace (the hash tag of every key).
	// Required.
	EnvironmentID string `json:"environment_id,omitempty"`

	// ClientIDs are further accepted values of the client_id query
	// parameter, beside EnvironmentID.
	ClientIDs []string `json:"client_ids,omitempty"`

	// JWT configures access-token verification.
	JWT JWT `json:"jwt,omitzero"`

	// Redis configures the profile store.
	Redis Redis `json:"redis,omitzero"`

	// Verification configures verification codes for contact changes.
	Verification Verification `json:"verification,omitzero"`

	// Sudo configures secondary verification for sensitive changes.
	Sudo Sudo `json:"sudo,omitzero"`

	// RateLimit bounds how often one caller may edit.
	RateLimit RateLimit `json:"rate_limit,omitzero"`

	// Events, when set, turns change events on: every acknowledged change
	// is appended to the environment's Redis Stream by the script that
	// makes it, and, with a webhook, delivered to the app. Nil: no events
	// are written (docs/events.md).
	Events *Events `json:"events,omitempty"`

	// Identity makes authedge the identity edge of the app behind it
	// (docs/identity.md). Nil: the app's requests pass untouched.
	Identity *Identity `json:"identity,omitempty"`
}

// JWT configures how access tokens are verified.
type JWT struct {
	// Issuer is the required value of the token's iss claim. Required.
	Issuer string `json:"issuer,omitempty"`

	// Audience, if set, lists accepted aud values: the token's aud must
	// contain one of them. If unset, aud must contain the request's
	// effective client_id.
	Audience []string `json:"audience,omitempty"`

	// JWKSURL is a remote JWK Set, cached and refreshed; an unknown kid, or
	// a token without a kid that no key verifies, triggers a refresh, at
	// most one fetch per 5 seconds.
	JWKSURL string `json:"jwks_url,omitempty"`

	// JWKSFile is the path of a local JWK Set.
	JWKSFile string `json:"jwks_file,omitempty"`

	// PublicKeys are paths of PEM files holding RSA, EC or Ed25519 public
	// keys. They have no kid, so each is tried for any token.
	PublicKeys []string `json:"public_keys,omitempty"`

	// Algorithms are the accepted JWS algorithms. The token's alg header
	// must be one of them; none and HMAC algorithms are never accepted.
	// Default: RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA.
	Algorithms []string `json:"algorithms,omitempty"`

	// Leeway is the clock skew allowed for exp, nbf, iat and auth_time.
	// Unset (nil) means the default, 30s; 0 means none: a token is refused
	// from the very second its exp has passed. Read it with
	// EffectiveLeeway.
	Leeway *caddy.Duration `json:"leeway,omitempty"`

	// AdminScope is the scope, read from the space-separated scope claim,
	// that lets a caller act on other users. Default "admin".
	AdminScope string `json:"admin_scope,omitempty"`

	// DeviceClaim names the claim that binds a token to a device: when the
	// token carries it, the x-device-id header must equal it. Default
	// "device_id".
	DeviceClaim string `json:"device_claim,omitempty"`
}

// Redis configures the connection to the profile store.
type Redis struct {
	// Addresses are host:port pairs. One address is a single node; more
	// than one is a Redis Cluster. Default 127.0.0.1:6379, unless Sentinel
	// is set: the two are exclusive.
	Addresses []string `json:"addresses,omitempty"`

	// Sentinel, instead of Addresses, finds the master through Redis
	// Sentinel and follows it when Sentinel fails it over to a replica
	// (docs/topologies.md).
	Sentinel *Sentinel `json:"sentinel,omitempty"`

	// Username for Redis ACL authentication.
	Username string `json:"username,omitempty"`

	// Password for Redis authentication. Caddy placeholders such as
	// {env.VAR} and {file./path} are resolved at provision time.
	Password string `json:"password,omitempty"`

	// DB is the database number, for a single node or a Sentinel-managed
	// master; a Redis Cluster has only database 0.
	DB int `json:"db,omitempty"`

	// TLS connects to Redis over TLS.
	TLS bool `json:"tls,omitempty"`

	// KeyPrefix starts every key. Default "authedge".
	KeyPrefix string `json:"key_prefix,omitempty"`

	// Timeout bounds each Redis operation (dial, read, write); at least
	// 1ms. Default 500ms; 0 means the default (the Caddyfile refuses
	// `timeout 0`).
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// ReadFrom is where the reads that may lag go: "master" (the default,
	// also when empty) or "replicas". With "replicas", GET
	// /auth/v1/user/me may show a profile as old as the replica's lag; a
	// read that decides a write (sudo, the current values an edit checks)
	// always goes to the master.
	ReadFrom string `json:"read_from,omitempty"`

	// Wait, if set, acknowledges a write only once that many replicas have
	// it (Redis WAIT after each write script); fewer in time is 503
	// unavailable, and the write may stand on the master. Off by default.
	Wait *Wait `json:"wait,omitempty"`
}

// The values of Redis.ReadFrom.
const (
	ReadFromMaster   = "master"
	ReadFromReplicas = "replicas"
)

// Sentinel names a Sentinel-managed master and the Sentinels that know it.
type Sentinel struct {
	// MasterName is the name the Sentinels monitor the master under.
	MasterName string `json:"master_name,omitempty"`

	// Addresses are the Sentinels' host:port pairs; one is enough, more
	// survive a Sentinel being down.
	Addresses []string `json:"addresses,omitempty"`

	// Password is the Sentinels' own (requirepass of sentinel.conf), if
	// any; the master's is Redis.Password. Placeholders {env.VAR} and
	// {file./path} are resolved at provision time.
	Password string `json:"password,omitempty"`
}

// Wait is Redis WAIT's numreplicas and timeout.
type Wait struct {
	// Replicas is how many replicas must confirm a write; at least 1.
	Replicas int `json:"replicas,omitempty"`

	// Timeout is how long to wait for them; at least 1ms. An operation
	// may take Redis.Timeout plus this.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// Verification configures contact verification codes.
type Verification struct {
	// Required lists the contact channels ("phone", "email") whose change
	// to a new non-empty value needs a verification_token. Nil means the
	// default, phone and email; an empty list (Caddyfile: required off)
	// turns verification off.
	Required *[]string `json:"required,omitempty"`

	// Webhook delivers codes by POSTing JSON to a URL.
	Webhook *Webhook `json:"webhook,omitempty"`

	// Log delivers codes to the log. For development only: it logs
	// secrets, and warns so at start.
	Log bool `json:"log,omitempty"`

	// CodeTTL is how long a sent code can be verified; at least 1ms.
	// Default 10m; 0 means the default (the Caddyfile refuses
	// `code_ttl 0`).
	CodeTTL caddy.Duration `json:"code_ttl,omitempty"`

	// TokenTTL is how long a verification_token stays usable; at least
	// 1ms. Default 10m; 0 means the default (the Caddyfile refuses
	// `token_ttl 0`).
	TokenTTL caddy.Duration `json:"token_ttl,omitempty"`
}

// Webhook is a code-delivery endpoint.
type Webhook struct {
	// URL receives a POST with the JSON message for each code.
	URL string `json:"url,omitempty"`

	// Secret, if set, signs each delivery the Standard Webhooks way
	// (webhook-id, webhook-timestamp, webhook-signature; docs/webhooks.md).
	// "whsec_" followed by standard padded base64 is that spec's form (a
	// "whsec_" secret that is not such base64 is refused); any other string is
	// used as its own bytes. Placeholders {env.VAR} and {file./path} are
	// resolved at provision time.
	Secret string `json:"secret,omitempty"`
}

// Sudo configures secondary verification.
type Sudo struct {
	// Sensitive lists the fields ("phone", "email") whose already bound
	// value may only be replaced or removed with secondary verification.
	// Nil means the default, phone and email; an empty list (Caddyfile:
	// sensitive off) turns sudo off.
	Sensitive *[]string `json:"sensitive,omitempty"`

	// TokenTTL is how long a sudo_token stays valid; at least 1ms.
	// Default 15m; 0 means the default (the Caddyfile refuses
	// `token_ttl 0`).
	TokenTTL caddy.Duration `json:"token_ttl,omitempty"`

	// MaxAuthAge, if set, lets an access token whose auth_time is at most
	// this old count as secondary verification. 0, the default, turns it
	// off: only a sudo_token counts.
	MaxAuthAge caddy.Duration `json:"max_auth_age,omitempty"`
}

// RateLimit bounds edits per caller and username lookups per client IP.
type RateLimit struct {
	// Edits is how many edits one caller may make per window; default 30
	// per 1m.
	Edits *Limit `json:"edits,omitempty"`

	// Lookups is how many GET /auth/v1/checkIfUserExist and
	// /auth/v1/checkUsername, and code requests other than CUR_USER
	// (their is_user or NOT_USER's 409 tells whether a contact is
	// registered), together, one client IP (as Caddy determines it,
	// honouring trusted_proxies, which needs trusted_proxies_strict; an
	// IPv6 address counts with its /64) may make per window; default 30
	// per 1m. Without it anyone could walk the username index, and many
	// accounts behind one IP the phone numbers.
	Lookups *Limit `json:"lookups,omitempty"`
}

// Limit is a count per window.
type Limit struct {
	// Count is how many events the window allows.
	Count int `json:"count,omitempty"`
	// Window is the length of the window, at least 1ms. Required: a
	// limit with no window (or a window of 0) is refused.
	Window caddy.Duration `json:"window,omitempty"`
}

// Events configures change events (docs/events.md).
type Events struct {
	// StreamMaxLen bounds the environment's event stream: each append trims
	// it to about this many entries (XADD MAXLEN ~). Default 1000000.
	StreamMaxLen int64 `json:"stream_max_len,omitempty"`

	// Webhook, if set, receives every event, signed the Standard Webhooks
	// way with its secret, at least once and in stream order per user. The
	// Caddy instances sharing a Redis share the deliveries.
	Webhook *Webhook `json:"webhook,omitempty"`

	// RetryFor is how long a failing delivery is retried, with backoff,
	// before the event is parked in the dead-letter list. Default 24h.
	RetryFor caddy.Duration `json:"retry_for,omitempty"`
}
