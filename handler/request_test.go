package handler

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authedge/caddy-authedge/token"
)

// Step 1 and 2 of docs/api.md#order-of-checks, and what every response
// carries.

func TestHandlesOnlyTheSixEndpoints(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{pathEdit, pathMe, pathSend, pathVerify, pathSudo, pathContact} {
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodOptions} {
			t.Run(method+" "+path, func(t *testing.T) {
				e := e.in(t)
				if !e.api.Handles(httptest.NewRequest(method, path, nil)) {
					t.Errorf("Handles(%s %s) = false", method, path)
				}
			})
		}
	}
	for _, path := range []string{
		"/", "/auth", "/auth/v1", "/auth/v1/", "/auth/v1/user", "/auth/v1/user/me/",
		"/auth/v1/user/basic", "/auth/v1/user/basic/edit/x", "/auth/v1/token",
		"/auth/v1/user/password", "/auth/v2/user/me", "/AUTH/v1/user/me", "/app/auth/v1/user/me",
	} {
		t.Run("not "+path, func(t *testing.T) {
			e := e.in(t)
			if e.api.Handles(httptest.NewRequest(http.MethodGet, path, nil)) {
				t.Errorf("Handles(%s) = true; it must pass to the next handler", path)
			}
		})
	}
}

func TestWrongMethodIs405WithAllow(t *testing.T) {
	e := newEnv(t)
	tok := e.token("u1")
	cases := []struct{ method, path, allow string }{
		{http.MethodGet, pathEdit, "POST"},
		{http.MethodPut, pathEdit, "POST"},
		{http.MethodPost, pathMe, "GET"},
		{http.MethodHead, pathMe, "GET"},
		{http.MethodGet, pathSend, "POST"},
		{http.MethodGet, pathVerify, "POST"},
		{http.MethodDelete, pathSudo, "POST"},
		{http.MethodPost, pathContact, "PATCH"},
		{http.MethodOptions, pathEdit, "POST"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			e := e.in(t)
			res := e.serve(c.method, c.path, "", bearer(tok))
			if c.method == http.MethodHead {
				// A recorder keeps the body a real server would drop; the
				// status and headers are what count.
				if res.status != 405 || res.header.Get("Allow") != c.allow {
					t.Errorf("HEAD %s: %d Allow %q", c.path, res.status, res.header.Get("Allow"))
				}
				return
			}
			res.wantError(t, 405, "method_not_allowed")
			if got := res.header.Get("Allow"); got != c.allow {
				t.Errorf("%s %s: Allow = %q, want %q", c.method, c.path, got, c.allow)
			}
		})
	}
}

func TestContentTypes(t *testing.T) {
	e := newEnv(t, verificationOff())
	accepted := []string{
		"application/json",
		"application/json; charset=utf-8",
		"application/json;charset=UTF-8",
		"text/plain",
		"text/plain;charset=UTF-8", // what fetch sends for a string body
		"Application/JSON",
		"", // absent
	}
	for _, ct := range accepted {
		t.Run(fmt.Sprintf("accepts %q", ct), func(t *testing.T) {
			e := e.in(t)
			opts := []reqOpt{header("Content-Type", ct)}
			if ct == "" {
				opts = []reqOpt{noHeader("Content-Type")}
			}
			res := e.edit("u1", `{"nickname":"Zhang San"}`, opts...)
			if res.status != 200 {
				t.Errorf("Content-Type %q: %d %s, want 200", ct, res.status, res.body)
			}
		})
	}
	refused := []string{
		"application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x",
		"text/html",
		"application/xml",
		"application/json; charset=latin1",
		"text/plain; charset=utf-16",
		"not a media type",
		"application/jsonp",
	}
	for _, ct := range refused {
		t.Run(fmt.Sprintf("refuses %q", ct), func(t *testing.T) {
			e := e.in(t)
			res := e.edit("u1", `{"nickname":"Zhang San"}`, header("Content-Type", ct))
			if res.status != 415 || res.code() != "unsupported_media_type" {
				t.Errorf("Content-Type %q: %d %s, want 415 unsupported_media_type", ct, res.status, res.code())
			}
		})
	}
	// A charset other than UTF-8 is refused for its charset: the
	// description says so, rather than asking for the media type the
	// client sent.
	for _, ct := range []string{"application/json; charset=utf-16", "text/plain;charset=ISO-8859-1"} {
		t.Run(fmt.Sprintf("names the charset of %q", ct), func(t *testing.T) {
			e := e.in(t)
			e.edit("u1", `{"nickname":"Zhang San"}`, header("Content-Type", ct)).
				wantError(t, 415, "unsupported_media_type").wantDescription(t, "UTF-8", "charset")
		})
	}
	// A form is refused on every body endpoint, not only basic/edit.
	for _, p := range []struct{ method, path string }{
		{http.MethodPost, pathSend}, {http.MethodPost, pathVerify},
		{http.MethodPost, pathSudo}, {http.MethodPatch, pathContact},
	} {
		t.Run("form to "+p.method+" "+p.path, func(t *testing.T) {
			e := e.in(t)
			res := e.serve(p.method, p.path, `a=b`, bearer(e.token("u1")), header("Content-Type", "application/x-www-form-urlencoded"))
			res.wantError(t, 415, "unsupported_media_type")
		})
	}
}

