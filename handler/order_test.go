package handler

import (
	"net/http"
	"testing"
)

// docs/api.md#order-of-checks: checks run in a fixed order and the first
// failure answers. Each case here breaks two rules at once and expects the
// earlier one.

func TestOrderOfChecks(t *testing.T) {
	e := newEnv(t)
	good := e.token("u1")
	bad := "not.a.token"
	e.me("someone") // "someone" exists
	cases := []struct {
		name         string
		method, path string
		body         string
		opts         []reqOpt
		status       int
		code         string
	}{
		{"wrong method beats bad token", http.MethodGet, pathEdit, "", []reqOpt{bearer(bad)}, 405, "method_not_allowed"},
		{"wrong method beats unknown client_id", http.MethodPut, pathEdit, `{}`, []reqOpt{bearer(good), query("client_id=stranger")}, 405, "method_not_allowed"},
		{"content type beats bad token", http.MethodPost, pathEdit, `{}`, []reqOpt{bearer(bad), header("Content-Type", "application/x-www-form-urlencoded")}, 415, "unsupported_media_type"},
		{"size beats bad token", http.MethodPost, pathEdit, `{"description":"` + string(make([]byte, maxBodyBytes)) + `"}`, []reqOpt{bearer(bad)}, 413, "request_too_large"},
		{"size beats unknown client_id", http.MethodPost, pathEdit, `{"x":"` + string(make([]byte, maxBodyBytes)) + `"}`, []reqOpt{query("client_id=stranger")}, 413, "request_too_large"},
		{"bad client_id beats bad token", http.MethodPost, pathEdit, `{}`, []reqOpt{bearer(bad), query("client_id=stranger")}, 400, "invalid_argument"},
		{"bad client_id beats missing token", http.MethodGet, pathMe, "", []reqOpt{query("client_id=stranger")}, 400, "invalid_argument"},
		{"malformed x-device-id beats bad token", http.MethodGet, pathMe, "", []reqOpt{bearer(bad), header("X-Device-Id", "a b")}, 400, "invalid_argument"},
		{"bad token beats bad body", http.MethodPost, pathEdit, `{"nickname":`, []reqOpt{bearer(bad)}, 401, "unauthenticated"},
		{"missing token beats unknown field", http.MethodPost, pathEdit, `{"bogus":1}`, nil, 401, "unauthenticated"},
		{"device mismatch beats bad body", http.MethodPost, pathEdit, `[]`, []reqOpt{bearer(e.token("u1", withDevice("d1"))), header("X-Device-Id", "d2")}, 401, "unauthenticated"},
		{"field rule beats permission", http.MethodPost, pathEdit, `{"user_id":"someone","nickname":"x"}`, []reqOpt{bearer(good)}, 400, "invalid_argument"},
		{"body syntax beats permission", http.MethodPost, pathEdit, `{"user_id":"someone","bogus":true}`, []reqOpt{bearer(good)}, 400, "invalid_argument"},
		{"non-admin naming an existing user", http.MethodPost, pathEdit, `{"user_id":"someone","nickname":"Zhang San"}`, []reqOpt{bearer(good)}, 403, "permission_denied"},
		{"non-admin naming an unknown user", http.MethodPost, pathEdit, `{"user_id":"nobody","nickname":"Zhang San"}`, []reqOpt{bearer(good)}, 403, "permission_denied"},
		{"admin naming an unknown user", http.MethodPost, pathEdit, `{"user_id":"nobody","nickname":"Zhang San"}`, []reqOpt{bearer(e.adminToken())}, 404, "user_not_found"},
		{"permission beats verification", http.MethodPost, pathEdit, `{"user_id":"someone","phone":"+86 13000000000"}`, []reqOpt{bearer(good)}, 403, "permission_denied"},
		{"sudo beats verification", http.MethodPost, pathEdit, `{"phone":"+86 13000000009"}`, []reqOpt{bearer(e.token("bound"))}, 403, "sudo_required"},
	}
	// "bound" has a phone: replacing it needs sudo (step 6) before the
	// missing verification token (step 7) is looked at.
	e.bindPhone("bound", "+86 13000000001")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := e.in(t)
			e.serve(c.method, c.path, c.body, c.opts...).wantError(t, c.status, c.code)
		})
	}
}

func TestNonAdminNamingAnotherUserChangesNothing(t *testing.T) {
	e := newEnv(t, verificationOff())
	e.edit("victim", `{"nickname":"Victim"}`).wantOK(t)
	e.edit("u1", `{"user_id":"victim","nickname":"Hacked"}`).wantError(t, 403, "permission_denied")
	if got := e.me("victim").str("name"); got != "Victim" {
		t.Fatalf("victim's nickname = %q", got)
	}
	// Naming oneself is not "another user".
	e.edit("u1", `{"user_id":"u1","nickname":"Myself"}`).wantOK(t)
	if got := e.me("u1").str("name"); got != "Myself" {
		t.Fatalf("nickname = %q", got)
	}
}

func TestAdminEditsAnotherUser(t *testing.T) {
	e := newEnv(t)
	e.me("target")
	e.editWith(e.adminToken(), `{"user_id":"target","nickname":"Set By Admin"}`).wantOK(t)
	if got := e.me("target").str("name"); got != "Set By Admin" {
		t.Fatalf("nickname = %q", got)
	}
	// The admin's own profile was not created by editing someone else.
	if _, ok, err := e.store.Profile(t.Context(), adminUser); err != nil || ok {
		t.Fatalf("admin profile exists = %v (err %v) after editing another user", ok, err)
	}
	// A scope merely containing "admin" as a substring is not the admin scope.
	e.editWith(e.token("u1", withScope("administrator superadmin")), `{"user_id":"target","nickname":"Nope Nope"}`).
		wantError(t, 403, "permission_denied")
}
