package edge

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"github.com/authedge/caddy-authedge/config"
)

// FuzzPathPattern checks the protect patterns against the properties the
// edge promises: matching never panics, ignores ASCII case, a doubled
// leading slash does not escape a pattern (unless the pattern itself
// holds one),
// and a path written under a protected prefix is protected, whatever
// dot segments or escaped slashes follow the prefix.
func FuzzPathPattern(f *testing.F) {
	for _, seed := range [][2]string{
		{"/app/*", "/app/x"}, {"/exact", "/EXACT"}, {"*.php", "/a/b.php"}, {"/a/*/b", "/a/x/b"},
		{"/a%2fb", "/a%2Fb"}, {"*mid*", "/x/mid/y"}, {"/app/*", "/x/../app/y"},
		{"/app/*", "/app/x/..%2F..%2Fy"}, {"/app/*", "/app/%2e%2e/y"},
		{"/app/*", "/public/..;/app/x"}, {"/app/*", "/app;x/y"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, path string) {
		if config.BadPathPattern(pattern) != "" || !strings.HasPrefix(path, "/") {
			return
		}
		u, err := url.Parse("http://app.test" + path)
		if err != nil || u.Path == "" {
			return
		}
		rs := rules{protect: compilePaths([]string{pattern})}
		match := func(p *url.URL) bool {
			r := httptest.NewRequest("GET", "http://app.test/", nil)
			r.URL = p
			return rs.match(r).protected
		}
		got := match(u)
		if prefix, ok := strings.CutSuffix(pattern, "*"); ok && !strings.ContainsAny(prefix, "*?[%\\") &&
			!strings.Contains(prefix, "//") && !hasDotSegment(prefix) && strings.HasSuffix(prefix, "/") &&
			strings.HasPrefix(strings.ToLower(u.EscapedPath()), strings.ToLower(prefix)) && !got {
			t.Fatalf("%q: written under %q, not protected", u.EscapedPath(), pattern)
		}
		upper := *u
		upper.Path = string(bytes.ToUpper([]byte(u.Path)))
		upper.RawPath = ""
		if strings.ContainsRune(u.Path, 0xfffd) || strings.Contains(pattern, "%") || u.RawPath != "" {
			return // escaped-space matching compares bytes of the raw path
		}
		if asciiOnly(u.Path) && match(&upper) != got {
			t.Fatalf("%q vs %q: case changes the verdict on %q", u.Path, upper.Path, pattern)
		}
		if !strings.Contains(pattern, "//") && got {
			// Doubled, the first segment is a host to a URL parser
			// (networkPath), so the path may be protected by that
			// reading too; it never escapes the pattern.
			doubled := *u
			doubled.Path = "/" + u.Path
			if !match(&doubled) {
				t.Fatalf("%q: a doubled leading slash escapes %q", u.Path, pattern)
			}
		}
	})
}

func asciiOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// FuzzDecodeClaims checks the reader of a verified token's other claims:
// it never panics, keeps only strings, numbers and booleans, and a claim it
// keeps has the value encoding/json reads (so a header and the app's own
// parse agree).
func FuzzDecodeClaims(f *testing.F) {
	f.Add([]byte(`{"sub":"u","level":3,"vip":true,"ratio":1.50,"obj":{"a":1},"arr":[1],"nul":null}`))
	f.Add([]byte(`{"a":"x","a":"y"}`))
	f.Add([]byte(`{"a":{"b":1},"a":"y"}`))
	f.Add([]byte(`{"big":123456789012345678901234567890,"neg":-0,"exp":1e3}`))
	f.Add([]byte(`{"s":"\u00e9\ud800"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		got := decodeClaims(payload)
		var all map[string]any
		if err := json.Unmarshal(payload, &all); err != nil {
			return
		}
		counts := topLevelNames(payload)
		for name, v := range got {
			if counts[name] != 1 {
				t.Fatalf("claim %q is given %d times, and was kept", name, counts[name])
			}
			switch want := all[name].(type) {
			case string:
				if v.text != want || v.json != nil {
					t.Fatalf("claim %q: %q, encoding/json reads %q", name, v.text, want)
				}
			case bool:
				if v.text != strconv.FormatBool(want) {
					t.Fatalf("claim %q: %q, encoding/json reads %v", name, v.text, want)
				}
			case float64:
				if f, err := strconv.ParseFloat(v.text, 64); err != nil || f != want {
					t.Fatalf("claim %q: %q, encoding/json reads %v", name, v.text, want)
				}
			default:
				t.Fatalf("claim %q of type %T was kept", name, want)
			}
		}
	})
}

// topLevelNames counts how often each member name occurs in the JSON
// object payload, whatever its values.
func topLevelNames(payload []byte) map[string]int {
	counts := map[string]int{}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if _, err := dec.Token(); err != nil {
		return counts
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return counts
		}
		name, _ := t.(string)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return counts
		}
		counts[name]++
	}
	return counts
}

// FuzzHeaderValue: a value headerValue lets through is UTF-8, and is read
// back by an HTTP parser (net/textproto's, which Go's server uses) exactly
// as it was.
func FuzzHeaderValue(f *testing.F) {
	for _, s := range []string{"user-1", "user-1 ", "\tuser-1", "a b", "a\tb", "t\r\nX-User-Id: user-2", "\x00", "é", "\xff", "a\x7f", " "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if !headerValue(v) {
			return
		}
		if !utf8.ValidString(v) {
			t.Fatalf("%q passed, but is not UTF-8", v)
		}
		msg := "X-Value: " + v + "\r\n\r\n"
		h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(msg))).ReadMIMEHeader()
		if err != nil || len(h["X-Value"]) != 1 || h["X-Value"][0] != v {
			t.Fatalf("%q passed, but an HTTP parser reads %q (%v)", v, h["X-Value"], err)
		}
	})
}

// FuzzRemoveHeaders: whatever headers a client sends, step 1 leaves none
// equivalent to an identity header, touches no other header but
// Connection, and leaves no Connection token that would make Caddy's
// reverse_proxy delete the identity header the edge then sets (its
// removeConnectionHeaders, copied below as the reference).
func FuzzRemoveHeaders(f *testing.F) {
	for _, s := range [][2]string{
		{"X-User-Id", "X-User-Id: 1\r\nX_User_Id: 2\r\nx.user.id: 3\r\nAccept: */*"},
		{"X-User-Id", "Connection: keep-alive, X-User-Id\r\nConnection: x_user_id"},
		{"X-User-Id", "Connection: X-User-Id ,\t, Upgrade"},
		{"X-User-Id", "Connection: \tX-USER-ID\t"},
		{"X-Authedge-Assertion", "Connection: close\r\nX-Authedge-Assertion: forged"},
		{"X-User-Id", "Connection: ,,,"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, raw string) {
		if !httpguts.ValidHeaderFieldName(name) {
			return // config refuses it
		}
		name = http.CanonicalHeaderKey(name)
		h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(raw + "\r\n\r\n"))).ReadMIMEHeader()
		if err != nil {
			return // net/http answers 400 before any handler
		}
		before := http.Header(h).Clone()
		got := http.Header(h).Clone()
		removeHeaders(got, []string{name})
		for k, v := range got {
			if config.SameHeaderName(k, name) {
				t.Fatalf("%q survived as %q: %q", name, k, v)
			}
			if k != "Connection" && !slices.Equal(v, before[k]) {
				t.Fatalf("%s changed from %q to %q", k, before[k], v)
			}
		}
		for k := range before {
			if _, kept := got[k]; !kept && k != "Connection" && !config.SameHeaderName(k, name) {
				t.Fatalf("%s was removed", k)
			}
		}
		got.Set(name, "edge")
		caddyRemoveConnectionHeaders(got)
		if got.Get(name) != "edge" {
			t.Fatalf("Connection %q makes reverse_proxy delete %s", before["Connection"], name)
		}
	})
}

// caddyRemoveConnectionHeaders is Caddy's reverseproxy
// removeConnectionHeaders (v2.11), unexported there.
func caddyRemoveConnectionHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
}

// FuzzRemoveHTTPUpgrades: whatever Upgrade lines a client sends, no token
// naming a protocol that carries HTTP (h2c, h2, HTTP/<v>, TLS/<v>, in any
// case) reaches the app, every other token does, in its order, a line
// without such a token is left as it was, and a second pass changes
// nothing (docs/identity.md, "WebSockets and streams").
func FuzzRemoveHTTPUpgrades(f *testing.F) {
	for _, s := range [][2]string{
		{"h2c", ""}, {"H2C", ""}, {"h2", ""}, {"HTTP/2.0", ""}, {"http/2.0", ""}, {"HTTP/1.1", ""},
		{"TLS/1.2", ""}, {"tls/1.0, HTTP/1.1", ""}, {"TLS/1.2, HTTP/1.1", ""}, {" h2c ,, ", ""},
		{"h2c, websocket", ""}, {"h2c", "WebSocket"}, {"websocket", "h2c"}, {"websocket", "tls/1.0"},
		{"websocket", ""}, {"spdy/3.1", ""}, {"h2cx, xh2c, https", ""}, {",,", " "},
		{"\th2c\t/x, websocket ,", "a/b/c"}, {"websocket, h2c/", "/h2c"},
		{"h2c-17", ""}, {"websocket, H2-14", "xh2c-17"},
	} {
		f.Add(s[0], s[1])
	}
	carriesHTTP := func(token string) bool {
		name, _, _ := strings.Cut(token, "/")
		name = strings.TrimSpace(name)
		for _, u := range []string{"h2c", "h2", "http", "tls"} {
			if strings.EqualFold(name, u) {
				return true
			}
		}
		// HTTP/2's draft names: h2c-17, h2-14, ...
		lower := strings.ToLower(name)
		return strings.HasPrefix(lower, "h2c-") || strings.HasPrefix(lower, "h2-")
	}
	tokens := func(v string) []string {
		var ts []string
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				ts = append(ts, t)
			}
		}
		return ts
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		var want []string
		for _, v := range []string{a, b} {
			got := withoutHTTPUpgrades(v)
			for _, tok := range tokens(got) {
				if carriesHTTP(tok) {
					t.Fatalf("Upgrade %q: %q survived as %q", v, tok, got)
				}
			}
			others := slices.DeleteFunc(tokens(v), carriesHTTP)
			if !slices.Equal(tokens(got), others) {
				t.Fatalf("Upgrade %q became %q, want the tokens %q", v, got, others)
			}
			if len(others) == len(tokens(v)) && got != v {
				t.Fatalf("Upgrade %q has no token to remove, and became %q", v, got)
			}
			if again := withoutHTTPUpgrades(got); again != got {
				t.Fatalf("Upgrade %q became %q, then %q", v, got, again)
			}
			if got != "" {
				want = append(want, got)
			}
		}
		h := http.Header{"Upgrade": {a, b}, "Connection": {a, b}}
		removeHTTPUpgrades(h)
		if got, ok := h["Upgrade"]; !slices.Equal(got, want) || ok != (want != nil) {
			t.Fatalf("Upgrade %q reached the app as %q, want %q", []string{a, b}, got, want)
		}
		if !slices.Equal(h["Connection"], []string{a, b}) {
			t.Fatalf("Connection %q became %q", []string{a, b}, h["Connection"])
		}
	})
}
