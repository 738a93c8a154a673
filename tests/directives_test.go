package tests

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// authedge's answers among the directives a site usually has besides it
// (docs/configuration.md#other-directives-in-the-site): a site-wide
// encode, header and handle_errors, and encode inside a route.

// directivesAuthedge is the authedge block of these tests: one edit a
// minute, so that the second is a 429.
func directivesAuthedge(t *testing.T, rd *redistest.Server) string {
	_, ec, _ := testKeys(t)
	return minimalAuthedge(writePublicPEM(t, t.TempDir(), "ec.pem", ec), rd.Addr, `		rate_limit {
			edits 1 1m
		}
		identity {
			protect /app/*
			header X-User-Id sub
		}`)
}

// wantLength checks that the answer went out uncompressed, with a
// Content-Length that is its body's.
func wantLength(t *testing.T, what string, r *response) {
	t.Helper()
	if ce := r.Header.Get("Content-Encoding"); ce != "" {
		t.Errorf("%s: Content-Encoding %q, want none", what, ce)
	}
	if cl := r.Header.Get("Content-Length"); cl != strconv.Itoa(len(r.Body)) {
		t.Errorf("%s: Content-Length %q for a body of %d bytes", what, cl, len(r.Body))
	}
}

// A site-wide handle_errors never replaces authedge's answers: its 401,
// 415 and 429 are answers, not errors handed to Caddy, and keep their
// JSON, WWW-Authenticate, Accept-Encoding and Retry-After. A header set
// at once is overwritten by authedge's no-store, and a site-wide encode,
// which Caddy runs after authedge, leaves its answers as they are.
func TestDirectivesAroundAuthedgeKeepItsAnswers(t *testing.T) {
	rd := redistest.Start(t)
	app := newEchoApp(t)
	caddy := startCaddy(t, fmt.Sprintf(`	encode gzip zstd
	header Cache-Control "public, max-age=60"
	handle_errors {
		respond "caddy error page {err.status_code}"
	}
	%s
	reverse_proxy %s`, directivesAuthedge(t, rd), strings.TrimPrefix(app.URL, "http://")))
	f := &fixture{t: t, caddy: caddy}
	_, ec, _ := testKeys(t)
	tok := ec.mint(t, "user-1", nil)
	gz := []string{"Accept-Encoding", "gzip, zstd"}

	r := f.do("GET", "/app/x", "", "", gz...)
	r.wantError(t, http.StatusUnauthorized, "unauthenticated")
	if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate: %v", r.Header)
	}
	wantLength(t, "401", r)

	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	_, _ = zw.Write([]byte(`{"nickname":"Zed"}`))
	_ = zw.Close()
	r = f.do("POST", "/auth/v1/user/basic/edit", tok, body.String(), append(gz, "Content-Encoding", "gzip")...)
	r.wantError(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
	if ae := r.Header.Get("Accept-Encoding"); ae != "identity" {
		t.Errorf("415 for a gzip body: Accept-Encoding %q, want identity", ae)
	}

	// Over encode's 512-byte minimum, still sent as it is.
	long := `{"nickname":"Zed","description":"` + strings.Repeat("d", 500) + `"}`
	f.do("POST", "/auth/v1/user/basic/edit", tok, long, gz...).wantOK(t)
	r = f.do("GET", "/auth/v1/user/me", tok, "", gz...)
	if m := r.wantOK(t); m["sub"] != "user-1" || len(r.Body) <= 512 {
		t.Errorf("user/me: %s", r)
	}
	wantLength(t, "user/me", r)

	r = f.do("POST", "/auth/v1/user/basic/edit", tok, `{"nickname":"Zed"}`, gz...)
	r.wantError(t, http.StatusTooManyRequests, "resource_exhausted")
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After: %v", r.Header)
	}
	if app.Hits() != 0 {
		t.Errorf("the app was reached %d times", app.Hits())
	}
}

