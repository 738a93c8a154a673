package handler

import (
	"net/http"
	"testing"
)

func TestZZProbe(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	for _, q := range []string{"user_Id=u2", "userid=u2", "user_id=%zz", "user_id=u2;x=1", "user_id=%ff"} {
		res := e.serve(http.MethodDelete, pathRevokeAll, "", bearer(e.adminToken()), query(q))
		t.Logf("revoke/all?%s -> %d %s", q, res.status, res.body)
		e.clock.Advance(1e9)
	}
	t.Logf("admin own old token: %d", e.meWith(admin).status)
	// query id invalid utf8
	res := e.serve(http.MethodGet, "/auth/v1/user/query", "", bearer(e.adminToken()), query("id=%ff"))
	t.Logf("query id=%%ff -> %d %s", res.status, res.body)
	// history junk page token
	res = e.serve(http.MethodGet, "/auth/v1/user/security/history", "", bearer(e.token("u1")), query("page_token=%ff&limit=5"))
	t.Logf("history -> %d %s", res.status, res.body)
	res = e.serve(http.MethodGet, "/auth/v1/user/security/history", "", bearer(e.token("u1")), query("page_token=a;b"))
	t.Logf("history ; -> %d %s", res.status, res.body)
	res = e.serve(http.MethodGet, "/auth/v1/user/me", "", bearer(e.token("u1")), query("client_id=%zz"))
	t.Logf("me client_id bad -> %d %s", res.status, res.body)
	res = e.serve(http.MethodGet, "/auth/v1/user/me", "", bearer(e.token("u1")), query("client_id=nope;a"))
	t.Logf("me client_id ; -> %d %s", res.status, res.body)
	// signout with json null body
	res = e.serve(http.MethodPost, pathSignout, "null", bearer(e.token("u9")))
	t.Logf("signout null -> %d %s", res.status, res.body)
	res = e.serve(http.MethodPost, pathRevoke, `{"token":null}`)
	t.Logf("revoke null -> %d %s", res.status, res.body)
}
