package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalIdentity(t *testing.T) {
	got, err := parse(t, `authedge {
		identity {
			protect /a/* *.x
			protect_scope admin /admin/*
			protect_scope ops /ops /ops/*
			header X-User-Id sub
			header X-Nick profile.nickname
			strip_authorization
			assertion {
				key k.pem
				previous_key p1.pem p2.pem
				previous_key p3.pem
				ttl 90s
				claims tenant profile.email
			}
		}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"protect":["/a/*","*.x"]`,
		`"protect_scope":[{"scope":"admin","paths":["/admin/*"]},{"scope":"ops","paths":["/ops","/ops/*"]}]`,
		`"headers":[{"name":"X-User-Id","source":"sub"},{"name":"X-Nick","source":"profile.nickname"}]`,
		`"strip_authorization":true`,
		`"previous_keys":["p1.pem","p2.pem","p3.pem"]`,
		`"ttl":90000000000`,
		`"claims":["tenant","profile.email"]`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("JSON lacks %s:\n%s", want, got)
		}
	}
}

func TestUnmarshalIdentityErrors(t *testing.T) {
	tests := []struct{ name, input, want string }{
		{"unknown", "identity {\n bogus\n}", `authedge identity: unrecognized subdirective "bogus"`},
		{"argument", "identity x {\n}", `authedge identity: unexpected argument "x"`},
		{"protect twice", "identity {\n protect /a\n protect /b\n}", "authedge identity: protect is given twice"},
		{"protect no path", "identity {\n protect\n}", "authedge identity protect: missing value"},
		{"protect_scope no path", "identity {\n protect_scope admin\n}", "authedge identity protect_scope: want <scope> <path>..."},
		{"header one arg", "identity {\n header X-A\n}", "authedge identity header: want <Header-Name> <source>"},
		{"header three args", "identity {\n header X-A sub x\n}", "authedge identity header: want"},
		{"strip with value", "identity {\n strip_authorization yes\n}", "authedge identity strip_authorization takes no value"},
		{"assertion unknown", "identity {\n assertion {\n kid x\n }\n}", `authedge identity assertion: unrecognized subdirective "kid"`},
		{"assertion key twice", "identity {\n assertion {\n key a\n key b\n }\n}", "authedge identity assertion: key is given twice"},
		{"ttl over 5m", "identity {\n assertion {\n ttl 6m\n }\n}", "authedge identity assertion ttl: 6m0s is over the maximum of 5m0s"},
		{"ttl bad", "identity {\n assertion {\n ttl soon\n }\n}", `authedge identity assertion ttl: "soon" is not a positive duration`},
		{"ttl zero", "identity {\n assertion {\n ttl 0s\n }\n}", "is not a positive duration"},
		{"claims empty", "identity {\n assertion {\n claims\n }\n}", "authedge identity assertion claims: missing value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, "authedge {\n"+tt.input+"\n}")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("want an error containing %q, got %v", tt.want, err)
			}
		})
	}
}

func FuzzUnmarshalIdentity(f *testing.F) {
	f.Add("protect /a/* *.x\nprotect_scope admin /b\nheader X-A sub\nheader X-B profile.email\nstrip_authorization")
	f.Add("assertion {\n key k\n previous_key a b\n header X-C\n audience aud\n ttl 1m\n claims a profile.nickname\n}")
	f.Add("header X-A\n")
	f.Add("assertion {\n ttl 5m1s\n}")
	f.Fuzz(func(t *testing.T, body string) {
		tokens, err := caddyfile.Tokenize([]byte("authedge {\n identity {\n"+body+"\n }\n}"), "Testfile")
		if err != nil {
			return
		}
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
			return
		}
		id := h.Identity
		if id == nil {
			t.Fatal("an identity block parsed to no identity")
		}
		for _, ps := range id.ProtectScope {
			if len(ps.Paths) == 0 {
				t.Fatalf("protect_scope %q without paths was accepted", ps.Scope)
			}
		}
		if a := id.Assertion; a != nil && (a.TTL < 0 || a.TTL > 5*60*1e9) {
			t.Fatalf("assertion ttl %v out of bounds was accepted", a.TTL)
		}
		// What parses validates or fails with a message; it never panics.
		h.ApplyDefaults()
		_ = h.Validate()
	})
}
