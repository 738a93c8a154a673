package handler

import (
	"net/http"
	"testing"

	"github.com/authedge/caddy-authedge/config"
)

// TestStolenAccessTokenCannotTakeOverContacts is issue 8's takeover chain,
// through the handler and real Redis: the victim has only a phone (or only
// an email); a thief holding the victim's access token (no recent sign-in)
// asks a code for the thief's own address on the other channel, verifies
// it, and tries to bind it, through basic/edit and user/contact. Both are
// 403 sudo_required, so the rest of the chain (a CUR_USER code to that
// address, sudo with it, replacing the victim's contact) never gets there.
func TestStolenAccessTokenCannotTakeOverContacts(t *testing.T) {
	cases := []struct {
		name                         string
		bind                         func(e *env)
		boundField, boundJSON        string // the victim's contact: body field, me field
		thiefField, editField, thief string // the thief's address on the other channel
		replaceBody                  map[string]string
	}{
		{
			name:       "victim with a phone",
			bind:       func(e *env) { e.bindPhone("victim", "+86 13000000000") },
			boundField: "phone", boundJSON: "phone_number",
			thiefField: "email", editField: "email", thief: "thief@example.com",
		},
		{
			name:       "victim with an email",
			bind:       func(e *env) { e.bindEmail("victim", "victim@example.com") },
			boundField: "email", boundJSON: "email",
			thiefField: "phone_number", editField: "phone", thief: "+86 13900000000",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.bind(e)
			before := e.me("victim").str(tc.boundJSON)
			stolen := e.token("victim")

			// 1. A code to the thief's own address (ANY), verified.
			vt := e.verificationToken("victim", tc.thiefField, tc.thief, "ANY")

			// 2. Binding it: refused on both paths, the token left unspent.
			e.editWith(stolen, jsonBody(t, map[string]string{tc.editField: tc.thief, "verification_token": vt})).
				wantError(t, 403, "sudo_required")
			e.serve(http.MethodPatch, pathContact, jsonBody(t, map[string]string{tc.thiefField: tc.thief, "verification_token": vt}), bearer(stolen)).
				wantError(t, 403, "sudo_required")

			// 3. So the thief's address is not bound: no CUR_USER code can
			// go to it, and its verification token buys no sudo.
			e.serve(http.MethodPost, pathSend, jsonBody(t, map[string]string{tc.thiefField: "", "target": "CUR_USER"}), bearer(stolen)).
				wantError(t, 400, "invalid_argument")
			e.serve(http.MethodPost, pathSudo, jsonBody(t, map[string]string{"verification_token": vt}), bearer(stolen)).
				wantError(t, 400, "invalid_verification_token")

			// 4. Replacing or removing the victim's contact without sudo is
			// refused as it always was.
			e.editWith(stolen, jsonBody(t, map[string]string{tc.boundField: ""})).wantError(t, 403, "sudo_required")

			me := e.me("victim")
			if me.str(tc.boundJSON) != before || me.str("email") == "thief@example.com" || me.str("phone_number") == "+86 13900000000" {
				t.Fatalf("the victim's contacts changed: %s", me.body)
			}
		})
	}
}

