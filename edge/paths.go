package edge

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/authedge/caddy-authedge/config"
)

// rules are the protect and protect_scope paths, compiled once. They are
// Caddy's own path matcher (caddyhttp.MatchPath), so a path is protected
// when a `path` matcher with the same patterns would match it:
// case-insensitively, on the cleaned path (/APP/x and //app/x are /app/x);
// and also when it would match the path as the app may read it (match).
type rules struct {
	protect caddyhttp.MatchPath // nil: none
	scoped  []scopeRule
}

type scopeRule struct {
	scope string
	paths caddyhttp.MatchPath
}

// need is what a request's path asks of it.
type need struct {
	protected bool
	scopes    []string // each must be in the token's scope claim
	// read is how many bytes of path the readings have handed to the
	// matchers so far; past maxPathReading the rest are not made.
	read int
}

// maxPathReading bounds the bytes of path one request's readings hand to
// Caddy's matcher, which cleans and lower-cases its path again for each
// pattern. A path that holds every feature a reading looks for (a letter
// beyond ASCII, ';', '%', a dot segment, ".php/", a backslash, a leading
// "//"), sent as it is and in rewrite headers, makes dozens of readings:
// within Caddy's default 16 KiB of headers that cost 15 to 45 ms of CPU
// and 3 to 12 MB of garbage a request, a few thousand times a plain
// request's, for anyone, token or not. A request whose readings need more
// is read no further and needs what the strictest rule needs (a token and
// every protect_scope scope): an ordinary path, read once or twice, stays
// far inside the bound up to Caddy's default header limit.
const maxPathReading = 32 << 10

// exhausted reports whether n has read as much path as it may.
func (n *need) exhausted() bool { return n.read > maxPathReading }

func compileRules(id *config.Identity) rules {
	var rs rules
	if len(id.Protect) > 0 {
		rs.protect = compilePaths(id.Protect)
	}
	for _, ps := range id.ProtectScope {
		rs.scoped = append(rs.scoped, scopeRule{scope: ps.Scope, paths: compilePaths(ps.Paths)})
	}
	return rs
}

// compilePaths provisions a MatchPath. Its Provision only lowercases the
// patterns and moves a lone * first; it does not use the context, so it
// runs outside a Caddy config too. Patterns never hold placeholders
// (config refuses them).
func compilePaths(patterns []string) caddyhttp.MatchPath {
	m := append(caddyhttp.MatchPath(nil), patterns...)
	_ = m.Provision(caddy.Context{}) // never fails
	return m
}

// emptyReplacer stands in for the replacer that Caddy puts in every
// request's context: MatchPath reads it unconditionally (for placeholders
// in patterns, which these have none of), so outside Caddy a request
// needs one to be matched at all.
var emptyReplacer = caddy.NewEmptyReplacer()

// match says what r's path needs: what it needs as Caddy's matcher reads
// it, and also as written (asWritten), if that differs. Caddy decodes %2F
// and resolves dot segments before matching, so /app/x/..%2F..%2Fpublic
// and /app/%2e%2e/public are /public to it; but reverse_proxy sends the
// path as the client wrote it, and an app that routes on the raw path
// (Express, Rails, most Node routers) serves them under /app/. The path
// is read, too, without its ;parameters (withoutParameters), with its
// letters upper-cased (matchUpperCased), split after .php/ (phpSplit),
// with its backslashes as slashes, and, for a path that starts with
// "//", as a URL parser reads it (networkPath). Any reading that is
// protected protects the request.
//
// Each reading is also made of the path the client sent, when a handler
// before authedge rewrote it: Caddy runs `rewrite`, `uri` and `try_files`
// before authedge, and a top-level `try_files {path} /index.php` makes
// /admin/x /index.php to the matcher, while php_fastcgi passes the
// client's /admin/x to PHP as REQUEST_URI, which a front controller
// (Laravel, Symfony) routes on. And each is made of the path an
// X-Original-URL or X-Rewrite-URL header names (matchRewriteHeaders).
func (rs *rules) match(r *http.Request) need {
	var n need
	if rs.protect == nil && rs.scoped == nil {
		return n
	}
	if r.Context().Value(caddy.ReplacerCtxKey) == nil {
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, emptyReplacer))
	}
	rs.matchReadings(r, &n)
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok &&
		orig.URL != nil && orig.URL.EscapedPath() != r.URL.EscapedPath() {
		sent := *r
		sent.URL = orig.URL
		rs.matchReadings(&sent, &n)
	}
	rs.matchRewriteHeaders(r, &n)
	if n.exhausted() {
		n.protected = true
		for i := range rs.scoped {
			if !slices.Contains(n.scopes, rs.scoped[i].scope) {
				n.scopes = append(n.scopes, rs.scoped[i].scope)
			}
		}
	}
	return n
}

