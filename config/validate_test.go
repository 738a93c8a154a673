package config

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// valid is the smallest config that loads: an environment, an issuer, a key
// and a code sender for the secure defaults.
func valid() Config {
	return Config{
		EnvironmentID: "env-1",
		JWT:           JWT{Issuer: "https://issuer.example", PublicKeys: []string{"/keys/pub.pem"}},
		Verification:  Verification{Webhook: &Webhook{URL: "https://notify.example/codes"}},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(c *Config)
		errors []string // substrings, each expected; none: valid
	}{
		{name: "minimal", edit: func(c *Config) {}},
		{name: "everything set", edit: func(c *Config) {
			c.ClientIDs = []string{"web", "ios"}
			c.JWT = JWT{
				Issuer:      "iss",
				Audience:    []string{"api"},
				JWKSURL:     "https://idp.example/jwks.json",
				JWKSFile:    "/etc/jwks.json",
				PublicKeys:  []string{"/a.pem", "/b.pem"},
				Algorithms:  []string{"RS256", "ES512", "EdDSA"},
				Leeway:      leeway(time.Second),
				AdminScope:  "root",
				DeviceClaim: "did",
			}
			c.Redis = Redis{
				Addresses: []string{"redis.internal:6379"},
				Username:  "u",
				Password:  "{env.REDIS_PASSWORD}",
				DB:        3,
				TLS:       true,
				KeyPrefix: "ae",
				Timeout:   caddy.Duration(time.Second),
			}
			c.Verification = Verification{
				Required: &[]string{"email"},
				Webhook:  &Webhook{URL: "http://127.0.0.1:9/unused", Secret: "{file./run/secret}"},
				CodeTTL:  caddy.Duration(time.Minute),
				TokenTTL: caddy.Duration(time.Minute),
			}
			c.Sudo = Sudo{Sensitive: &[]string{"phone"}, TokenTTL: caddy.Duration(time.Minute), MaxAuthAge: caddy.Duration(time.Minute)}
			c.RateLimit.Edits = &Limit{Count: 1, Window: caddy.Duration(time.Second)}
		}},
		{name: "log sender", edit: func(c *Config) { c.Verification.Webhook = nil; c.Verification.Log = true }},
		{name: "events without webhook", edit: func(c *Config) { c.Events = &Events{} }},
		{name: "events with everything", edit: func(c *Config) {
			c.Events = &Events{StreamMaxLen: 10, RetryFor: caddy.Duration(time.Minute),
				Webhook: &Webhook{URL: "https://app.example/events", Secret: "{env.EVENTS_SECRET}"}}
		}},
		{name: "events negative stream_max_len", edit: func(c *Config) { c.Events = &Events{StreamMaxLen: -1} },
			errors: []string{"events stream_max_len: must be positive"}},
		{name: "events negative retry_for", edit: func(c *Config) { c.Events = &Events{RetryFor: -1} },
			errors: []string{"events retry_for: must be positive"}},
		{name: "events webhook not a URL", edit: func(c *Config) {
			c.Events = &Events{Webhook: &Webhook{URL: "app.example/events", Secret: "s"}}
		}, errors: []string{"events webhook: must be an absolute http or https URL"}},
		{name: "events webhook without secret", edit: func(c *Config) {
			c.Events = &Events{Webhook: &Webhook{URL: "https://app.example/events"}}
		}, errors: []string{"events webhook: a secret is required"}},
		{name: "jwks_url alone", edit: func(c *Config) { c.JWT.PublicKeys = nil; c.JWT.JWKSURL = "https://idp/jwks" }},
		{name: "jwks_file alone", edit: func(c *Config) { c.JWT.PublicKeys = nil; c.JWT.JWKSFile = "/jwks.json" }},
		{name: "jwks_url on localhost over http", edit: func(c *Config) { c.JWT.JWKSURL = "http://localhost:8080/jwks" }},
		{name: "jwks_url on 127.0.0.1 over http", edit: func(c *Config) { c.JWT.JWKSURL = "http://127.0.0.1:8080/jwks" }},
		{name: "jwks_url on ::1 over http", edit: func(c *Config) { c.JWT.JWKSURL = "http://[::1]:8080/jwks" }},
		{name: "redis cluster", edit: func(c *Config) { c.Redis.Addresses = []string{"a:7000", "b:7001"} }},
		{name: "redis address without host", edit: func(c *Config) { c.Redis.Addresses = []string{":6379"} }},
		{name: "redis sentinel", edit: func(c *Config) {
			c.Redis.Addresses = nil
			c.Redis.Sentinel = &Sentinel{MasterName: "mymaster", Addresses: []string{"s1:26379", "s2:26379"}, Password: "{env.S}"}
			c.Redis.ReadFrom = ReadFromReplicas
			c.Redis.Wait = &Wait{Replicas: 1, Timeout: caddy.Duration(100 * time.Millisecond)}
		}},
		{name: "redis read_from master", edit: func(c *Config) { c.Redis.ReadFrom = ReadFromMaster }},

		// Required values.
		{name: "no environment_id", edit: func(c *Config) { c.EnvironmentID = "" }, errors: []string{"environment_id is required"}},
		{name: "no issuer", edit: func(c *Config) { c.JWT.Issuer = "" }, errors: []string{"jwt issuer is required"}},
		{name: "no key source", edit: func(c *Config) { c.JWT.PublicKeys = nil }, errors: []string{"jwt: no key", "jwks_url, jwks_file or public_key"}},
		{name: "both missing", edit: func(c *Config) { c.EnvironmentID = ""; c.JWT.Issuer = "" }, errors: []string{"environment_id is required", "jwt issuer is required"}},

		// Names that become Redis keys.
		{name: "brace in environment_id", edit: func(c *Config) { c.EnvironmentID = "a{b}" }, errors: []string{"environment_id: must not contain { or }"}},
		{name: "space in environment_id", edit: func(c *Config) { c.EnvironmentID = "a b" }, errors: []string{"environment_id: must not contain spaces"}},
		{name: "control in environment_id", edit: func(c *Config) { c.EnvironmentID = "a\x00" }, errors: []string{"environment_id: must not contain spaces or control"}},
		{name: "long environment_id", edit: func(c *Config) { c.EnvironmentID = strings.Repeat("e", 129) }, errors: []string{"environment_id: longer than 128"}},
		{name: "brace in key_prefix", edit: func(c *Config) { c.Redis.KeyPrefix = "{x" }, errors: []string{"redis key_prefix: must not contain {"}},
		{name: "empty client id", edit: func(c *Config) { c.ClientIDs = []string{"web", ""} }, errors: []string{"client_ids: an empty client ID"}},

		// JWT.
		{name: "empty audience", edit: func(c *Config) { c.JWT.Audience = []string{""} }, errors: []string{"jwt audience: an empty value"}},
		{name: "empty public_key", edit: func(c *Config) { c.JWT.PublicKeys = []string{""} }, errors: []string{"jwt public_key: an empty file name"}},
		{name: "alg none", edit: func(c *Config) { c.JWT.Algorithms = []string{"RS256", "none"} }, errors: []string{`jwt algorithms: "none" is never accepted`}},
		{name: "alg NONE", edit: func(c *Config) { c.JWT.Algorithms = []string{"NONE"} }, errors: []string{`"NONE" is never accepted`}},
		{name: "alg HS256", edit: func(c *Config) { c.JWT.Algorithms = []string{"HS256"} }, errors: []string{`jwt algorithms: "HS256" is never accepted: HMAC`}},
		{name: "alg hs512", edit: func(c *Config) { c.JWT.Algorithms = []string{"hs512"} }, errors: []string{`"hs512" is never accepted: HMAC`}},
		{name: "alg unknown", edit: func(c *Config) { c.JWT.Algorithms = []string{"RS1"} }, errors: []string{`jwt algorithms: unknown algorithm "RS1"`}},
		{name: "alg wrong case", edit: func(c *Config) { c.JWT.Algorithms = []string{"rs256"} }, errors: []string{`unknown algorithm "rs256"`}},
		{name: "negative leeway", edit: func(c *Config) { c.JWT.Leeway = leeway(-time.Second) }, errors: []string{"jwt leeway: must not be negative"}},
		{name: "zero leeway is strict expiry", edit: func(c *Config) { c.JWT.Leeway = leeway(0) }},
		{name: "leeway of five minutes", edit: func(c *Config) { c.JWT.Leeway = leeway(MaxLeeway) }},
		{name: "leeway past five minutes", edit: func(c *Config) { c.JWT.Leeway = leeway(MaxLeeway + time.Second) },
			errors: []string{"jwt leeway: at most 5m0s"}},
		{name: "admin scope with space", edit: func(c *Config) { c.JWT.AdminScope = "a b" }, errors: []string{"jwt admin_scope: holds a space"}},
		{name: "device claim sub", edit: func(c *Config) { c.JWT.DeviceClaim = "sub" }, errors: []string{`jwt device_claim: "sub" is a registered claim`}},
		{name: "device claim Sub", edit: func(c *Config) { c.JWT.DeviceClaim = "Sub" }, errors: []string{`jwt device_claim: "Sub" is a registered claim`}},
		{name: "jwks_url relative", edit: func(c *Config) { c.JWT.JWKSURL = "/jwks.json" }, errors: []string{"jwt jwks_url: not an absolute URL"}},
		{name: "jwks_url ftp", edit: func(c *Config) { c.JWT.JWKSURL = "ftp://idp/jwks" }, errors: []string{"jwt jwks_url: must be an https URL"}},
		{name: "jwks_url remote http", edit: func(c *Config) { c.JWT.JWKSURL = "http://idp.example/jwks" }, errors: []string{"jwt jwks_url: must use https"}},
		{name: "jwks_url unparsable", edit: func(c *Config) { c.JWT.JWKSURL = "https://[::1" }, errors: []string{"jwt jwks_url: not an absolute URL"}},

		// Redis.
		{name: "address without port", edit: func(c *Config) { c.Redis.Addresses = []string{"redis"} }, errors: []string{`redis address: "redis" is not host:port`}},
		{name: "address with bad port", edit: func(c *Config) { c.Redis.Addresses = []string{"redis:x"} }, errors: []string{`redis address: "redis:x" has no valid port`}},
		{name: "address with port 0", edit: func(c *Config) { c.Redis.Addresses = []string{"redis:0"} }, errors: []string{"has no valid port"}},
		{name: "address with port 65536", edit: func(c *Config) { c.Redis.Addresses = []string{"redis:65536"} }, errors: []string{"has no valid port"}},
		{name: "negative db", edit: func(c *Config) { c.Redis.DB = -1 }, errors: []string{"redis db: must not be negative"}},
		{name: "db on a cluster", edit: func(c *Config) { c.Redis.Addresses = []string{"a:1", "b:2"}; c.Redis.DB = 1 }, errors: []string{"redis db: a Redis Cluster"}},
		{name: "negative timeout", edit: func(c *Config) { c.Redis.Timeout = caddy.Duration(-1) }, errors: []string{"redis timeout: must be positive"}},
		{name: "address and sentinel", edit: func(c *Config) {
			c.Redis.Addresses = []string{"redis:6379"}
			c.Redis.Sentinel = &Sentinel{MasterName: "m", Addresses: []string{"s:26379"}}
		},
			errors: []string{"redis: address and sentinel are exclusive"}},
		{name: "sentinel without name or addresses", edit: func(c *Config) { c.Redis.Addresses = nil; c.Redis.Sentinel = &Sentinel{} },
			errors: []string{"redis sentinel: the master name is required", "redis sentinel: at least one Sentinel address"}},
		{name: "sentinel name with a space", edit: func(c *Config) {
			c.Redis.Addresses = nil
			c.Redis.Sentinel = &Sentinel{MasterName: "my master", Addresses: []string{"s:26379"}}
		}, errors: []string{"redis sentinel: the master name must not contain spaces"}},
		{name: "sentinel bad address", edit: func(c *Config) {
			c.Redis.Addresses = nil
			c.Redis.Sentinel = &Sentinel{MasterName: "m", Addresses: []string{"s"}}
		}, errors: []string{`redis sentinel address: "s" is not host:port`}},
		{name: "read_from replicas of a single node", edit: func(c *Config) { c.Redis.ReadFrom = ReadFromReplicas },
			errors: []string{"redis read_from: a single node has no replicas"}},
		{name: "read_from replicas of a cluster", edit: func(c *Config) { c.Redis.Addresses = []string{"a:1", "b:2"}; c.Redis.ReadFrom = ReadFromReplicas }},
		{name: "read_from unknown", edit: func(c *Config) { c.Redis.ReadFrom = "replica" }, errors: []string{`redis read_from: "replica" is neither replicas nor master`}},
		{name: "wait without replicas", edit: func(c *Config) { c.Redis.Wait = &Wait{Timeout: caddy.Duration(time.Second)} },
			errors: []string{"redis wait: the number of replicas must be at least 1"}},
		{name: "wait without timeout", edit: func(c *Config) { c.Redis.Wait = &Wait{Replicas: 1} },
			errors: []string{"redis wait: the timeout must be at least 1ms"}},
		{name: "wait under a millisecond", edit: func(c *Config) { c.Redis.Wait = &Wait{Replicas: 1, Timeout: caddy.Duration(time.Microsecond)} },
			errors: []string{"redis wait: the timeout must be at least 1ms"}},

		// Verification.
		{name: "required unknown channel", edit: func(c *Config) { c.Verification.Required = &[]string{"sms"} }, errors: []string{`verification required: unknown channel "sms"`}},
		{name: "required twice", edit: func(c *Config) { c.Verification.Required = &[]string{"phone", "phone"} }, errors: []string{"verification required: phone is listed twice"}},
		{name: "webhook without url", edit: func(c *Config) { c.Verification.Webhook.URL = "" }, errors: []string{"verification webhook: a URL is required"}},
		{name: "webhook relative", edit: func(c *Config) { c.Verification.Webhook.URL = "/codes" }, errors: []string{"verification webhook: must be an absolute http or https URL"}},
		{name: "webhook mailto", edit: func(c *Config) { c.Verification.Webhook.URL = "mailto:a@b" }, errors: []string{"verification webhook: must be an absolute"}},
		{name: "webhook and log", edit: func(c *Config) { c.Verification.Log = true }, errors: []string{"verification: webhook and log are exclusive"}},
		{name: "negative code_ttl", edit: func(c *Config) { c.Verification.CodeTTL = caddy.Duration(-time.Minute) }, errors: []string{"verification code_ttl: must be positive"}},
		{name: "negative token_ttl", edit: func(c *Config) { c.Verification.TokenTTL = caddy.Duration(-time.Minute) }, errors: []string{"verification token_ttl: must be positive"}},

		// Sudo.
		{name: "sensitive unknown field", edit: func(c *Config) { c.Sudo.Sensitive = &[]string{"username"} }, errors: []string{`sudo sensitive: unknown channel "username"`}},
		{name: "sensitive twice", edit: func(c *Config) { c.Sudo.Sensitive = &[]string{"email", "email"} }, errors: []string{"sudo sensitive: email is listed twice"}},
		{name: "negative sudo token_ttl", edit: func(c *Config) { c.Sudo.TokenTTL = caddy.Duration(-1) }, errors: []string{"sudo token_ttl: must be positive"}},
		{name: "zero max_auth_age is off", edit: func(c *Config) { c.Sudo.MaxAuthAge = 0 }},
		{name: "negative max_auth_age", edit: func(c *Config) { c.Sudo.MaxAuthAge = caddy.Duration(-1) }, errors: []string{"sudo max_auth_age: must not be negative"}},

		// Rate limit.
		{name: "zero edits", edit: func(c *Config) { c.RateLimit.Edits = &Limit{Count: 0, Window: caddy.Duration(time.Minute)} }, errors: []string{"rate_limit edits: the count must be positive"}},
		{name: "negative edits", edit: func(c *Config) { c.RateLimit.Edits = &Limit{Count: -1, Window: caddy.Duration(time.Minute)} }, errors: []string{"rate_limit edits: the count must be positive"}},
		{name: "zero window", edit: func(c *Config) { c.RateLimit.Edits = &Limit{Count: 3} }, errors: []string{"rate_limit edits: the window must be positive"}},
		{name: "zero lookups", edit: func(c *Config) { c.RateLimit.Lookups = &Limit{Count: 0, Window: caddy.Duration(time.Minute)} }, errors: []string{"rate_limit lookups: the count must be positive"}},
		{name: "zero lookup window", edit: func(c *Config) { c.RateLimit.Lookups = &Limit{Count: 3} }, errors: []string{"rate_limit lookups: the window must be positive"}},

		// The secure defaults (docs/configuration.md#secure-defaults).
		{
			name: "default required without sender",
			edit: func(c *Config) { c.Verification.Webhook = nil; c.Sudo.Sensitive = &[]string{} },
			errors: []string{
				"verification: changing phone or email needs a verification code, but no code sender",
				"`webhook <url> [<secret>]`", "`log`", "`verification { required off }`",
			},
		},
		{
			name: "one required channel without sender",
			edit: func(c *Config) {
				c.Verification.Webhook = nil
				c.Verification.Required = &[]string{"email"}
				c.Sudo.Sensitive = &[]string{}
			},
			errors: []string{"changing email needs a verification code", "`verification { required off }`"},
		},
		{
			name:   "default sensitive without sender",
			edit:   func(c *Config) { c.Verification.Webhook = nil; c.Verification.Required = &[]string{} },
			errors: []string{"sudo: replacing or removing a bound phone or email needs secondary verification", "`sudo { max_auth_age <duration> }`", "`sudo { sensitive off }`"},
		},
		{
			name: "no sender at all",
			edit: func(c *Config) { c.Verification.Webhook = nil },
			errors: []string{
				"`verification { required off }`",
				"`sudo { sensitive off }`",
			},
		},
		{
			name: "both off without sender",
			edit: func(c *Config) {
				c.Verification.Webhook = nil
				c.Verification.Required = &[]string{}
				c.Sudo.Sensitive = &[]string{}
			},
		},
		{
			name: "max_auth_age satisfies sudo without sender",
			edit: func(c *Config) {
				c.Verification.Webhook = nil
				c.Verification.Required = &[]string{}
				c.Sudo.MaxAuthAge = caddy.Duration(5 * time.Minute)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(&c)
			check := func(when string, err error) {
				t.Helper()
				if len(tt.errors) == 0 {
					if err != nil {
						t.Fatalf("%s: unexpected error: %v", when, err)
					}
					return
				}
				if err == nil {
					t.Fatalf("%s: no error, want %q", when, tt.errors)
				}
				for _, want := range tt.errors {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s: error %q\nlacks %q", when, err, want)
					}
				}
			}
			check("before defaults", c.Validate())
			c.ApplyDefaults()
			check("after defaults", c.Validate())
		})
	}
}

