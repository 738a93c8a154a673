package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/fileserver"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json from the adapter's output")

// adapt runs the Caddyfile adapter, as `caddy adapt` does, and returns its
// JSON indented.
func adapt(t *testing.T, caddyfileText []byte) []byte {
	t.Helper()
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(caddyfileText, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	for _, w := range warnings {
		t.Errorf("adapt warning: %s", w)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// TestAdaptGolden compares `caddy adapt` of each testdata/*.caddyfile with
// its .json. Run `go test ./caddymodule -run TestAdaptGolden -update` to
// rewrite them after an intended change, and read the diff.
func TestAdaptGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.caddyfile")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata Caddyfiles: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			in, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := adapt(t, in)
			golden := strings.TrimSuffix(file, ".caddyfile") + ".json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("adapted JSON differs from %s (run with -update and read the diff):\n%s", golden, got)
			}
		})
	}
}

// TestDirectiveOrder checks, apart from the golden files, that authedge's
// route comes before every standard directive it must precede though the
// Caddyfile names them first and has no order line.
func TestDirectiveOrder(t *testing.T) {
	in, err := os.ReadFile("testdata/full.caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	handlers := routeHandlers(t, adapt(t, in))
	authedge := indexOf(handlers, "authedge")
	if authedge < 0 {
		t.Fatalf("no authedge route in %v", handlers)
	}
	// handle and route adapt to "subroute" handlers; basic_auth to
	// "authentication"; respond to "static_response".
	for _, later := range []string{"authentication", "static_response", "file_server", "reverse_proxy", "subroute"} {
		i := indexOf(handlers, later)
		if i < 0 {
			t.Errorf("no %s route in %v", later, handlers)
			continue
		}
		if i < authedge {
			t.Errorf("%s (route %d) runs before authedge (route %d): %v", later, i, authedge, handlers)
		}
	}
}

// routeHandlers lists the first handler of each top-level route of the
// first server, in order. The Caddyfile puts each directive in a route of
// its own (in a subroute, for a site with a host).
func routeHandlers(t *testing.T, adapted []byte) []string {
	t.Helper()
	type route struct {
		Handle []struct {
			Handler string  `json:"handler"`
			Routes  []route `json:"routes"`
		} `json:"handle"`
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []route `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(adapted, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, srv := range cfg.Apps.HTTP.Servers {
		routes := srv.Routes
		// A site with a host matcher wraps its directives in one subroute.
		if len(routes) == 1 && len(routes[0].Handle) == 1 && routes[0].Handle[0].Handler == "subroute" {
			routes = routes[0].Handle[0].Routes
		}
		var names []string
		for _, r := range routes {
			for _, h := range r.Handle {
				names = append(names, h.Handler)
			}
		}
		return names
	}
	t.Fatal("no server in the adapted config")
	return nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// TestIdentityWithMatcherRefused: an identity block on a directive with a
// matcher is a Caddyfile error, since the requests the matcher leaves out
// would reach the app with the client's own identity headers. Without
// the identity block a matcher stays allowed (testdata/matcher.caddyfile).
func TestIdentityWithMatcherRefused(t *testing.T) {
	site := func(directive string) []byte {
		return []byte(":8080 {\n" + directive + ` {
		environment_id env-1
		jwt {
			issuer iss
			jwks_url http://127.0.0.1:9999/jwks.json
		}
		identity {
			protect /app/*
			header X-User-Id sub
		}
	}
	reverse_proxy 127.0.0.1:8081
}
`)
	}
	for _, directive := range []string{"authedge /app/*", "@app path /app/*\n\tauthedge @app"} {
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(site(directive), map[string]any{"filename": "Caddyfile"})
		if err == nil || !strings.Contains(err.Error(), "identity block needs the directive without a matcher") {
			t.Errorf("%q with an identity block: %v, want it refused", directive, err)
		}
	}
	// "*" matches every request: no matcher at all.
	for _, directive := range []string{"authedge", "authedge *"} {
		if _, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(site(directive), map[string]any{"filename": "Caddyfile"}); err != nil {
			t.Errorf("%q: %v", directive, err)
		}
	}
}

// TestIdentityOrderedAfterAppRefused: an order line that moves authedge
// after a directive serving the app (`order authedge before respond`,
// which puts it after handle and route) is a Caddyfile error with an
// identity block: a handle's requests would reach the app without
// passing it, protect skipped and client-sent identity headers kept.
// An order that keeps it before them, or no identity block, is allowed.
func TestIdentityOrderedAfterAppRefused(t *testing.T) {
	site := func(order, identity string) []byte {
		return []byte("{\n\t" + order + "\n}\n:8080 {\n" + `	handle /api/* {
		reverse_proxy 127.0.0.1:8081
	}
	authedge {
		environment_id env-1
		jwt {
			issuer iss
			jwks_url http://127.0.0.1:9999/jwks.json
		}
` + identity + `
	}
	respond ok
}
`)
	}
	const identity = "\t\tidentity {\n\t\t\tprotect /api/*\n\t\t}"
	adapt := func(text []byte) error {
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(text, map[string]any{"filename": "Caddyfile"})
		return err
	}
	for _, order := range []string{"order authedge before respond", "order authedge last", "order authedge after route"} {
		err := adapt(site(order, identity))
		// Line 8 is the directive's, not its block's end.
		if err == nil || !strings.Contains(err.Error(), "the order global option puts it after") ||
			!strings.Contains(err.Error(), "Caddyfile:8") {
			t.Errorf("%q with an identity block: %v, want it refused at Caddyfile:8", order, err)
		}
		if err := adapt(site(order, "")); err != nil {
			t.Errorf("%q without an identity block: %v", order, err)
		}
	}
	for _, order := range []string{"", "order authedge first", "order authedge before basic_auth", "order authedge after try_files"} {
		if err := adapt(site(order, identity)); err != nil {
			t.Errorf("%q: %v", order, err)
		}
	}
}

// TestIdentityOrderedAfterInvokeRefused: invoke runs a named route, which
// serves the app as a handle does, and comes just before handle in Caddy's
// order: `order authedge before handle` puts authedge after it, and the
// named route's reverse_proxy gets requests authedge never saw.
func TestIdentityOrderedAfterInvokeRefused(t *testing.T) {
	text := []byte(`{
	order authedge before handle
}
&(app) {
	reverse_proxy 127.0.0.1:8081
}
:8080 {
	authedge {
		environment_id env-1
		jwt {
			issuer iss
			jwks_url http://127.0.0.1:9999/jwks.json
		}
		identity {
			protect /*
		}
	}
	invoke app
}
`)
	_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(text, map[string]any{"filename": "Caddyfile"})
	if err == nil || !strings.Contains(err.Error(), "puts it after invoke") {
		t.Errorf("order authedge before handle, with invoke: %v, want it refused", err)
	}
}