// rewriteHeaders name a path instead of the request's own: IIS's URL
// Rewrite module (X-Original-URL) and ISAPI_Rewrite (X-Rewrite-URL) set
// them, and PHP frameworks written for IIS (Zend Framework 1, Yii 2
// behind a trusted proxy, ...) route on them when present. Through
// Caddy only a client sends them, so /public with X-Original-URL:
// /admin/x would be such an app's /admin/x.
var rewriteHeaders = []string{"X-Original-Url", "X-Rewrite-Url"}

// matchRewriteHeaders adds to n what the rewriteHeaders of r need as a
// path, with every reading of it. Names are compared as the edge removes
// identity headers (config.SameHeaderName): PHP reads x_original_url as
// HTTP_X_ORIGINAL_URL too. Of a header given several times, what a
// reader may take is read: the first value (Yii's, Symfony's), the last,
// and all of them joined (CGI's HTTP_X_ORIGINAL_URL); none takes one
// from the middle, and reading each of the thousands a request can hold
// would cost milliseconds a request.
func (rs *rules) matchRewriteHeaders(r *http.Request, n *need) {
	for k, values := range r.Header {
		if n.exhausted() {
			return
		}
		if len(values) == 0 || !matchesAny(k, rewriteHeaders) {
			continue
		}
		rs.matchRewriteTarget(r, values[0], n)
		if len(values) > 1 {
			rs.matchRewriteTarget(r, values[len(values)-1], n)
			rs.matchRewriteTarget(r, strings.Join(values, ", "), n)
		}
	}
}

// matchRewriteTarget adds to n what r needs if its path were the one the
// rewriteHeaders value v names.
func (rs *rules) matchRewriteTarget(r *http.Request, v string, n *need) {
	sent := *r
	sent.URL = rewriteTarget(v)
	rs.matchReadings(&sent, n)
}

// rewriteTarget reads the rewriteHeaders value v as those frameworks do:
// a scheme and host before the path are dropped, so are the query and a
// fragment, and a path without its leading '/' is one all the same (Yii
// routes "admin/x" as /admin/x). A path Go cannot parse as a
// request-target (a bad escape) is read as it is.
func rewriteTarget(v string) *url.URL {
	v = strings.TrimSpace(v)
	if scheme, rest, ok := strings.Cut(v, "://"); ok && isScheme(scheme) {
		v = rest[strings.IndexAny(rest+"/", "/?#"):]
	}
	v, _, _ = strings.Cut(v, "#")
	v, _, _ = strings.Cut(v, "?")
	if !strings.HasPrefix(v, "/") {
		v = "/" + v
	}
	u, err := url.ParseRequestURI(v)
	if err != nil {
		return &url.URL{Path: v}
	}
	return u
}

// isScheme reports whether s is a URI scheme (RFC 3986, section 3.1), as
// net/url reads one: a "://" after anything else ("app?x=://") is in a
// relative path's query or fragment, and the path before it is the one
// routed on.
func isScheme(s string) bool {
	u, err := url.Parse(s + ":")
	return err == nil && u.Scheme != "" && len(u.Scheme) == len(s)
}

