package handler

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAuthorizationMatrix walks every endpoint with every kind of caller
// and every kind of target (docs/api.md#authorization,
// docs/api.md#order-of-checks): who may act on whom, which check answers
// first, and that a refused request leaves Redis exactly as it was. Two
// environments share the one redis-server, as two authedge sites of one
// Caddy may.
func TestAuthorizationMatrix(t *testing.T) {
	const envB = "env-b"
	a := newEnv(t)
	b := newEnv(t, withSharedRedis(a, envB))

	// Profiles: u1 (the caller), u2 (another user) and café (an NFC
	// sub), in A; u1 in B too, another person with the same sub.
	for _, u := range []struct{ sub, name string }{{"u1", "alice"}, {"u2", "bob"}, {"caf\u00e9", "cafe"}} {
		a.edit(u.sub, `{"username":"`+u.name+`","nickname":"Nick `+u.name+`"}`).wantOK(t)
	}
	b.serve(http.MethodPost, pathEdit, `{"username":"carol","nickname":"Carol"}`,
		bearer(b.token("u1"))).wantOK(t)

	revoked := a.token("u1", withClaim("jti", "revoked"))
	a.serve(http.MethodPost, pathSignout, "", bearer(revoked)).wantOK(t)

	type caller struct {
		name string
		opts []reqOpt
	}
	tok := func(sub string, opts ...claimOpt) []reqOpt { return []reqOpt{bearer(a.token(sub, opts...))} }
	var (
		none        = caller{"no token", nil}
		self        = caller{"u1", tok("u1")}
		other       = caller{"u2", tok("u2")}
		admin       = caller{"admin", tok(adminUser, withScope("openid admin"))}
		adminArray  = caller{"scope array", tok(adminUser, withClaim("scope", []string{"admin"}))}
		adminSubstr = caller{"scope administrator", tok(adminUser, withScope("administrator superadmin admin:all"))}
		adminCase   = caller{"scope Admin", tok(adminUser, withScope("Admin ADMIN"))}
		adminTab    = caller{"scope with tab", tok(adminUser, withScope("openid\tadmin"))}
		clientTok   = caller{"other client, unnamed", tok("u1", withClaim("aud", []string{otherClient}))}
		clientNamed = caller{"other client, named", append(tok("u1", withClaim("aud", []string{otherClient})), addQuery("client_id="+otherClient))}
		envBTok     = caller{"env B's u1", tok("u1", withClaim("aud", []string{envB}))}
		envBAdmin   = caller{"env B's admin", tok(adminUser, withClaim("aud", []string{envB}), withScope("admin"))}
		expired     = caller{"expired", tok("u1", withClaim("exp", a.clock.Now().Add(-time.Hour).Unix()))}
		revokedTok  = caller{"revoked", []reqOpt{bearer(revoked)}}
		boundBare   = caller{"bound, no x-device-id", tok("u1", withDevice("d1"))}
		boundOther  = caller{"bound, other x-device-id", append(tok("u1", withDevice("d1")), header("X-Device-Id", "d2"))}
		boundRight  = caller{"bound, its x-device-id", append(tok("u1", withDevice("d1")), header("X-Device-Id", "d1"))}
	)
	refusedTokens := []caller{none, adminArray, clientTok, envBTok, envBAdmin, expired, revokedTok, boundBare, boundOther}
	nonAdmins := []caller{self, adminSubstr, adminCase, adminTab, clientNamed, boundRight}

	type cell struct {
		method, path, body string
		query              string // added to the caller's own query
		callers            []caller
		status             int
		code               string // "" for a 2xx
		same               bool   // a 2xx that must change nothing either
	}
	edit := func(userID string) string {
		return `{"nickname":"Changed","user_id":` + userID + `}`
	}
	var cells []cell
	// Every endpoint that takes a token: a refused token is 401 whatever
	// else is wrong with the request.
	for _, ep := range []struct{ method, path, body string }{
		{http.MethodPost, pathEdit, edit(`"u2"`)},
		{http.MethodGet, pathMe, ""},
		{http.MethodPost, pathSend, `{"email":"","target":"CUR_USER"}`},
		{http.MethodPost, pathSudo, `{"verification_token":"x"}`},
		{http.MethodPatch, pathContact, `{"email":""}`},
		{http.MethodPatch, pathProfile, `{"name":"Changed"}`},
		{http.MethodGet, pathCheckName + "?username=bob", ""},
		{http.MethodGet, pathQueryUsers + "?username=bob", ""},
		{http.MethodGet, pathHistory, ""},
		{http.MethodPost, pathSignout, ""},
		{http.MethodDelete, pathRevokeAll + "?user_id=u2", ""},
		{http.MethodDelete, pathDevices + "d1", ""},
	} {
		cells = append(cells, cell{ep.method, ep.path, ep.body, "", refusedTokens, 401, "unauthenticated", false})
	}
	cells = append(cells,
		// basic/edit: yourself, by any spelling authedge takes for you.
		cell{http.MethodPost, pathEdit, `{"nickname":"Changed"}`, "", append(nonAdmins, admin), 200, "", false},
		cell{http.MethodPost, pathEdit, edit(`""`), "", []caller{self}, 200, "", false},
		cell{http.MethodPost, pathEdit, edit(`null`), "", []caller{self}, 200, "", false},
		cell{http.MethodPost, pathEdit, edit(`"u1"`), "", []caller{self, clientNamed, boundRight}, 200, "", false},
		// Another user, one without a profile, and near spellings of
		// the caller's own ID: another user, never the caller.
		cell{http.MethodPost, pathEdit, edit(`"u2"`), "", nonAdmins, 403, "permission_denied", false},
		cell{http.MethodPost, pathEdit, edit(`"ghost"`), "", nonAdmins, 403, "permission_denied", false},
		cell{http.MethodPost, pathEdit, edit(`"U1"`), "", []caller{self}, 403, "permission_denied", false},
		cell{http.MethodPost, pathEdit, edit(`" u1"`), "", []caller{self}, 403, "permission_denied", false},
		cell{http.MethodPost, pathEdit, edit(`"u1 "`), "", []caller{self}, 403, "permission_denied", false},
		cell{http.MethodPost, pathEdit, edit(`"cafe\u0301"`), "", []caller{{"café", tok("caf\u00e9")}}, 403, "permission_denied", false},
		cell{http.MethodPost, pathEdit, edit(`"u1"`), "", []caller{other}, 403, "permission_denied", false},
		// Another environment is no client of this one, with or without
		// a token (step 2 comes before the token).
		cell{http.MethodGet, pathMe, "", "client_id=" + envB, []caller{none, self, envBTok}, 400, "invalid_argument", false},
		cell{http.MethodPost, pathRevoke, `{"token":"x"}`, "client_id=" + envB, []caller{none}, 400, "invalid_argument", false},
		// The token is judged before the body and the query.
		cell{http.MethodPost, pathEdit, edit(`"u\u0000"`), "", refusedTokens, 401, "unauthenticated", false},
		cell{http.MethodPost, pathEdit, `{"nickname":"x","bogus":1}`, "", refusedTokens, 401, "unauthenticated", false},
		cell{http.MethodDelete, pathRevokeAll, "", "user_id=", refusedTokens, 401, "unauthenticated", false},
		cell{http.MethodGet, pathQueryUsers + "?username=b", "", "", refusedTokens, 401, "unauthenticated", false},
		// A malformed ID is a field rule: 400 before the permission, for
		// anyone.
		cell{http.MethodPost, pathEdit, edit(`"u\u0000"`), "", append(nonAdmins, admin), 400, "invalid_argument", false},
		cell{http.MethodPost, pathEdit, edit(`"` + strings.Repeat("x", 257) + `"`), "", []caller{self, admin}, 400, "invalid_argument", false},
		cell{http.MethodPost, pathEdit, edit(`7`), "", []caller{self, admin}, 400, "invalid_argument", false},
		cell{http.MethodPost, pathEdit, `{"nickname":"x","user_id":"u2"}`, "", []caller{self}, 400, "invalid_argument", false},
		// The admin: another user's profile, and 404 for one without.
		cell{http.MethodPost, pathEdit, edit(`"u2"`), "", []caller{admin}, 200, "", false},
		cell{http.MethodPost, pathEdit, edit(`"ghost"`), "", []caller{admin}, 404, "user_not_found", false},
		cell{http.MethodPost, pathEdit, edit(`"U2"`), "", []caller{admin}, 404, "user_not_found", false},
		cell{http.MethodPost, pathEdit, edit(`"cafe\u0301"`), "", []caller{admin}, 404, "user_not_found", false},
		// Needs neither sudo nor verification to change another's contact.
		cell{http.MethodPost, pathEdit, `{"user_id":"u2","email":"new@example.com"}`, "", []caller{admin}, 200, "", false},
		// Permission comes before sudo, verification and uniqueness, and
		// existence before uniqueness.
		cell{http.MethodPost, pathEdit, `{"user_id":"u2","email":"x@example.com"}`, "", nonAdmins, 403, "permission_denied", false},
		cell{http.MethodPost, pathEdit, `{"user_id":"u2","email":""}`, "", nonAdmins, 403, "permission_denied", false},
		cell{http.MethodPost, pathEdit, `{"user_id":"u2","username":"alice"}`, "", nonAdmins, 403, "permission_denied", false},
		cell{http.MethodPost, pathEdit, `{"user_id":"ghost","username":"alice"}`, "", []caller{admin}, 404, "user_not_found", false},
		cell{http.MethodPost, pathEdit, `{"user_id":"u2","username":"ALICE"}`, "", []caller{admin}, 409, "username_already_exists", false},
		// ... but the admin's own contact needs them like anyone's.
		cell{http.MethodPost, pathEdit, `{"email":"new2@example.com"}`, "", []caller{admin}, 400, "verification_required", false},

		cell{http.MethodGet, pathMe, "", "", append(nonAdmins, admin, other), 200, "", false},
		cell{http.MethodPatch, pathProfile, `{"name":"Changed"}`, "", append(nonAdmins, admin), 200, "", false},
		cell{http.MethodPatch, pathProfile, `{"name":"Changed","user_id":"u2"}`, "", []caller{self, admin}, 400, "invalid_argument", false},
		cell{http.MethodPatch, pathContact, `{"email":"x@example.com","user_id":"u2"}`, "", []caller{self, admin}, 400, "invalid_argument", false},
		cell{http.MethodGet, pathCheckName + "?username=bob", "", "", append(nonAdmins, admin), 409, "username_already_exists", false},
		cell{http.MethodGet, pathCheckName + "?username=alice", "", "", []caller{self}, 200, "", false},
		// user/query: admins only, whether or not anyone matches; its
		// field rules come first.
		cell{http.MethodGet, pathQueryUsers + "?username=bob", "", "", append(nonAdmins, other), 403, "permission_denied", false},
		cell{http.MethodGet, pathQueryUsers + "?username=nobody", "", "", nonAdmins, 403, "permission_denied", false},
		cell{http.MethodGet, pathQueryUsers + "?id=u2,ghost", "", "", nonAdmins, 403, "permission_denied", false},
		cell{http.MethodGet, pathQueryUsers + "?username=b", "", "", []caller{self, admin}, 400, "invalid_argument", false},
		cell{http.MethodGet, pathQueryUsers + "?username=bob", "", "", []caller{admin}, 200, "", false},
		cell{http.MethodGet, pathHistory, "", "", append(nonAdmins, admin), 200, "", false},
		// revoke/all: yourself, or anyone for an admin; strictly read.
		cell{http.MethodDelete, pathRevokeAll, "", "user_id=u2", nonAdmins, 403, "permission_denied", false},
		cell{http.MethodDelete, pathRevokeAll, "", "user_id=ghost", nonAdmins, 403, "permission_denied", false},
		cell{http.MethodDelete, pathRevokeAll, "", "user_id=U1", []caller{self}, 403, "permission_denied", false},
		cell{http.MethodDelete, pathRevokeAll, "", "user_id=", []caller{self, admin}, 400, "invalid_argument", false},
		cell{http.MethodDelete, pathRevokeAll, "", "user_id=%00", []caller{self, admin}, 400, "invalid_argument", false},
		cell{http.MethodDelete, pathRevokeAll, "", "user_id=u2&user_id=u2", []caller{self, admin}, 400, "invalid_argument", false},
		cell{http.MethodDelete, pathRevokeAll, "", "user_Id=u2", []caller{self, admin}, 400, "invalid_argument", false},
		cell{http.MethodDelete, pathDevices + "d1", "", "user_id=u2", []caller{self, admin}, 400, "invalid_argument", false},
		// Anonymous endpoints: the token in Authorization is ignored,
		// a token of env B posted to A's revoke is no token of A's.
		cell{http.MethodGet, pathUserExists + "?username=bob", "", "", []caller{none, envBTok, expired}, 200, "", false},
		cell{http.MethodPost, pathRevoke, `{"token":"` + b.token("u1") + `"}`, "", []caller{none}, 200, "", true},
		cell{http.MethodPost, pathVerify, `{"verification_id":"nope","verification_code":"123456"}`, "", []caller{none, self}, 400, "invalid_verification_code", false},
	)

	// Counters a request may move without changing anything it was
	// refused: the per-IP lookups, the edit limit (an edit that reaches
	// the store counts, refused or not).
	counters := []string{":lk:", ":rl:", ":vf:"}
	for _, c := range cells {
		for _, who := range c.callers {
			name := who.name + " " + c.method + " " + c.path + c.body + "?" + c.query
			before := a.redisState(counters...)
			opts := append([]reqOpt{}, who.opts...)
			if c.query != "" {
				opts = append(opts, addQuery(c.query))
			}
			res := a.serve(c.method, c.path, c.body, opts...)
			if res.status != c.status || (c.code != "" && res.code() != c.code) {
				t.Errorf("%s: %d %s (%s), want %d %s", name, res.status, res.code(), res.description(), c.status, c.code)
				continue
			}
			if c.status >= 300 || c.same {
				if k := changedKey(before, a.redisState(counters...)); k != "" {
					t.Errorf("%s: refused, but %s changed", name, k)
				}
			}
		}
	}

	// Nothing of env B was touched by anything sent to A, and B's u1
	// is still served by B's token alone.
	me := b.serve(http.MethodGet, pathMe, "", bearer(b.token("u1"))).wantOK(t)
	if me.str("username") != "carol" || me.str("name") != "Carol" {
		t.Errorf("env B's u1 after env A's requests: %s", me.body)
	}
	// The admin's revoke/all of u2 in A ends u2's tokens there ...
	a.clock.Advance(time.Second)
	a.serve(http.MethodDelete, pathRevokeAll, "", append(admin.opts, addQuery("user_id=u2"))...).wantOK(t)
	a.serve(http.MethodGet, pathMe, "", tok("u2")...).wantError(t, 401, "unauthenticated")
	// ... not B's, which u2's revoke/all in A cannot reach either.
	b.serve(http.MethodGet, pathMe, "", bearer(b.token("u2"))).wantOK(t)
	// The admin can still act: revoking u2 revoked no one else.
	a.serve(http.MethodGet, pathMe, "", admin.opts...).wantOK(t)

	// A device is its user's: u3 naming u1's device d1 revokes nothing
	// of u1's; u1 naming it does.
	a.serve(http.MethodDelete, pathDevices+"d1", "", tok("u3")...).wantOK(t)
	a.serve(http.MethodDelete, pathDevices+"d1", "", envBTok.opts...).wantError(t, 401, "unauthenticated")
	a.serve(http.MethodGet, pathMe, "", boundRight.opts...).wantOK(t)
	a.serve(http.MethodDelete, pathDevices+"d1", "", self.opts...).wantOK(t)
	a.serve(http.MethodGet, pathMe, "", boundRight.opts...).wantError(t, 401, "unauthenticated")
	a.serve(http.MethodGet, pathMe, "", self.opts...).wantOK(t)

	// A token both environments accept (its aud names both) is revoked
	// in the one it is signed out of: each environment keeps its own
	// revocations, as its own users (docs/revocation.md).
	both := a.token("u1", withClaim("aud", []string{testEnvID, envB}), withClaim("jti", "both"))
	a.serve(http.MethodPost, pathSignout, "", bearer(both)).wantOK(t)
	a.serve(http.MethodGet, pathMe, "", bearer(both)).wantError(t, 401, "unauthenticated")
	b.serve(http.MethodGet, pathMe, "", bearer(both)).wantOK(t)
}

