package handler

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzRevocationRequests: the revocation endpoints' outside input (revoke
// and signout bodies, revoke/all's query, the device path segment) by a
// user or an admin. The answer is a 200 or a catalog error below 500; an
// error changes nothing in Redis (the device revocation counter aside); a
// token that is not one the issuer signed revokes nothing, though
// answered 200; and a 200 of revoke/all or signout leaves the caller's
// token refused.
func FuzzRevocationRequests(f *testing.F) {
	e := newEnv(f, verificationOff(), sudoOff())
	for _, s := range []string{"", "user_id=u2", "user_id=u1", "user_id=", "user_id=a&user_id=b", "user_id=%00", "client_id=" + testEnvID,
		"x=1", "%zz", "user_id=" + strings.Repeat("a", 257)} {
		f.Add(uint8(0), true, s)
		f.Add(uint8(0), false, s)
	}
	for _, s := range []string{"dev-1", "", "a/b", "..", "dev%2F1", strings.Repeat("d", 129), "dev 1", "dev-1?user_id=u2"} {
		f.Add(uint8(1), false, s)
	}
	for _, s := range []string{`{"token":"a.b.c"}`, `{"token":""}`, `{"token":null}`, `{}`, `[]`, `{"token":"x","token":"y"}`, `{"Token":"a"}`, "SELF"} {
		f.Add(uint8(2), false, s)
	}
	for _, s := range []string{``, `{}`, `{"redirect_uri":"https://evil.example/","state":"s"}`, `{"state":5}`, `{"x":1}`} {
		f.Add(uint8(3), false, s)
	}
	ctx := context.Background()
	raw := e.rawRedis()
	f.Fuzz(func(t *testing.T, which uint8, admin bool, arg string) {
		e.t = t
		// A second on: the tokens of this round are issued after every
		// cutoff of the last.
		e.clock.Advance(time.Second)
		for _, k := range raw.Keys(ctx, "*}:rv:*").Val() {
			raw.Del(ctx, k)
		}
		tok := e.token("u1")
		if admin {
			tok = e.adminToken()
		}
		var res *result
		before := e.redisState("}:rv:")
		switch which % 4 {
		case 0:
			res = e.serve(http.MethodDelete, pathRevokeAll, "", bearer(tok), query(arg))
		case 1:
			res = e.serve(http.MethodDelete, pathDevices+"x", "", bearer(tok), func(r *http.Request) {
				r.URL.Path, r.URL.RawPath = pathDevices+arg, ""
			})
		case 2:
			body := arg
			if arg == "SELF" {
				body = `{"token":"` + tok + `"}`
			}
			res = e.serve(http.MethodPost, pathRevoke, body)
		case 3:
			res = e.serve(http.MethodPost, pathSignout, arg, bearer(tok))
		}
		after := e.redisState("}:rv:")
		if res.status >= 500 {
			t.Fatalf("%d %q: %d %s", which%4, arg, res.status, res.body)
		}
		if k := changedKey(before, after); k != "" && (res.status != http.StatusOK || (which%4 == 2 && arg != "SELF")) {
			t.Fatalf("%d %q: %d %s, and %s changed", which%4, arg, res.status, res.body, k)
		}
		sub := "u1"
		if admin {
			sub = adminUser
		}
		if which%4 == 0 {
			if values, err := url.ParseQuery(arg); err == nil && values.Has("user_id") {
				sub = "" // the one named, maybe the caller: not checked here
			}
		}
		selfRevoked := which%4 == 3 || which%4 == 2 && arg == "SELF" || which%4 == 0 && sub != ""
		if res.status == http.StatusOK && selfRevoked {
			if me := e.serve(http.MethodGet, pathMe, "", bearer(tok)); me.status != http.StatusUnauthorized {
				t.Fatalf("%d %q: 200, then the caller's token is %d %s", which%4, arg, me.status, me.body)
			}
		}
	})
}