// matchReadings adds to n what each reading of r's path needs, and each
// reading of the path a URL parser finds in it (networkPath).
func (rs *rules) matchReadings(r *http.Request, n *need) {
	rs.matchPathReadings(r, n)
	if u, ok := networkPath(r.URL); ok {
		parsed := *r
		parsed.URL = u
		rs.matchPathReadings(&parsed, n)
	}
}

// networkPath is u's path as a URL parser reads it when it is handed
// the request-target as a reference, and ok if the path starts with
// "//": that is a network-path reference (RFC 3986, section 4.2), whose
// first segment is a host and whose path is what follows. So to Node's
// new URL(req.url, base) (WHATWG, which takes any number of leading
// slashes), Python's urlsplit and PHP's parse_url, //x/app/x is /app/x,
// and an app that routes on what they return serves it as /app/x; to
// Caddy's matcher it is /x/app/x. The host ends at the first '/' as
// written (an escaped %2F is part of it).
func networkPath(u *url.URL) (*url.URL, bool) {
	p := u.EscapedPath()
	if !strings.HasPrefix(p, "//") {
		return nil, false
	}
	rest := strings.TrimLeft(p, "/")
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return &url.URL{Path: "/"}, true
	}
	path, err := url.ParseRequestURI(rest[i:])
	if err != nil {
		return nil, false // Go parsed the path, so this does not happen
	}
	return path, true
}

