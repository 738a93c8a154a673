package edge

import (
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/authedge/caddy-authedge/config"
)

// FuzzRewriteHeaders checks the readings of X-Original-URL and
// X-Rewrite-URL (matchRewriteHeaders, rewriteTarget) against the
// request-target reading they stand for: a request whose header names a
// path needs at least what a request for that path needs, whether the
// header holds the path as a request-target, behind a scheme and host, or
// without its leading '/'; and adding such a header never loosens what
// the request's own path needs (the 32 KiB readings bound included). And
// a path with backslashes needs what it needs as IIS reads it.
func FuzzRewriteHeaders(f *testing.F) {
	for _, s := range [][3]string{
		{"/admin/*", "/admin/x", "/public"},
		{"/admin/*", "/public/..%2F..%2Fadmin/x", "/public"},
		{"/admin/*", "//host/admin/x", "/"},
		{"/admin/*", "/admin\\x", "/admin/y"},
		{"*.php", "/index.php/admin/x", "/public;x"},
		{"/admin/*", "/adm%C4%B1n/x?y#z", "/public"},
		{"/admin/*", "/public/..;/admin/x", "//x/admin/y"},
		{"/admin/*", "/public", "/public/..%5Cadmin/x"},
		{"/admin/*", "/public", "/x/..\\admin\\x"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, pattern, target, own string) {
		if config.BadPathPattern(pattern) != "" {
			return
		}
		named, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \t\r\n") {
			return
		}
		ownURL, err := url.ParseRequestURI(own)
		if err != nil || !strings.HasPrefix(own, "/") {
			return
		}
		rs := rules{
			protect: compilePaths([]string{pattern}),
			scoped:  []scopeRule{{scope: "s", paths: compilePaths([]string{pattern})}},
		}
		needOf := func(u *url.URL, header ...string) need {
			r := httptest.NewRequest("GET", "http://app.test/", nil)
			r.URL = u
			if header != nil {
				r.Header["X-Original-Url"] = header
			}
			return rs.match(r)
		}
		covers := func(got, want need) bool {
			if want.protected && !got.protected {
				return false
			}
			for _, s := range want.scopes {
				if !slices.Contains(got.scopes, s) {
					return false
				}
			}
			return true
		}
		direct := needOf(named)
		base := needOf(ownURL)
		// IIS reads a backslash, literal or %5C, as a '/': the path so
		// read needs no more than the path as sent.
		if slashed := strings.ReplaceAll(ownURL.Path, `\`, "/"); slashed != ownURL.Path {
			if want := needOf(&url.URL{Path: slashed}); !covers(base, want) {
				t.Fatalf("%q needs %+v, less than %q as IIS reads it, %+v (pattern %q)", own, base, slashed, want, pattern)
			}
		}
		for _, v := range []string{target, "http://example.com" + target, strings.TrimPrefix(target, "/")} {
			if strings.HasPrefix(target, "//") && v != target {
				continue // //host/x behind a host, or as "/host/x", names another path
			}
			got := needOf(ownURL, v)
			if !covers(got, direct) {
				t.Fatalf("%q with X-Original-URL: %q needs %+v, but a request for %q needs %+v (pattern %q)", own, v, got, target, direct, pattern)
			}
			if !covers(got, base) {
				t.Fatalf("%q with X-Original-URL: %q needs %+v, less than %+v without it (pattern %q)", own, v, got, base, pattern)
			}
		}
	})
}
