package handler

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// PATCH /auth/v1/user/contact (docs/api.md#bind-or-change-a-contact): a
// basic/edit of one contact, under CloudBase's field names.

func (e *env) contact(sub, body string) *result {
	e.t.Helper()
	return e.serve(http.MethodPatch, pathContact, body, bearer(e.token(sub)))
}

func TestContactExactlyOneField(t *testing.T) {
	e := newEnv(t)
	for _, body := range []string{
		`{}`,
		`{"phone_number":null,"email":null}`,
		`{"phone_number":"+86 13000000000","email":"z@example.com"}`,
		`{"phone_number":"","email":""}`,
		`{"verification_token":"x"}`,
	} {
		e.contact("u1", body).wantError(t, 400, "invalid_argument").wantDescription(t, "phone_number", "email")
	}
}

func TestContactConflictResolution(t *testing.T) {
	e := newEnv(t, verificationOff(), sudoOff())
	for _, cr := range []string{``, `,"conflict_resolution":null`, `,"conflict_resolution":"DEFAULT"`,
		`,"conflict_resolution":0`, `,"conflict_resolution":"0"`, `,"conflict_resolution": 0 `} {
		e.contact("u1", `{"email":"z@example.com"`+cr+`}`).wantOK(t)
	}
	for _, cr := range []string{`"OVERWRITE"`, `"default"`, `1`, `"1"`, `true`, `{}`, `[]`, `""`} {
		res := e.contact("u1", `{"email":"z@example.com","conflict_resolution":`+cr+`}`)
		res.wantError(t, 400, "invalid_argument").wantDescription(t, "conflict_resolution")
	}
}

func TestContactFieldRulesNameItsFields(t *testing.T) {
	e := newEnv(t)
	e.contact("u1", `{"phone_number":"13000000000"}`).wantError(t, 400, "invalid_argument")
	if d := e.contact("u1", `{"phone_number":"13000000000"}`).description(); !strings.HasPrefix(d, "phone_number:") {
		t.Errorf("description %q does not name phone_number", d)
	}
	if d := e.contact("u1", `{"email":"nope"}`).description(); !strings.HasPrefix(d, "email:") {
		t.Errorf("description %q does not name email", d)
	}
	e.contact("u1", `{"phone":"+86 13000000000"}`).wantError(t, 400, "invalid_argument").wantDescription(t, "phone", "unknown")
	e.contact("u1", `{"email":"z@example.com","nickname":"Zhang San"}`).wantError(t, 400, "invalid_argument").wantDescription(t, "nickname")
	e.contact("u1", `{"email":"z@example.com","user_id":"u2"}`).wantError(t, 400, "invalid_argument").wantDescription(t, "user_id")
	e.contact("u1", `{"email":"z@example.com","password":"x"}`).wantError(t, 400, "invalid_argument").wantDescription(t, "password")
}

func TestContactSameRulesAsBasicEdit(t *testing.T) {
	e := newEnv(t)
	// Verification: required for a new value.
	e.contact("u1", `{"phone_number":"+86 13000000000"}`).wantError(t, 400, "verification_required")
	e.contact("u1", `{"phone_number":"+86 13000000000","verification_token":""}`).wantError(t, 400, "verification_required")

	// Bind with a token, through the SDK's field names.
	vt := e.verificationToken("u1", "phone_number", "+86 13000000000", "ANY")
	e.contact("u1", jsonBody(t, map[string]string{"phone_number": "+86 130 0000 0000", "verification_token": vt, "sudo_token": ""})).wantOK(t)
	if got := e.me("u1").str("phone_number"); got != "+86 13000000000" {
		t.Fatalf("phone_number = %q", got)
	}
	// Own value in another format: no verification, no sudo.
	e.contact("u1", `{"phone_number":"+8613000000000"}`).wantOK(t)

	// Replacing needs sudo, then works with both tokens.
	vt2 := e.verificationToken("u1", "phone_number", "+86 13000000001", "ANY")
	e.contact("u1", jsonBody(t, map[string]string{"phone_number": "+86 13000000001", "verification_token": vt2})).
		wantError(t, 403, "sudo_required")
	sudo := e.sudoToken("u1", "phone_number")
	e.contact("u1", jsonBody(t, map[string]string{"phone_number": "+86 13000000001", "verification_token": vt2, "sudo_token": sudo})).wantOK(t)

	// Conflicts are the same 409.
	e.bindEmail("u2", "taken@example.com")
	// (A first email beside the bound phone needs sudo: given, so that
	// uniqueness decides.)
	vt3 := e.verificationToken("u1", "email", "TAKEN@example.com", "ANY")
	e.contact("u1", jsonBody(t, map[string]string{"email": "TAKEN@example.com", "verification_token": vt3, "sudo_token": sudo})).
		wantError(t, 409, "email_already_exists")

	// Removal: "" with sudo, no verification.
	e.contact("u1", `{"phone_number":""}`).wantError(t, 403, "sudo_required")
	e.contact("u1", jsonBody(t, map[string]string{"phone_number": "", "sudo_token": sudo})).wantOK(t)
	if _, ok := e.me("u1").json["phone_number"]; ok {
		t.Fatal("phone still bound")
	}
}

func TestContactRateLimitIsShared(t *testing.T) {
	// The same store script: contact edits count with basic/edit's.
	e := newEnv(t, verificationOff(), sudoOff(), withEditLimit(2, time.Minute))
	e.contact("u1", `{"email":"z@example.com"}`).wantOK(t)
	e.edit("u1", `{"nickname":"Zhang San"}`).wantOK(t)
	e.contact("u1", `{"email":"y@example.com"}`).wantError(t, 429, "resource_exhausted")
}