// matchPathReadings adds to n what each reading of r's path needs.
func (rs *rules) matchPathReadings(r *http.Request, n *need) {
	if n.exhausted() {
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/") {
		// No path to match (CONNECT's host:port; Go's server answers
		// OPTIONS * itself): reverse_proxy sends the request on all the
		// same, and no path pattern would match it, whatever it protects.
		// It is read as the root, the resource a request without a path
		// names (RFC 9110, section 4.2.3), so protect /* covers it.
		rs.matchPathAs(r, "/", n)
		return
	}
	rs.matchPath(r, n)
	rs.matchUpperCased(r, r.URL.Path, n)
	if n.exhausted() {
		return
	}
	if written, ok := asWritten(r.URL); ok {
		rs.matchReading(r, written, n)
	}
	if n.exhausted() {
		return
	}
	if bare, ok := withoutParameters(r.URL); ok {
		rs.matchReading(r, bare, n)
	}
	if script, info, ok := phpSplit(r.URL.Path); ok {
		rs.matchReading(r, script, n)
		rs.matchReading(r, info, n)
	}
	if strings.Contains(r.URL.Path, `\`) {
		// IIS (HTTP.sys) reads a backslash, literal or %5C, as a '/'
		// and then resolves dot segments: /public/..%5Capp/x is its
		// /app/x. To Caddy's matcher it is a letter, and reverse_proxy
		// sends it as %5C.
		rs.matchReading(r, strings.ReplaceAll(r.URL.Path, `\`, "/"), n)
	}
}

// matchReading adds to n what r needs if its path read as path, as it is
// and upper-cased.
func (rs *rules) matchReading(r *http.Request, path string, n *need) {
	if n.exhausted() {
		return
	}
	rs.matchPathAs(r, path, n)
	rs.matchUpperCased(r, path, n)
}

// phpSplit splits path after its first ".php/" (in any case), as
// php_fastcgi does, and reports whether it has one. php_fastcgi runs the
// script (/admin.php for /admin.php/x, the rest being PATH_INFO), or
// through its try_files index.php, with the request's own URI; and a
// front controller such as Laravel's or Symfony's routes on what
// follows the script: /index.php/admin/x is its /admin/x route.
func phpSplit(path string) (script, info string, ok bool) {
	const split = ".php/"
	for i := 0; i+len(split) <= len(path); i++ {
		if path[i] == '.' && strings.EqualFold(path[i:i+len(split)], split) {
			return path[:i+len(split)-1], path[i+len(split)-1:], true
		}
	}
	return "", "", false
}

// matchPathAs adds to n what r needs if its path read as path.
func (rs *rules) matchPathAs(r *http.Request, path string, n *need) {
	u := *r.URL
	u.Path, u.RawPath = path, ""
	w := *r
	w.URL = &u
	rs.matchPath(&w, n)
}

// matchUpperCased adds to n what r needs if path's letters read as their
// upper cases, when that differs from path: Python's re.IGNORECASE and
// Java's equalsIgnoreCase take ı for i and ſ for s (their upper cases
// are I and S), which strings.ToLower, Caddy's matcher's, leaves as they
// are, so /admın/x would reach such an app's /admin/* route anonymous.
// ASCII paths, nearly all of them, cost one scan.
func (rs *rules) matchUpperCased(r *http.Request, path string, n *need) {
	if n.exhausted() {
		return
	}
	for i := 0; i < len(path); i++ {
		if path[i] >= utf8.RuneSelf {
			upper := strings.ToUpper(path)
			if strings.ToLower(upper) != strings.ToLower(path) {
				rs.matchPathAs(r, upper, n)
			}
			return
		}
	}
}

// matchPath adds to n what r's path needs as Caddy's matcher reads it; a
// scope n holds already (from the other reading) is not matched again.
func (rs *rules) matchPath(r *http.Request, n *need) {
	if n.read += len(r.URL.Path); n.exhausted() {
		return
	}
	if rs.protect != nil && !n.protected {
		n.protected, _ = rs.protect.MatchWithError(r)
	}
	for i := range rs.scoped {
		if slices.Contains(n.scopes, rs.scoped[i].scope) {
			continue
		}
		if ok, _ := rs.scoped[i].paths.MatchWithError(r); ok {
			n.protected = true
			n.scopes = append(n.scopes, rs.scoped[i].scope)
		}
	}
}

// asWritten is u's path with each segment decoded on its own, as an app
// that routes on the raw path reads it, and ok if that differs from what
// Caddy's matcher cleans: a dot segment, literal or escaped, and a
// segment holding an escaped '/' are kept escaped (%2e, %2f), so that
// cleaning leaves them where they are. Paths without '%' or a dot segment,
// nearly all of them, cost nothing.
func asWritten(u *url.URL) (string, bool) {
	p := u.EscapedPath()
	if !strings.Contains(p, "%") && !hasDotSegment(p) {
		return "", false
	}
	segments := strings.Split(p, "/")
	for i, s := range segments {
		decoded, err := url.PathUnescape(s)
		switch {
		case err != nil:
			// Kept as written: Go parsed the path, so this does not happen.
		case decoded == "." || decoded == "..":
			segments[i] = strings.Repeat("%2e", len(decoded))
		default:
			segments[i] = strings.ReplaceAll(decoded, "/", "%2f")
		}
	}
	written := strings.Join(segments, "/")
	return written, written != u.Path
}

// withoutParameters is u's path as Tomcat, Jetty and Spring MVC read it,
// and ok if it has a ';': they drop each segment's path parameters (from
// its first ';', as in /app;jsessionid=1/x) before decoding, then resolve
// dot segments, as Caddy's matcher cleans them. To them /public/..;/app/x
// is /app/x, and /app;x/y is /app/y, while Caddy's matcher reads neither
// under /app/.
func withoutParameters(u *url.URL) (string, bool) {
	p := u.EscapedPath()
	if !strings.Contains(p, ";") {
		return "", false
	}
	segments := strings.Split(p, "/")
	for i, s := range segments {
		segments[i], _, _ = strings.Cut(s, ";")
	}
	bare, err := url.PathUnescape(strings.Join(segments, "/"))
	if err != nil {
		return "", false // Go parsed the path, so this does not happen
	}
	return bare, true
}

// hasDotSegment reports whether the path p has a literal "." or ".."
// segment.
func hasDotSegment(p string) bool {
	for p != "" {
		var segment string
		segment, p, _ = strings.Cut(p, "/")
		if segment == "." || segment == ".." {
			return true
		}
	}
	return false
}

// Protected reports whether a request for path needs a token, and which
// scopes it needs. It is the matcher the pipeline uses, for tests and
// tools.
func (e *Edge) Protected(r *http.Request) (bool, []string) {
	n := e.rules.match(r)
	return n.protected, n.scopes
}