// TestEmailSpellingsAreOneAddress: a@bücher.example, a@BÜCHER.example and
// a@xn--bcher-kva.example are one address: another user cannot bind any
// of them, NOT_USER refuses them, and the owner switches between them with
// neither verification nor sudo (the same value, a new display form).
func TestEmailSpellingsAreOneAddress(t *testing.T) {
	e := newEnv(t)
	e.bindEmail("u1", "a@bücher.example")
	for _, spelling := range []string{"a@BÜCHER.example", "a@xn--bcher-kva.example", "A@XN--BCHER-KVA.example"} {
		t.Run(spelling, func(t *testing.T) {
			e := e.in(t)
			// Refused NOT_USER requests count against u2's minute now; the
			// limit is not what this test is about.
			e.forgetCallerMinute("u2")
			e.sendCode("u2", jsonBody(t, map[string]string{"email": spelling, "target": "NOT_USER"})).
				wantError(t, 409, "email_already_exists")
			vt := e.verificationToken("u2", "email", spelling, "ANY")
			e.edit("u2", jsonBody(t, map[string]string{"email": spelling, "verification_token": vt})).
				wantError(t, 409, "email_already_exists")
			e.edit("u1", jsonBody(t, map[string]string{"email": spelling})).wantOK(t)
			if got := e.me("u1").str("email"); got != spelling {
				t.Fatalf("email = %q, want the new display form %q", got, spelling)
			}
		})
	}
	e.contact("u1", `{"email":"a@bücher.example"}`).wantOK(t)
	problems, err := e.store.Audit(t.Context())
	if err != nil || len(problems) > 0 {
		t.Fatalf("audit: %v, %v", problems, err)
	}
}

// TestSudoOnlyThroughSensitiveContact: with `sudo { sensitive phone }` the
// email is changed with verification alone, so a thief holding only the
// access token can make it the thief's. Were a code to that email good for
// sudo, the thief would then replace the phone; sudo accepts only a
// verification token for a bound contact of a sensitive field.
func TestSudoOnlyThroughSensitiveContact(t *testing.T) {
	e := newEnv(t, withConfig(func(c *config.Config) { c.Sudo.Sensitive = &[]string{"phone"} }))
	e.bindPhone("victim", "+86 13000000000")
	e.bindEmail("victim", "victim@example.com")
	stolen := e.token("victim")

	// The email is not sensitive: the thief replaces it with verification alone.
	vt := e.verificationToken("victim", "email", "thief@example.com", "ANY")
	e.editWith(stolen, jsonBody(t, map[string]string{"email": "thief@example.com", "verification_token": vt})).wantOK(t)
	e.forgetCallerMinute("victim")

	// A CUR_USER code to the (now thief's) email buys no sudo, and the
	// verification token is left as it was.
	cur := e.verificationToken("victim", "email", "", "CUR_USER")
	e.serve(http.MethodPost, pathSudo, jsonBody(t, map[string]string{"verification_token": cur}), bearer(stolen)).
		wantError(t, 400, "invalid_verification_token")

	// So the sensitive phone cannot be replaced.
	vt2 := e.verificationToken("victim", "phone_number", "+86 13900000000", "ANY")
	e.serve(http.MethodPatch, pathContact, jsonBody(t, map[string]string{"phone_number": "+86 13900000000", "verification_token": vt2}), bearer(stolen)).
		wantError(t, 403, "sudo_required")
	if got := e.me("victim").str("phone_number"); got != "+86 13000000000" {
		t.Fatalf("phone is now %q", got)
	}

	// A code to the bound sensitive phone still gives sudo.
	e.sudoToken("victim", "phone_number")
}

// TestRespelledContactCarriesNoFirstContactPastSudo: an edit that sends the
// victim's bound phone again, in another grouping (the same value: no
// sudo, no verification of its own), beside the thief's first email is
// still a first email beside a bound sensitive phone. Sudo is judged per
// field on the stored profile, so the harmless half does not carry the
// other past it, on either the handler's or the store script's check.
func TestRespelledContactCarriesNoFirstContactPastSudo(t *testing.T) {
	e := newEnv(t)
	e.bindPhone("victim", "+86 13000000000")
	stolen := e.token("victim")
	vt := e.verificationToken("victim", "email", "thief@example.com", "ANY")
	e.editWith(stolen, jsonBody(t, map[string]string{
		"phone": "+86 130 0000 0000", "email": "thief@example.com", "verification_token": vt,
	})).wantError(t, 403, "sudo_required")
	if got := e.me("victim").str("email"); got != "" {
		t.Fatalf("the thief's email was bound: %q", got)
	}
	// The respelling alone is no change that needs proof.
	e.editWith(stolen, `{"phone":"+86 130 0000 0000"}`).wantOK(t)
}