// TestContentEncodingRefused: a compressed body is not JSON, and one that
// only claims to be compressed may not be read as if it were not. Either
// is 415 with Accept-Encoding (RFC 9110 12.5.3), and nothing changes; a
// body sent as it is (no coding, or identity) is read.
func TestContentEncodingRefused(t *testing.T) {
	e := newEnv(t, verificationOff())
	e.edit("u1", `{"nickname":"Zhang San"}`).wantOK(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(`{"nickname":"Li Si"}`))
	_ = zw.Close()
	for _, c := range []struct{ coding, body string }{
		{"gzip", gz.String()},
		{"gzip", `{"nickname":"Li Si"}`}, // says gzip, is not
		{"GZIP", `{"nickname":"Li Si"}`},
		{"br", `{"nickname":"Li Si"}`},
		{"identity, gzip", `{"nickname":"Li Si"}`},
	} {
		t.Run(c.coding, func(t *testing.T) {
			e := e.in(t)
			res := e.edit("u1", c.body, header("Content-Encoding", c.coding))
			res.wantError(t, 415, "unsupported_media_type").wantDescription(t, "Content-Encoding")
			if got := res.header.Get("Accept-Encoding"); got != "identity" {
				t.Errorf("Accept-Encoding = %q, want identity", got)
			}
		})
	}
	if got := e.me("u1").str("name"); got != "Zhang San" {
		t.Errorf("name = %q after refused bodies", got)
	}
	e.edit("u1", `{"nickname":"Wang Wu"}`, header("Content-Encoding", "identity")).wantOK(t)
	e.edit("u1", `{"nickname":"Zhao Liu"}`, header("Content-Encoding", "")).wantOK(t)
	// A GET endpoint reads no body, so it has no coding to refuse.
	e.serve(http.MethodGet, pathMe, "", bearer(e.token("u1")), header("Content-Encoding", "gzip")).wantOK(t)
}

func TestBodySizeLimit(t *testing.T) {
	e := newEnv(t, verificationOff())
	// A body of exactly 64 KiB is allowed in size (and then judged on its
	// content); one byte more is not.
	exact := `{"nickname":"Zhang San"}` + strings.Repeat(" ", maxBodyBytes-len(`{"nickname":"Zhang San"}`))
	if len(exact) != 64<<10 {
		t.Fatalf("test body is %d bytes", len(exact))
	}
	e.edit("u1", exact).wantOK(t)
	e.edit("u1", exact+" ").wantError(t, 413, "request_too_large")

	// Content-Length announces the size: refused before reading.
	big := `{"description":"` + strings.Repeat("a", 70<<10) + `"}`
	e.edit("u1", big).wantError(t, 413, "request_too_large")

	// A chunked body has no Content-Length: it is refused once read past
	// the limit, over a real connection.
	var seenLength int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenLength = r.ContentLength
		e.api.ServeHTTP(w, r)
	}))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL+pathEdit, io.MultiReader(strings.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // unknown length: Transfer-Encoding: chunked
	req.Header.Set("Authorization", "Bearer "+e.token("u1"))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	checkResponse(t, resp).wantError(t, 413, "request_too_large")
	if seenLength != -1 {
		t.Fatalf("the server saw Content-Length %d: the body was not chunked", seenLength)
	}

	// Nothing of a refused body was applied.
	if got := e.me("u1").str("description"); got != "" {
		t.Errorf("description = %q after an oversize body", got)
	}
}