// Inside a route, an encode written before authedge compresses its
// answers like any other response.
func TestDirectivesEncodeInARouteCompressesAuthedge(t *testing.T) {
	rd := redistest.Start(t)
	app := newEchoApp(t)
	caddy := startCaddy(t, fmt.Sprintf(`	route {
		encode gzip
		%s
		reverse_proxy %s
	}`, directivesAuthedge(t, rd), strings.TrimPrefix(app.URL, "http://")))
	f := &fixture{t: t, caddy: caddy}
	_, ec, _ := testKeys(t)
	tok := ec.mint(t, "user-2", nil)
	gz := []string{"Accept-Encoding", "gzip"}

	long := `{"nickname":"Zed","description":"` + strings.Repeat("d", 500) + `"}`
	f.do("POST", "/auth/v1/user/basic/edit", tok, long, gz...).wantOK(t)
	r := f.do("GET", "/auth/v1/user/me", tok, "", gz...)
	if r.Status != http.StatusOK || r.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("user/me: %d, Content-Encoding %q, want 200 gzip", r.Status, r.Header.Get("Content-Encoding"))
	}
	if cl := r.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(r.Body)) {
		t.Errorf("user/me: Content-Length %q for %d compressed bytes", cl, len(r.Body))
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	r.Body = plain
	if m := r.wantOK(t); m["sub"] != "user-2" {
		t.Errorf("user/me: %s", r)
	}
	// Under the minimum, an error goes out as it is.
	r = f.do("GET", "/app/x", "", "", gz...)
	r.wantError(t, http.StatusUnauthorized, "unauthenticated")
	wantLength(t, "401", r)
}

// handle_path strips its prefix. Written inside it, authedge sees the
// path stripped and as sent, and protects either; written before it, it
// sees only the path sent, so protect names the prefix
// (docs/identity.md#what-happens-to-each-request-for-the-app).
func TestDirectivesHandlePath(t *testing.T) {
	_, ec, _ := testKeys(t)
	rd := redistest.Start(t)
	app := newEchoApp(t)
	upstream := strings.TrimPrefix(app.URL, "http://")
	key := writePublicPEM(t, t.TempDir(), "ec.pem", ec)
	identity := `		identity {
			protect /admin/* /api/private/*
			header X-User-Id sub
		}`
	tok := ec.mint(t, "user-3", nil)

	inside := &fixture{t: t, caddy: startCaddy(t, fmt.Sprintf(`	handle_path /api/* {
		%s
		reverse_proxy %s
	}
	respond 404`, minimalAuthedge(key, rd.Addr, identity), upstream))}
	for _, path := range []string{"/api/admin/x", "/api/private/x", "/api/ADMIN/x"} {
		inside.do("GET", path, "", "").wantError(t, http.StatusUnauthorized, "unauthenticated")
	}
	r := inside.do("GET", "/api/admin/x", tok, "", "X-User-Id", "evil")
	var seen echoed
	if r.Status != http.StatusTeapot || json.Unmarshal(r.Body, &seen) != nil ||
		seen.Path != "/admin/x" || len(seen.Header["X-User-Id"]) != 1 || seen.Header["X-User-Id"][0] != "user-3" {
		t.Errorf("inside handle_path, /api/admin/x with a token: %s", r)
	}
	r = inside.do("GET", "/api/public", "", "", "X-User-Id", "evil")
	seen = echoed{}
	if r.Status != http.StatusTeapot || json.Unmarshal(r.Body, &seen) != nil || seen.Path != "/public" || seen.Header["X-User-Id"] != nil {
		t.Errorf("inside handle_path, /api/public without a token: %s", r)
	}

	// Before handle_path, /admin/* would be the app's path only: the
	// prefix is what protects it.
	before := &fixture{t: t, caddy: startCaddy(t, fmt.Sprintf(`	%s
	handle_path /api/* {
		reverse_proxy %s
	}
	respond 404`, minimalAuthedge(key, rd.Addr, identity), upstream))}
	before.do("GET", "/api/private/x", "", "").wantError(t, http.StatusUnauthorized, "unauthenticated")
	if r := before.do("GET", "/api/admin/x", "", ""); r.Status != http.StatusTeapot {
		t.Errorf("before handle_path, /api/admin/x is not /admin/x to authedge: %s", r)
	}
}