// A broken config gets every problem in one go, not one per attempt.
func TestValidateReportsEveryProblem(t *testing.T) {
	c := Config{JWT: JWT{Algorithms: []string{"HS256"}}, Redis: Redis{DB: -1}}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"environment_id", "jwt issuer", "jwt: no key", "HS256", "redis db", "verification:", "sudo:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// Secrets and URLs that may carry credentials stay out of messages.
func TestValidateDoesNotQuoteSecrets(t *testing.T) {
	c := valid()
	c.Verification.Webhook = &Webhook{URL: "ftp://user:hunter2@notify/codes", Secret: "s3cret"}
	c.JWT.JWKSURL = "http://user:hunter3@idp.example/jwks"
	c.Redis.Password = "pa55"
	// A Redis URL given as an address, as providers hand them out.
	c.Redis.Addresses = []string{"rediss://default:hunter4@redis.example:6380", "default:hunter5@redis.example:6379"}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	s := valid()
	s.Redis.Addresses = nil
	s.Redis.Sentinel = &Sentinel{MasterName: "m", Addresses: []string{"redis://:hunter6@sentinel.example:26379"}}
	serr := s.Validate()
	if serr == nil {
		t.Fatal("no error for the Sentinel address")
	}
	for _, secret := range []string{"hunter2", "hunter3", "s3cret", "pa55", "hunter4", "hunter5", "hunter6"} {
		for _, err := range []error{err, serr} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error quotes %q: %v", secret, err)
			}
		}
	}
	for _, want := range []string{"redis.example:6380", "redis.example:6379"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name the address %s: %v", want, err)
		}
	}
}

