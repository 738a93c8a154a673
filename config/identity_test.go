package config

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func validIdentityConfig() *Config {
	off := []string{}
	return &Config{
		EnvironmentID: "env",
		JWT:           JWT{Issuer: "iss", PublicKeys: []string{"k.pem"}},
		Verification:  Verification{Required: &off},
		Sudo:          Sudo{Sensitive: &off},
		Identity: &Identity{
			Protect:      []string{"/app/*"},
			ProtectScope: []ProtectScope{{Scope: "admin", Paths: []string{"/admin/*"}}},
			Headers:      []IdentityHeader{{Name: "X-User-Id", Source: "sub"}, {Name: "X-Nick", Source: "profile.nickname"}},
			Assertion:    &Assertion{Key: "a.pem", Claims: []string{"tenant", "profile.email"}},
		},
	}
}

func TestIdentityDefaults(t *testing.T) {
	c := validIdentityConfig()
	c.ApplyDefaults()
	a := c.Identity.Assertion
	if a.Header != "X-Authedge-Assertion" || a.Audience != "env" || time.Duration(a.TTL) != time.Minute {
		t.Errorf("defaults: header %q audience %q ttl %v", a.Header, a.Audience, time.Duration(a.TTL))
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestIdentityValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Identity)
		want string
	}{
		{"ttl over 5m", func(id *Identity) { id.Assertion.TTL = caddy.Duration(5*time.Minute + time.Second) }, "identity assertion ttl: 5m1s is over the maximum of 5m0s"},
		{"negative ttl", func(id *Identity) { id.Assertion.TTL = -1 }, "identity assertion ttl: must be positive"},
		{"no key", func(id *Identity) { id.Assertion.Key = "" }, "identity assertion key: required"},
		{"header twice", func(id *Identity) {
			id.Headers = append(id.Headers, IdentityHeader{Name: "x-user-id", Source: "email"})
		}, "identity header: the header x-user-id is named twice"},
		{"assertion header collides", func(id *Identity) { id.Assertion.Header = "X-NICK" }, "identity assertion header: the header X-NICK is named twice"},
		{"default assertion header collides", func(id *Identity) {
			id.Headers = append(id.Headers, IdentityHeader{Name: "x-authedge-assertion", Source: "sub"})
		}, "identity assertion header: the header X-Authedge-Assertion is named twice"},
		{"unknown profile field", func(id *Identity) { id.Headers[1].Source = "profile.age" }, `identity header X-Nick: unknown profile field "age"`},
		{"profile field case", func(id *Identity) { id.Headers[1].Source = "profile.Email" }, `unknown profile field "Email"`},
		{"unknown profile claim", func(id *Identity) { id.Assertion.Claims = []string{"profile.x"} }, `identity assertion claims: unknown profile field "x"`},
		{"empty source", func(id *Identity) { id.Headers[0].Source = "" }, "identity header X-User-Id: a source is required"},
		{"bad header name", func(id *Identity) { id.Headers[0].Name = "X User" }, `identity header: "X User" is not a valid header name`},
		{"authorization header", func(id *Identity) { id.Headers[0].Name = "authorization" }, "identity header: authorization cannot carry identity"},
		{"header twice with '_'", func(id *Identity) {
			id.Headers = append(id.Headers, IdentityHeader{Name: "X_User_Id", Source: "email"})
		}, "identity header: the header X_User_Id is named twice"},
		{"assertion header with '_'", func(id *Identity) { id.Assertion.Header = "x_nick" }, "identity assertion header: the header x_nick is named twice"},
		{"header twice with '.'", func(id *Identity) {
			id.Headers = append(id.Headers, IdentityHeader{Name: "X.User.Id", Source: "email"})
		}, "identity header: the header X.User.Id is named twice"},
		{"device header with '_'", func(id *Identity) { id.Headers[0].Name = "X-Device_Id" }, "identity header: X-Device_Id cannot carry identity"},
		{"content type with '_'", func(id *Identity) { id.Headers[0].Name = "Content_Type" }, "identity header: Content_Type cannot carry identity"},
		{"keep-alive header", func(id *Identity) { id.Headers[0].Name = "Keep-Alive" }, "identity header: Keep-Alive cannot carry identity"},
		{"proxy-authorization header", func(id *Identity) { id.Assertion.Header = "proxy-authorization" }, "identity assertion header: proxy-authorization cannot carry identity"},
		{"reserved claim", func(id *Identity) { id.Assertion.Claims = []string{"exp"} }, "identity assertion claims: exp is always in the assertion"},
		{"claim twice", func(id *Identity) { id.Assertion.Claims = []string{"email", "profile.email"} }, "identity assertion claims: the claim email is asked for twice"},
		{"relative path", func(id *Identity) { id.Protect = []string{"app/*"} }, `identity protect: "app/*" must start with / or *`},
		{"placeholder path", func(id *Identity) { id.Protect = []string{"/{http.request.host}/*"} }, "must not hold placeholders"},
		{"scope with space", func(id *Identity) { id.ProtectScope[0].Scope = "a b" }, "identity protect_scope: the scope \"a b\" must be one non-empty word"},
		{"scope without path", func(id *Identity) { id.ProtectScope[0].Paths = nil }, "identity protect_scope admin: no path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validIdentityConfig()
			tt.edit(c.Identity)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("want an error containing %q, got %v", tt.want, err)
			}
		})
	}
}