// TestBodyLimitOfAHandlerBefore: a handler before authedge that bounds
// bodies more tightly (Caddy's request_body max_size wraps the body in an
// http.MaxBytesReader) makes the read fail past its limit: that is 413
// request_too_large naming the limit, not a 400 about an unreadable body.
func TestBodyLimitOfAHandlerBefore(t *testing.T) {
	e := newEnv(t, verificationOff())
	limited := func(n int64) reqOpt {
		return func(r *http.Request) {
			r.Body = http.MaxBytesReader(nil, r.Body, n)
			r.ContentLength = -1 // chunked: the limit is met while reading
		}
	}
	body := `{"nickname":"Zhang San","description":"` + strings.Repeat("a", 200) + `"}`
	e.edit("u1", body, limited(100)).wantError(t, 413, "request_too_large").wantDescription(t, "100 bytes")
	if got := e.me("u1").str("description"); got != "" {
		t.Errorf("description = %q after a refused body", got)
	}
	e.edit("u1", body, limited(1000)).wantOK(t)
}

func TestCacheControlAndShapeOnEveryResponse(t *testing.T) {
	// serve checks Cache-Control, Content-Type and the error shape on
	// every response of every test; this one walks one answer of each kind
	// over a real connection, to see the headers as a client does.
	e := newEnv(t, verificationOff())
	srv := httptest.NewServer(e.api)
	defer srv.Close()
	do := func(method, path, body string, hdr map[string]string) *result {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return checkResponse(t, resp)
	}
	auth := map[string]string{"Authorization": "Bearer " + e.token("u1")}
	do(http.MethodGet, pathMe, "", auth).wantOK(t)
	do(http.MethodPost, pathEdit, `{"nickname":"Zhang San"}`, auth).wantOK(t)
	do(http.MethodPost, pathEdit, `{"nickname":1}`, auth).wantError(t, 400, "invalid_argument")
	do(http.MethodGet, pathMe, "", nil).wantError(t, 401, "unauthenticated")
	do(http.MethodDelete, pathMe, "", auth).wantError(t, 405, "method_not_allowed")
	do(http.MethodPost, pathEdit, "a=b", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}).
		wantError(t, 415, "unsupported_media_type")
	if got := do(http.MethodGet, pathMe, "", auth).header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", got)
	}
}

