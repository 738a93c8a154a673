package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// validateCaddyfile does what `caddy validate` does with a Caddyfile:
// adapt it, then load every module (Provision, Validate) and unload it.
func validateCaddyfile(t *testing.T, text string) error {
	t.Helper()
	// Caddy's data and config directories, which the tls app touches.
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return err
	}
	var cfg caddy.Config
	if err := caddy.StrictUnmarshalJSON(adapted, &cfg); err != nil {
		t.Fatalf("adapted config does not decode: %v", err)
	}
	return caddy.Validate(&cfg)
}

func TestCaddyValidate(t *testing.T) {
	_, pub := devKeys(t, "rsa")
	site := func(authedge string) string {
		return "{\n admin off\n}\n:0 {\n authedge {\n" + authedge + "\n }\n respond ok\n}\n"
	}
	jwt := "environment_id env\n jwt {\n issuer iss\n public_key " + pub + "\n }\n"

	tests := []struct {
		name      string
		caddyfile string
		want      []string // substrings of the error; none: valid
	}{
		{name: "valid", caddyfile: site(jwt + "verification {\n log\n }")},
		{name: "valid without sender when both are off", caddyfile: site(jwt + "verification {\n required off\n }\n sudo {\n sensitive off\n }")},
		{
			name:      "no sender",
			caddyfile: site(jwt),
			want:      []string{"`webhook <url> [<secret>]`", "`verification { required off }`", "`sudo { sensitive off }`"},
		},
		{name: "no issuer", caddyfile: site("environment_id env\n verification {\n log\n }\n jwt {\n public_key " + pub + "\n }"), want: []string{"jwt issuer is required"}},
		{name: "key that does not parse", caddyfile: site("environment_id env\n jwt {\n issuer iss\n public_key /nonexistent/key.pem\n }\n verification {\n log\n }"), want: []string{"jwt public_key: ", "/nonexistent/key.pem"}},
		{name: "HMAC algorithm", caddyfile: site("environment_id env\n jwt {\n issuer iss\n public_key " + pub + "\n algorithms HS256\n }\n verification {\n log\n }"), want: []string{`jwt algorithms: "HS256" is never accepted`}},
		{name: "repeated subdirective", caddyfile: site(jwt + "verification {\n log\n log\n }"), want: []string{"authedge verification: log is given twice", "Caddyfile:"}},
		{name: "unknown subdirective", caddyfile: site(jwt + "verification {\n log\n }\n cache 10"), want: []string{`authedge: unrecognized subdirective "cache"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateCaddyfile(t, tt.caddyfile)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("caddy validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("caddy validate passed, want %q", tt.want)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

// The module's JSON config is strict: an unknown field fails the load.
func TestUnknownJSONFieldFails(t *testing.T) {
	var h Handler
	err := caddy.StrictUnmarshalJSON(json.RawMessage(`{"environment_id":"e","jwt":{"issuer":"i","secret":"x"}}`), &h)
	if err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("unknown field: %v", err)
	}
}

// A duration Redis keeps (an expiry, a rate window) counts in whole
// milliseconds, and an assertion's exp in whole seconds: a shorter one
// used to load and then fail every request it served (a 500 for
// `code_ttl 500us`, whose SET ... PX 0 Redis refuses; an assertion
// already expired when the app got it). It is refused at load, naming
// the directive.
func TestDurationsTooShortToKeepAreRefused(t *testing.T) {
	_, pub := devKeys(t, "rsa")
	site := func(authedge string) string {
		return "{\n admin off\n}\n:0 {\n authedge {\n environment_id env\n jwt {\n issuer iss\n public_key " + pub +
			"\n }\n " + authedge + "\n }\n respond ok\n}\n"
	}
	tests := []struct{ caddyfile, want string }{
		{"verification {\n log\n code_ttl 500us\n }", "verification code_ttl: must be at least 1ms"},
		{"verification {\n log\n token_ttl 1ns\n }", "verification token_ttl: must be at least 1ms"},
		{"verification {\n log\n }\n sudo {\n token_ttl 999us\n }", "sudo token_ttl: must be at least 1ms"},
		{"verification {\n log\n }\n rate_limit {\n edits 30 500us\n }", "rate_limit edits: the window must be at least 1ms"},
		{"verification {\n log\n }\n rate_limit {\n lookups 30 1ns\n }", "rate_limit lookups: the window must be at least 1ms"},
		{"verification {\n log\n }\n redis {\n timeout 1ns\n }", "redis timeout: must be at least 1ms"},
		{"verification {\n log\n }\n identity {\n assertion {\n key /nonexistent.pem\n ttl 500ms\n }\n }", "identity assertion ttl: must be at least 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			err := validateCaddyfile(t, site(tt.caddyfile))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("caddy validate: %v\nwant an error with %q", err, tt.want)
			}
		})
	}
	// The shortest that Redis keeps still loads.
	if err := validateCaddyfile(t, site("verification {\n log\n code_ttl 1ms\n }\n rate_limit {\n edits 30 1ms\n }")); err != nil {
		t.Errorf("1ms: %v", err)
	}
}