// rawRequest sends req as written over a new connection and returns what
// came back: a method net/http's client would not send as it is.
func rawRequest(t *testing.T, caddy *caddyProc, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(caddy.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantErrorRoutesWarning checks whether c warned at start that its
// handle_errors reaches an upstream without authedge before it.
func wantErrorRoutesWarning(t *testing.T, c *caddyProc, want bool) {
	t.Helper()
	if got := strings.Contains(c.logs.String(), "handle_errors sends requests upstream"); got != want {
		t.Errorf("the handle_errors warning was logged: %v, want %v", got, want)
	}
}

// Caddy refuses some requests before any handler runs (a method over 32
// bytes is 405), and hands them to handle_errors as the client sent them:
// a handle_errors that proxies to the app sends them there, forged
// identity headers included and protect unchecked. The same authedge
// written again first in handle_errors closes that
// (docs/configuration.md#other-directives-in-the-site).
func TestDirectivesHandleErrorsBeforeAuthedge(t *testing.T) {
	rd := redistest.Start(t)
	app := newEchoApp(t)
	upstream := strings.TrimPrefix(app.URL, "http://")
	auth := directivesAuthedge(t, rd)
	_, ec, _ := testKeys(t)
	tok := ec.mint(t, "user-4", nil)
	longMethod := strings.Repeat("A", 33) + " /app/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-User-Id: admin\r\nConnection: close\r\n"

	open := startCaddy(t, fmt.Sprintf(`	%s
	reverse_proxy %s
	handle_errors {
		reverse_proxy %s
	}`, auth, upstream, upstream))
	wantErrorRoutesWarning(t, open, true)
	if out := rawRequest(t, open, longMethod+"\r\n"); !strings.Contains(out, `"X-User-Id":["admin"]`) {
		t.Errorf("Caddy's own 405 no longer reaches handle_errors with the client's headers; "+
			"update docs/configuration.md#other-directives-in-the-site: %s", out)
	}

	closed := startCaddy(t, fmt.Sprintf(`	%s
	reverse_proxy %s
	handle_errors {
		%s
		rewrite * /error/{err.status_code}
		reverse_proxy %s
	}`, auth, upstream, auth, upstream))
	wantErrorRoutesWarning(t, closed, false)
	hits := app.Hits()
	out := rawRequest(t, closed, longMethod+"\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 401 ") || app.Hits() != hits {
		t.Errorf("a 33-byte method on /app/x without a token: %s", out)
	}
	out = rawRequest(t, closed, longMethod+"Authorization: Bearer "+tok+"\r\n\r\n")
	if !strings.Contains(out, `"path":"/error/405"`) || !strings.Contains(out, `"X-User-Id":["user-4"]`) {
		t.Errorf("a 33-byte method on /app/x with a token: %s", out)
	}
	// An ordinary request passes both authedge handlers unchanged.
	r := (&fixture{t: t, caddy: closed}).do("GET", "/app/x", tok, "", "X-User-Id", "admin")
	var seen echoed
	if r.Status != http.StatusTeapot || json.Unmarshal(r.Body, &seen) != nil || seen.Path != "/app/x" ||
		len(seen.Header["X-User-Id"]) != 1 || seen.Header["X-User-Id"][0] != "user-4" {
		t.Errorf("GET /app/x with a token: %s", r)
	}

	// try_files, which runs before authedge, fails with the status it
	// is given for a file that is not there: a static site that leaves
	// the rest to the app in handle_errors.
	static := func(inErrors string) *fixture {
		return &fixture{t: t, caddy: startCaddy(t, fmt.Sprintf(`	root * %s
	try_files {path} =404
	%s
	file_server
	handle_errors 404 {
		%s
		reverse_proxy %s
	}`, t.TempDir(), auth, inErrors, upstream))}
	}
	f := static("")
	wantErrorRoutesWarning(t, f.caddy, true)
	r = f.do("GET", "/app/x", "", "", "X-User-Id", "admin")
	seen = echoed{}
	if json.Unmarshal(r.Body, &seen) != nil || len(seen.Header["X-User-Id"]) != 1 || seen.Header["X-User-Id"][0] != "admin" {
		t.Errorf("try_files =404 no longer reaches handle_errors with the client's headers; "+
			"update docs/configuration.md#other-directives-in-the-site: %s", r)
	}
	f = static(auth)
	wantErrorRoutesWarning(t, f.caddy, false)
	f.do("GET", "/app/x", "", "", "X-User-Id", "admin").wantError(t, http.StatusUnauthorized, "unauthenticated")
	r = f.do("GET", "/app/x", tok, "", "X-User-Id", "admin")
	seen = echoed{}
	if r.Status != http.StatusTeapot || json.Unmarshal(r.Body, &seen) != nil ||
		len(seen.Header["X-User-Id"]) != 1 || seen.Header["X-User-Id"][0] != "user-4" {
		t.Errorf("try_files =404, GET /app/x with a token: %s", r)
	}

	// request_body, which runs before authedge, fails a Content-Length
	// over its max_size at once. reverse_proxy then fails on the body
	// (read past max_size), but the app has had the headers: it notes
	// the X-User-Id it got before reading on.
	var got = make(chan []string, 4)
	noter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Values("X-User-Id")
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(noter.Close)
	limited := func(inErrors string) *fixture {
		return &fixture{t: t, caddy: startCaddy(t, fmt.Sprintf(`	request_body {
		max_size 10
	}
	%s
	reverse_proxy %s
	handle_errors 413 {
		%s
		reverse_proxy %s
	}`, auth, upstream, inErrors, strings.TrimPrefix(noter.URL, "http://")))}
	}
	// The app may get the request after Caddy answered the client: wait.
	seenBy := func() []string {
		select {
		case v := <-got:
			return v
		case <-time.After(2 * time.Second):
			return nil
		}
	}
	big := strings.Repeat("x", 20)
	limited("").do("POST", "/app/x", "", big, "X-User-Id", "admin")
	if v := seenBy(); len(v) != 1 || v[0] != "admin" {
		t.Errorf("request_body's 413 no longer reaches handle_errors with the client's headers (%q); "+
			"update docs/configuration.md#other-directives-in-the-site", v)
	}
	f = limited(auth)
	f.do("POST", "/app/x", "", big, "X-User-Id", "admin").wantError(t, http.StatusUnauthorized, "unauthenticated")
	if v := seenBy(); v != nil {
		t.Errorf("request_body's 413 on /app/x without a token reached the app with %q", v)
	}
	r = f.do("POST", "/app/x", tok, big, "X-User-Id", "admin")
	if v := seenBy(); len(v) != 1 || v[0] != "user-4" {
		t.Errorf("request_body's 413 on /app/x with a token: %s, the app got X-User-Id %q", r, v)
	}
}

// file_server serves a directory's index at its bare path when told not
// to redirect it to the path with a slash: protect /app/* leaves it out,
// protect /app /app/* does not
// (docs/identity.md#what-happens-to-each-request-for-the-app).
func TestDirectivesFileServerBarePath(t *testing.T) {
	rd := redistest.Start(t)
	_, ec, _ := testKeys(t)
	key := writePublicPEM(t, t.TempDir(), "ec.pem", ec)
	root := t.TempDir()
	if err := os.Mkdir(root+"/app", 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, root+"/app/index.html", "members only")
	serve := func(protect string) *fixture {
		return &fixture{t: t, caddy: startCaddy(t, fmt.Sprintf(`	root * %s
	%s
	file_server {
		disable_canonical_uris
	}`, root, minimalAuthedge(key, rd.Addr, `		identity {
			protect `+protect+`
		}`)))}
	}
	f := serve("/app/*")
	f.do("GET", "/app/", "", "").wantError(t, http.StatusUnauthorized, "unauthenticated")
	if r := f.do("GET", "/app", "", ""); r.Status != http.StatusOK || string(r.Body) != "members only" {
		t.Errorf("protect /app/*, GET /app: %s (docs say file_server serves the index)", r)
	}
	f = serve("/app /app/*")
	for _, path := range []string{"/app", "/app/"} {
		f.do("GET", path, "", "").wantError(t, http.StatusUnauthorized, "unauthenticated")
	}
}

// Caddy's vars directive, which runs before authedge, may set
// {http.auth.user.id} (Caddy's way to name the access log's user), from
// a header the client sends. Without a valid token the placeholder is
// still empty, as docs/identity.md#placeholders says: header_up never
// passes the client's value for the user.
func TestDirectivesVarsUserIDBeforeAuthedge(t *testing.T) {
	rd := redistest.Start(t)
	app := newEchoApp(t)
	f := &fixture{t: t, caddy: startCaddy(t, fmt.Sprintf(`	vars http.auth.user.id {http.request.header.X-Remote-User}
	%s
	reverse_proxy %s {
		header_up X-Forwarded-User {http.auth.user.id}
	}`, directivesAuthedge(t, rd), strings.TrimPrefix(app.URL, "http://")))}
	_, ec, _ := testKeys(t)
	for _, c := range []struct{ tok, want string }{
		{"", ""},
		{"not.a.token", ""},
		{ec.mint(t, "user-5", nil), "user-5"},
	} {
		r := f.do("GET", "/public", c.tok, "", "X-Remote-User", "admin")
		var seen echoed
		if r.Status != http.StatusTeapot || json.Unmarshal(r.Body, &seen) != nil {
			t.Fatalf("GET /public: %s", r)
		}
		if got := strings.Join(seen.Header["X-Forwarded-User"], ","); got != c.want {
			t.Errorf("token %q: X-Forwarded-User %q, want %q", c.tok, got, c.want)
		}
	}
}