func TestClientID(t *testing.T) {
	e := newEnv(t)
	// The token's aud must hold the effective client_id (no audience is
	// configured).
	envTok := e.token("u1")
	otherTok := e.token("u1", withClaim("aud", []string{otherClient}))

	e.serve(http.MethodGet, pathMe, "", bearer(envTok)).wantOK(t)
	e.serve(http.MethodGet, pathMe, "", bearer(envTok), query("client_id="+testEnvID)).wantOK(t)
	e.serve(http.MethodGet, pathMe, "", bearer(envTok), query("client_id=")).wantOK(t)
	e.serve(http.MethodGet, pathMe, "", bearer(otherTok), query("client_id="+otherClient)).wantOK(t)

	// A known client_id the token was not issued for.
	e.serve(http.MethodGet, pathMe, "", bearer(envTok), query("client_id="+otherClient)).
		wantError(t, 401, "unauthenticated")
	e.serve(http.MethodGet, pathMe, "", bearer(otherTok)).wantError(t, 401, "unauthenticated")

	// An unknown client_id is 400, whatever else is wrong.
	e.serve(http.MethodGet, pathMe, "", bearer(envTok), query("client_id=stranger")).
		wantError(t, 400, "invalid_argument").wantDescription(t, "client_id")
	e.serve(http.MethodGet, pathMe, "", query("client_id=stranger")).wantError(t, 400, "invalid_argument")

	// One client_id that every reader reads alike: not dropped as
	// malformed, not one of two that readers may pick differently.
	for _, q := range []string{
		"client_id=%zz",
		"client_id=" + otherClient + ";x=1",
		"x=1;client_id=" + otherClient,
		"client_id=" + testEnvID + "&client_id=" + otherClient,
		"client_id=" + testEnvID + "&client%5Fid=" + otherClient,
	} {
		e.serve(http.MethodGet, pathMe, "", bearer(envTok), query(q)).
			wantError(t, 400, "invalid_argument").wantDescription(t, "client_id")
	}
	// Other parameters are left alone, even malformed ones.
	e.serve(http.MethodGet, pathMe, "", bearer(envTok), query("x=%zz&y=1;2&client_id="+testEnvID)).wantOK(t)
}

func TestDeviceID(t *testing.T) {
	e := newEnv(t)
	tok := e.token("u1")
	good := []string{"a", "device-1", "A.b_c:d-9", strings.Repeat("x", 128)}
	for _, id := range good {
		t.Run(fmt.Sprintf("accepts %.20q", id), func(t *testing.T) {
			e := e.in(t)
			e.serve(http.MethodGet, pathMe, "", bearer(tok), header("X-Device-Id", id)).wantOK(t)
		})
	}
	// Empty means absent.
	e.serve(http.MethodGet, pathMe, "", bearer(tok), header("X-Device-Id", "")).wantOK(t)

	bad := []string{strings.Repeat("x", 129), "has space", "a/b", "ä", "a\tb", "a,b", "a;b", "<x>"}
	for _, id := range bad {
		t.Run(fmt.Sprintf("refuses %.20q", id), func(t *testing.T) {
			e := e.in(t)
			res := e.serve(http.MethodGet, pathMe, "", bearer(tok), header("X-Device-Id", id))
			if res.status != 400 || res.code() != "invalid_argument" || !strings.Contains(res.description(), "x-device-id") {
				t.Errorf("x-device-id %q: %d %s %q, want 400 invalid_argument naming x-device-id", id, res.status, res.code(), res.description())
			}
		})
	}
}

func TestDeviceBinding(t *testing.T) {
	e := newEnv(t)
	bound := e.token("u1", withDevice("phone-1"))
	e.serve(http.MethodGet, pathMe, "", bearer(bound), header("X-Device-Id", "phone-1")).wantOK(t)
	// Two headers: the one checked against the claim might not be the one
	// the app behind reads.
	twice := func(first, second string) reqOpt {
		return func(r *http.Request) { r.Header["X-Device-Id"] = []string{first, second} }
	}
	for _, pair := range [][2]string{{"phone-1", "phone-2"}, {"phone-1", "phone-1"}, {"phone-1", ""}} {
		e.serve(http.MethodGet, pathMe, "", bearer(bound), twice(pair[0], pair[1])).
			wantError(t, 400, "invalid_argument").wantDescription(t, "x-device-id")
	}
	for name, opt := range map[string]reqOpt{
		"other device": header("X-Device-Id", "phone-2"),
		"no header":    noHeader("X-Device-Id"),
		"empty header": header("X-Device-Id", ""),
		"case differs": header("X-Device-Id", "PHONE-1"),
	} {
		t.Run(name, func(t *testing.T) {
			e := e.in(t)
			res := e.serve(http.MethodGet, pathMe, "", bearer(bound), opt)
			res.wantError(t, 401, "unauthenticated")
			if !strings.Contains(res.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: WWW-Authenticate = %q", name, res.header.Get("WWW-Authenticate"))
			}
		})
	}
	// A token bound to an empty device ID matches no request, not the one
	// without a header.
	empty := e.token("u1", withDevice(""))
	e.serve(http.MethodGet, pathMe, "", bearer(empty)).wantError(t, 401, "unauthenticated")
	e.serve(http.MethodGet, pathMe, "", bearer(empty), header("X-Device-Id", "")).wantError(t, 401, "unauthenticated")

	// A token without the claim is not bound: any well-formed header goes.
	e.serve(http.MethodGet, pathMe, "", bearer(e.token("u1")), header("X-Device-Id", "whatever")).wantOK(t)
}