// addQuery appends q to the request's query string.
func addQuery(q string) reqOpt {
	return func(r *http.Request) {
		if r.URL.RawQuery == "" {
			r.URL.RawQuery = q
			return
		}
		r.URL.RawQuery += "&" + q
	}
}

// TestMeAndHistoryRefuseUserID: user/me and user/security/history are
// the caller's own, and name nobody else. A user_id sent to them, as an
// admin tool might send it meaning another user, is 400 rather than
// ignored: ignored, the admin would read their own profile or history as
// the user's (and user/me would create the admin's profile).
func TestMeAndHistoryRefuseUserID(t *testing.T) {
	e := newEnv(t)
	e.edit("u2", `{"username":"bob"}`).wantOK(t)
	for _, path := range []string{pathMe, pathHistory} {
		for _, tok := range []string{e.adminToken(), e.token("u1")} {
			for _, q := range []string{"user_id=u2", "user_id=", "limit=5&user_id=u2"} {
				before := e.redisState()
				e.serve(http.MethodGet, path+"?"+q, "", bearer(tok)).
					wantError(t, 400, "invalid_argument").wantDescription(t, "user_id")
				if k := changedKey(before, e.redisState()); k != "" {
					t.Errorf("%s?%s: refused, but %s changed", path, q, k)
				}
			}
		}
	}
}