// The minimal valid config alone leaves most of Validate unrun: the
// defaulted and the invalid configs reach the list, duration and policy
// checks, which are where a sort or trim in place would hide.
func TestValidateDoesNotChangeConfig(t *testing.T) {
	defaulted := valid()
	defaulted.ApplyDefaults()
	invalid := defaulted
	invalid.ClientIDs = []string{"b", "a", "b"}
	invalid.JWT.Audience = []string{" aud ", "aud"}
	invalid.JWT.Algorithms = []string{"RS256", "HS256", "none", "RS256"}
	invalid.Redis.Addresses = []string{"", "b:2", "a:1"}
	invalid.Sudo.Sensitive = &[]string{ChannelPhone, "fax", ChannelPhone}
	for name, c := range map[string]Config{"minimal": valid(), "defaulted": defaulted, "invalid": invalid} {
		before := clone(t, c)
		err := c.Validate()
		if (err == nil) != (name != "invalid") {
			t.Fatalf("%s: Validate = %v; the case does not test what it says", name, err)
		}
		b1, _ := json.Marshal(before)
		b2, _ := json.Marshal(c)
		if string(b1) != string(b2) {
			t.Errorf("%s: Validate changed the config:\n%s\n%s", name, b1, b2)
		}
	}
}

// FuzzValidate feeds Validate arbitrary JSON configs: it must not panic,
// and must give the same verdict before and after ApplyDefaults, since an
// unset value stands for its default.
func FuzzValidate(f *testing.F) {
	seed, _ := json.Marshal(valid())
	f.Add(string(seed))
	f.Add(`{}`)
	f.Add(`{"environment_id":"e","jwt":{"issuer":"i","jwks_url":"http://[::1]/x","algorithms":["none","HS256","ES512"]}}`)
	f.Add(`{"verification":{"required":[],"log":true},"sudo":{"sensitive":["phone","phone"],"max_auth_age":"-1s"}}`)
	f.Add(`{"redis":{"addresses":["a:1","b:2"],"db":2,"timeout":"1d2h"},"rate_limit":{"edits":{"count":0}}}`)
	f.Fuzz(func(t *testing.T, raw string) {
		var c Config
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return
		}
		before := c.Validate()
		c.ApplyDefaults()
		after := c.Validate()
		if (before == nil) != (after == nil) {
			t.Fatalf("verdict changed with defaults: before %v, after %v", before, after)
		}
	})
}