func TestMissingTokenChallenge(t *testing.T) {
	e := newEnv(t)
	for name, opt := range map[string]reqOpt{
		"no header":    noHeader("Authorization"),
		"empty bearer": header("Authorization", "Bearer "),
		"basic scheme": header("Authorization", "Basic dTpw"),
	} {
		t.Run(name, func(t *testing.T) {
			e := e.in(t)
			res := e.serve(http.MethodGet, pathMe, "", opt)
			res.wantError(t, 401, "unauthenticated")
			ch := res.header.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `realm="`) {
				t.Errorf("%s: WWW-Authenticate = %q, want Bearer realm=...", name, ch)
			}
			if strings.Contains(ch, "error=") {
				t.Errorf("%s: a request without credentials must get no error code (RFC 6750 3.1): %q", name, ch)
			}
		})
	}
	// The scheme is case-insensitive.
	e.serve(http.MethodGet, pathMe, "", header("Authorization", "bearer "+e.token("u1"))).wantOK(t)
}

func TestInvalidTokens(t *testing.T) {
	e := newEnv(t)
	valid := e.claimsFor("u1")
	with := func(k string, v any) claims {
		c := claims{}
		for kk, vv := range valid {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	now := e.clock.Now()
	good := signRS256(t, valid)
	cases := map[string]string{
		"garbage":                             "not.a.token",
		"two segments":                        "abc.def",
		"tampered payload":                    tamper(good),
		"expired":                             signRS256(t, with("exp", now.Add(-time.Hour).Unix())),
		"expired past leeway":                 signRS256(t, with("exp", now.Add(-31*time.Second).Unix())),
		"not yet valid":                       signRS256(t, with("nbf", now.Add(time.Hour).Unix())),
		"issued in the future":                signRS256(t, with("iat", now.Add(time.Hour).Unix())),
		"wrong issuer":                        signRS256(t, with("iss", "https://evil.test")),
		"no issuer":                           signRS256(t, with("iss", nil)),
		"wrong audience":                      signRS256(t, with("aud", []string{"someone-else"})),
		"no audience":                         signRS256(t, with("aud", nil)),
		"no subject":                          signRS256(t, with("sub", nil)),
		"empty subject":                       signRS256(t, with("sub", "")),
		"HS256 with the public key as secret": signHS256(t, valid, e.pubPEM),
		"alg none":                            unsigned(t, valid),
		"other RSA key":                       signRS256With(t, otherKey(), valid),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			e := e.in(t)
			res := e.serve(http.MethodGet, pathMe, "", bearer(tok))
			if res.status != 401 || res.code() != "unauthenticated" {
				t.Fatalf("%s: %d %s, want 401 unauthenticated", name, res.status, res.code())
			}
			ch := res.header.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `error="invalid_token"`) || !strings.Contains(ch, `realm="`) {
				t.Errorf("%s: WWW-Authenticate = %q, want Bearer realm=..., error=\"invalid_token\"", name, ch)
			}
			if strings.Contains(ch, tok) || strings.Contains(res.description(), tok) {
				t.Errorf("%s: the answer echoes the token", name)
			}
		})
	}
	// Within leeway (30 s by default) an expired token still passes.
	e.serve(http.MethodGet, pathMe, "", bearer(signRS256(t, with("exp", now.Add(-10*time.Second).Unix())))).wantOK(t)
	// A token that was good expires when the clock passes exp + leeway.
	e.serve(http.MethodGet, pathMe, "", bearer(good)).wantOK(t)
	e.clock.Advance(time.Hour + time.Minute)
	e.serve(http.MethodGet, pathMe, "", bearer(good)).wantError(t, 401, "unauthenticated")
}

