package config

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// leeway returns a pointer to d, as JWT.Leeway holds it.
func leeway(d time.Duration) *caddy.Duration {
	cd := caddy.Duration(d)
	return &cd
}

func durationPtr(d time.Duration) *time.Duration { return &d }

// Durations read as caddy.Duration reads them: integer nanoseconds (what
// the Caddyfile adapter writes, so every existing JSON config) or a string,
// days included.
func TestDurationsJSON(t *testing.T) {
	tests := []struct {
		in      string
		timeout time.Duration
		leeway  *time.Duration // nil: unset
		bad     bool
	}{
		{in: `{}`},
		{in: `{"redis":{"timeout":500000000}}`, timeout: 500 * time.Millisecond},
		{in: `{"redis":{"timeout":"1d"}}`, timeout: 24 * time.Hour},
		{in: `{"redis":{"timeout":"1d12h"}}`, timeout: 36 * time.Hour},
		{in: `{"redis":{"timeout":"750ms"}}`, timeout: 750 * time.Millisecond},
		{in: `{"jwt":{"leeway":0}}`, leeway: durationPtr(0)},
		{in: `{"jwt":{"leeway":"0s"}}`, leeway: durationPtr(0)},
		{in: `{"jwt":{"leeway":"45s"}}`, leeway: durationPtr(45 * time.Second)},
		{in: `{"redis":{"timeout":"10"}}`, bad: true},
		{in: `{"redis":{"timeout":"soon"}}`, bad: true},
		{in: `{"redis":{"timeout":1.5}}`, bad: true},
		{in: `{"jwt":{"leeway":true}}`, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var c Config
			err := json.Unmarshal([]byte(tt.in), &c)
			if tt.bad {
				if err == nil {
					t.Fatalf("unmarshal %s: no error", tt.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("unmarshal %s: %v", tt.in, err)
			}
			if got := time.Duration(c.Redis.Timeout); got != tt.timeout {
				t.Errorf("timeout = %v, want %v", got, tt.timeout)
			}
			switch {
			case tt.leeway == nil && c.JWT.Leeway != nil:
				t.Errorf("leeway = %v, want unset", time.Duration(*c.JWT.Leeway))
			case tt.leeway != nil && c.JWT.Leeway == nil:
				t.Errorf("leeway unset, want %v", *tt.leeway)
			case tt.leeway != nil && time.Duration(*c.JWT.Leeway) != *tt.leeway:
				t.Errorf("leeway = %v, want %v", time.Duration(*c.JWT.Leeway), *tt.leeway)
			}
		})
	}
}

// A leeway of zero is kept apart from an unset one through defaults and a
// JSON round trip: zero means strict expiry, unset means 30s.
func TestZeroLeewayIsNotUnset(t *testing.T) {
	strict := Config{JWT: JWT{Leeway: leeway(0)}}
	b, err := json.Marshal(strict)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"jwt":{"leeway":0}}`; string(b) != want {
		t.Errorf("marshal = %s, want %s", b, want)
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	back.ApplyDefaults()
	if got := back.JWT.EffectiveLeeway(); got != 0 {
		t.Errorf("leeway 0 after round trip and defaults = %v, want 0", got)
	}

	var unset Config
	if got := unset.JWT.EffectiveLeeway(); got != DefaultLeeway {
		t.Errorf("unset leeway = %v, want %v", got, DefaultLeeway)
	}
	unset.ApplyDefaults()
	if got := unset.JWT.EffectiveLeeway(); got != DefaultLeeway {
		t.Errorf("unset leeway after defaults = %v, want %v", got, DefaultLeeway)
	}
}