// A secret placeholder ({env.*}, {file.*}) in a setting that does not
// resolve one is refused, naming the setting. Taken as written it loaded
// and then named a claim, scope, audience, master or URL that nothing
// has: a device_claim of {env.DEVICE_CLAIM} turned device binding off.
// The settings that resolve them stay free to use them.
func TestValidateRefusesUnresolvedPlaceholders(t *testing.T) {
	tests := []struct {
		name, want string
		edit       func(c *Config)
	}{
		{"admin_scope", "jwt admin_scope", func(c *Config) { c.JWT.AdminScope = "{env.ADMIN_SCOPE}" }},
		{"device_claim", "jwt device_claim", func(c *Config) { c.JWT.DeviceClaim = "{env.DEVICE_CLAIM}" }},
		{"sentinel master", "redis sentinel", func(c *Config) {
			c.Redis.Sentinel = &Sentinel{MasterName: "{env.MASTER}", Addresses: []string{"s:26379"}}
		}},
		{"verification webhook URL", "verification webhook", func(c *Config) {
			c.Verification.Webhook = &Webhook{URL: "https://hooks.example/{env.HOOK_TOKEN}"}
		}},
		{"events webhook URL", "events webhook", func(c *Config) {
			c.Events = &Events{Webhook: &Webhook{URL: "https://hooks.example/{file./run/hook}", Secret: "s"}}
		}},
		{"protect_scope", "identity protect_scope", func(c *Config) {
			c.Identity = &Identity{ProtectScope: []ProtectScope{{Scope: "{env.SCOPE}", Paths: []string{"/a/*"}}}}
		}},
		{"header source", "identity header X-Tenant", func(c *Config) {
			c.Identity = &Identity{Headers: []IdentityHeader{{Name: "X-Tenant", Source: "{env.TENANT_CLAIM}"}}}
		}},
		{"assertion audience", "identity assertion audience", func(c *Config) {
			c.Identity = &Identity{Assertion: &Assertion{Key: "/k.pem", Audience: "{env.APP}"}}
		}},
		{"assertion claims", "identity assertion claims", func(c *Config) {
			c.Identity = &Identity{Assertion: &Assertion{Key: "/k.pem", Claims: []string{"{env.CLAIM}"}}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want+": ") || !strings.Contains(err.Error(), "placeholder") {
				t.Errorf("error = %v, want one naming %s and the placeholder", err, tt.want)
			}
		})
	}

	c := valid()
	c.Redis.Username = "{env.REDIS_USER}"
	c.Redis.Password = "{env.REDIS_PASSWORD}"
	c.Verification.Webhook.Secret = "{file./run/secret}"
	c.Events = &Events{Webhook: &Webhook{URL: "https://hooks.example/events", Secret: "{env.EVENTS_SECRET}"}}
	c.Redis.Addresses = nil
	c.Redis.Sentinel = &Sentinel{MasterName: "m", Addresses: []string{"s:26379"}, Password: "{env.SENTINEL_PASSWORD}"}
	if err := c.Validate(); err != nil {
		t.Errorf("placeholders where they are resolved: %v", err)
	}
}