// tamper changes one claim of a signed token without re-signing it.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	parts[1] = strings.TrimRight(parts[1], "=")
	// Flip the subject by appending a claim: decode, edit, encode.
	raw, err := decodeSegment(parts[1])
	if err != nil {
		panic(err)
	}
	raw = bytes.Replace(raw, []byte(`"sub":"u1"`), []byte(`"sub":"u2"`), 1)
	parts[1] = encodeSegment(raw)
	return strings.Join(parts, ".")
}

// TestMissingAdminScopeChallenge: a valid token without the admin scope
// is 403 permission_denied, and RFC 6750 3 requires the challenge of a
// token that does not enable access: error="insufficient_scope", with the
// scope that would.
func TestMissingAdminScopeChallenge(t *testing.T) {
	e := newEnv(t, verificationOff())
	e.edit("u2", `{"nickname":"Li Si"}`).wantOK(t)
	tok := e.token("u1")
	for name, res := range map[string]*result{
		"user/query":         e.serve(http.MethodGet, "/auth/v1/user/query?username=lisi", "", bearer(tok)),
		"basic/edit user_id": e.serve(http.MethodPost, pathEdit, `{"user_id":"u2","nickname":"Wang Wu"}`, bearer(tok)),
		"revoke/all user_id": e.serve(http.MethodDelete, "/auth/v1/user/revoke/all", "", bearer(tok), query("user_id=u2")),
	} {
		res.wantError(t, 403, "permission_denied")
		want := `Bearer realm="authedge", error="insufficient_scope", error_description=`
		got := res.header.Get("WWW-Authenticate")
		if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, `, scope="admin"`) {
			t.Errorf("%s: WWW-Authenticate = %q, want %s...\", scope=\"admin\"", name, got, want)
		}
	}
}

func TestAuthorizationOnVerifyIsIgnored(t *testing.T) {
	// verify takes no token; a bad one sent anyway changes nothing: the
	// answer is about the code, not the token.
	e := newEnv(t)
	res := e.serve(http.MethodPost, pathVerify, `{"verification_id":"nope","verification_code":"123456"}`,
		header("Authorization", "Bearer garbage"))
	res.wantError(t, 400, "invalid_verification_code")
}

func TestRetryAfterRoundsUp(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{time.Millisecond, "1"}, {time.Second, "1"}, {1500 * time.Millisecond, "2"}, {59 * time.Second, "59"}} {
		t.Run(c.d.String(), func(t *testing.T) {
			w := httptest.NewRecorder()
			writeError(w, resourceExhausted(c.d))
			if got := w.Header().Get("Retry-After"); got != c.want {
				t.Errorf("Retry-After for %v = %q, want %q", c.d, got, c.want)
			}
		})
	}
	// A limit reported with no time left still tells the client to wait.
	w := httptest.NewRecorder()
	writeError(w, resourceExhausted(0))
	if got, _ := strconv.Atoi(w.Header().Get("Retry-After")); got < 1 {
		t.Errorf("Retry-After for 0 = %q, want at least 1", w.Header().Get("Retry-After"))
	}
}

func decodeSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
func encodeSegment(b []byte) string          { return base64.RawURLEncoding.EncodeToString(b) }

var otherKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// panickingVerifier is a Verifier with a bug.
type panickingVerifier struct{}

func (panickingVerifier) Verify(context.Context, string, string) (*token.Claims, error) {
	panic("verifier bug with a secret-looking value 13912345678")
}

