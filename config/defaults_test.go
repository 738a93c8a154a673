package config

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestApplyDefaultsFillsSpecDefaults(t *testing.T) {
	var c Config
	c.ApplyDefaults()

	want := Config{
		JWT: JWT{
			Algorithms:  []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"},
			Leeway:      leeway(30 * time.Second),
			AdminScope:  "admin",
			DeviceClaim: "device_id",
		},
		Redis: Redis{
			Addresses: []string{"127.0.0.1:6379"},
			KeyPrefix: "authedge",
			Timeout:   caddy.Duration(500 * time.Millisecond),
		},
		Verification: Verification{
			Required: &[]string{"phone", "email"},
			CodeTTL:  caddy.Duration(10 * time.Minute),
			TokenTTL: caddy.Duration(10 * time.Minute),
		},
		Sudo: Sudo{
			Sensitive: &[]string{"phone", "email"},
			TokenTTL:  caddy.Duration(15 * time.Minute),
		},
		RateLimit: RateLimit{
			Edits:   &Limit{Count: 30, Window: caddy.Duration(time.Minute)},
			Lookups: &Limit{Count: 30, Window: caddy.Duration(time.Minute)},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

// Events stay off unless asked for; an events block gets its defaults.
func TestApplyDefaultsEvents(t *testing.T) {
	var off Config
	off.ApplyDefaults()
	if off.Events != nil {
		t.Errorf("no events block became %+v", off.Events)
	}
	on := Config{Events: &Events{}}
	on.ApplyDefaults()
	if want := (Events{StreamMaxLen: 1000000, RetryFor: caddy.Duration(24 * time.Hour)}); !reflect.DeepEqual(*on.Events, want) {
		t.Errorf("events defaults: got %+v, want %+v", *on.Events, want)
	}
	set := Config{Events: &Events{StreamMaxLen: 5, RetryFor: caddy.Duration(time.Second)}}
	set.ApplyDefaults()
	if set.Events.StreamMaxLen != 5 || set.Events.RetryFor != caddy.Duration(time.Second) {
		t.Errorf("events values replaced: %+v", *set.Events)
	}
}

func TestApplyDefaultsKeepsWhatIsSet(t *testing.T) {
	c := Config{
		JWT: JWT{
			Algorithms:  []string{"ES256"},
			Leeway:      leeway(time.Second),
			AdminScope:  "root",
			DeviceClaim: "did",
		},
		Redis: Redis{
			Addresses: []string{"redis:6380"},
			KeyPrefix: "p",
			Timeout:   caddy.Duration(time.Second),
		},
		Verification: Verification{
			Required: &[]string{}, // required off
			CodeTTL:  caddy.Duration(time.Minute),
			TokenTTL: caddy.Duration(2 * time.Minute),
		},
		Sudo: Sudo{
			Sensitive:  &[]string{}, // sensitive off
			TokenTTL:   caddy.Duration(3 * time.Minute),
			MaxAuthAge: caddy.Duration(5 * time.Minute),
		},
		RateLimit: RateLimit{
			Edits:   &Limit{Count: 5, Window: caddy.Duration(time.Hour)},
			Lookups: &Limit{Count: 7, Window: caddy.Duration(10 * time.Second)},
		},
	}
	before := clone(t, c)
	c.ApplyDefaults()
	if !reflect.DeepEqual(c, before) {
		t.Errorf("ApplyDefaults changed set values:\n got %+v\nwant %+v", c, before)
	}
	if got := c.Verification.RequiredChannels(); len(got) != 0 {
		t.Errorf("required off became %v", got)
	}
	if got := c.Sudo.SensitiveFields(); len(got) != 0 {
		t.Errorf("sensitive off became %v", got)
	}
}

func TestApplyDefaultsIsIdempotent(t *testing.T) {
	var once, twice Config
	once.ApplyDefaults()
	twice.ApplyDefaults()
	twice.ApplyDefaults()
	if !reflect.DeepEqual(once, twice) {
		t.Errorf("second ApplyDefaults changed the config:\n%+v\n%+v", once, twice)
	}
}

// Two configs must not share a default list: one handler changing its
// own must not change another's.
func TestApplyDefaultsSharesNoLists(t *testing.T) {
	var a, b Config
	a.ApplyDefaults()
	b.ApplyDefaults()
	a.JWT.Algorithms[0] = "changed"
	a.Redis.Addresses[0] = "changed"
	(*a.Verification.Required)[0] = "changed"
	(*a.Sudo.Sensitive)[0] = "changed"
	a.RateLimit.Edits.Count = 1
	a.RateLimit.Lookups.Count = 1
	if b.JWT.Algorithms[0] != "RS256" || b.Redis.Addresses[0] != DefaultRedisAddress ||
		(*b.Verification.Required)[0] != "phone" || (*b.Sudo.Sensitive)[0] != "phone" ||
		b.RateLimit.Edits.Count != DefaultEditCount || b.RateLimit.Lookups.Count != DefaultLookupCount {
		t.Errorf("configs share default storage: %+v", b)
	}
	if DefaultAlgorithms()[0] != "RS256" || DefaultChannels()[0] != "phone" {
		t.Error("a config's list aliases the package defaults")
	}
}

func TestAccessors(t *testing.T) {
	tests := []struct {
		name      string
		v         Verification
		s         Sudo
		required  []string
		sensitive []string
		hasSender bool
	}{
		{name: "unset", required: []string{"phone", "email"}, sensitive: []string{"phone", "email"}},
		{
			name:      "off",
			v:         Verification{Required: &[]string{}},
			s:         Sudo{Sensitive: &[]string{}},
			required:  []string{},
			sensitive: []string{},
		},
		{
			name:      "one each, webhook",
			v:         Verification{Required: &[]string{"email"}, Webhook: &Webhook{URL: "https://x"}},
			s:         Sudo{Sensitive: &[]string{"phone"}},
			required:  []string{"email"},
			sensitive: []string{"phone"},
			hasSender: true,
		},
		{
			name:      "log",
			v:         Verification{Log: true},
			required:  []string{"phone", "email"},
			sensitive: []string{"phone", "email"},
			hasSender: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.RequiredChannels(); !reflect.DeepEqual(got, tt.required) {
				t.Errorf("RequiredChannels = %v, want %v", got, tt.required)
			}
			if got := tt.s.SensitiveFields(); !reflect.DeepEqual(got, tt.sensitive) {
				t.Errorf("SensitiveFields = %v, want %v", got, tt.sensitive)
			}
			if got := tt.v.HasSender(); got != tt.hasSender {
				t.Errorf("HasSender = %v, want %v", got, tt.hasSender)
			}
		})
	}
}

// The JSON shape is Caddy's config: an empty config marshals to {}, and
// the "off" lists survive a round trip as empty lists, not as unset.
func TestJSONShape(t *testing.T) {
	b, err := json.Marshal(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "{}" {
		t.Errorf("empty config marshals to %s, want {}", b)
	}

	c := Config{
		EnvironmentID: "env",
		Verification:  Verification{Required: &[]string{}},
		Sudo:          Sudo{Sensitive: &[]string{}, MaxAuthAge: caddy.Duration(time.Minute)},
	}
	b, err = json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"environment_id":"env","verification":{"required":[]},"sudo":{"sensitive":[],"max_auth_age":60000000000}}`
	if string(b) != want {
		t.Errorf("marshal:\n got %s\nwant %s", b, want)
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, c)
	}
}

func clone(t *testing.T, c Config) Config {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var out Config
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