func TestPanicIsAnInternalError(t *testing.T) {
	e := newEnv(t)
	core, logs := observer.New(zapcore.DebugLevel)
	api, err := New(e.cfg, Deps{Verifier: panickingVerifier{}, Store: e.store, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	e.api = api
	e.serve(http.MethodGet, pathMe, "", bearer(e.token("u1"))).wantError(t, 500, "internal")
	if errs := logs.FilterLevelExact(zapcore.ErrorLevel).FilterMessage("panic while serving").Len(); errs != 1 {
		t.Fatalf("%d panic log entries", errs)
	}
	// The panic's value may hold request data: it is not logged.
	e.logs = logs
	e.assertLogsNeverContain(t, "13912345678")
	// http.ErrAbortHandler keeps its meaning: abort the response.
	abort := &API{}
	*abort = *api
	abort.deps.Verifier = abortingVerifier{}
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", v)
		}
	}()
	r := httptest.NewRequest(http.MethodGet, pathMe, nil)
	r.Header.Set("Authorization", "Bearer "+e.token("u1"))
	abort.ServeHTTP(httptest.NewRecorder(), r)
	t.Fatal("ErrAbortHandler was swallowed")
}

type abortingVerifier struct{}

func (abortingVerifier) Verify(context.Context, string, string) (*token.Claims, error) {
	panic(http.ErrAbortHandler)
}

// TestPlainContentTypeAgreesWithMime: the fast path takes the forms
// clients send, and only forms that mime.ParseMediaType accepts as well.
func TestPlainContentTypeAgreesWithMime(t *testing.T) {
	for _, ct := range []string{
		"application/json", "application/json; charset=utf-8", "application/json;charset=UTF-8",
		"text/plain", "text/plain;charset=UTF-8", "Application/JSON", "text/plain ; charset=utf-8",
	} {
		if !plainContentType(ct) {
			t.Errorf("%q takes the slow path", ct)
		}
		checkPlainContentType(t, ct)
	}
	for _, ct := range []string{
		"application/json;", "application/json; charset=latin1", "text/html", "application/jsonp",
		"application/json; charset=utf-8; x=y", `text/plain; charset="utf-8"`, " application/json",
		"application/json; charset=utf-8;", "text/plain;charset",
	} {
		if plainContentType(ct) {
			t.Errorf("%q takes the fast path", ct)
		}
		checkPlainContentType(t, ct)
	}
}

// checkPlainContentType fails if plainContentType accepts ct where
// mime.ParseMediaType and readBody's rules would refuse it.
func checkPlainContentType(t *testing.T, ct string) {
	t.Helper()
	if !plainContentType(ct) {
		return
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil || (mediaType != "application/json" && mediaType != "text/plain") {
		t.Fatalf("%q: fast path accepts what mime.ParseMediaType gives as %q, %v", ct, mediaType, err)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		t.Fatalf("%q: fast path accepts charset %q", ct, cs)
	}
}

func FuzzPlainContentType(f *testing.F) {
	for _, ct := range []string{"application/json", "text/plain;charset=UTF-8", "text/plain; charset=utf-8 ", "application/json;;"} {
		f.Add(ct)
	}
	f.Fuzz(checkPlainContentType)
}

// eofReader returns its data and io.EOF in one Read, as some readers do.
type eofReader struct{ data []byte }

func (r *eofReader) Read(p []byte) (int, error) {
	n := copy(p, r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// TestReadBodyLimitWithEOF: a body one byte past the limit is refused even
// when its last byte arrives with io.EOF, and one at the limit is read.
func TestReadBodyLimitWithEOF(t *testing.T) {
	for _, size := range []int{maxBodyBytes, maxBodyBytes + 1} {
		r := httptest.NewRequest(http.MethodPost, pathEdit, nil)
		r.Body = io.NopCloser(&eofReader{data: bytes.Repeat([]byte(" "), size)})
		r.ContentLength = -1
		buf := make([]byte, 0, 16)
		body, err := readBody(r, &buf)
		if size > maxBodyBytes && err != errTooLarge {
			t.Errorf("%d bytes: %v, want too large", size, err)
		}
		if size == maxBodyBytes && (err != nil || len(body) != size) {
			t.Errorf("%d bytes: %d read, %v", size, len(body), err)
		}
	}
}
