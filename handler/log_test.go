package handler

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
)

// Logs through the API's zap logger: one info audit line per successful
// edit (actor, target, the fields that changed), one debug line per
// rejected request, and never a token, code, full phone number or email.

func TestAuditLinePerEdit(t *testing.T) {
	e := newEnv(t, verificationOff(), sudoOff())
	e.edit("u1", `{"nickname":"Zhang San","username":"zhangsan"}`).wantOK(t)
	e.edit("u1", `{"nickname":"Zhang San","phone":"+86 13000000000"}`).wantOK(t) // nickname unchanged
	e.editWith(e.adminToken(), `{"user_id":"u1","email":"z@example.com"}`).wantOK(t)
	e.contact("u1", `{"email":""}`).wantOK(t)

	audits := e.logs.FilterMessage("profile edited").All()
	if len(audits) != 4 {
		t.Fatalf("%d audit lines for 4 edits", len(audits))
	}
	want := []struct {
		actor, target, changed string
	}{
		{"u1", "u1", "[nickname username]"},
		{"u1", "u1", "[phone]"},
		{adminUser, "u1", "[email]"},
		{"u1", "u1", "[email]"},
	}
	for i, a := range audits {
		if a.Level != zapcore.InfoLevel {
			t.Errorf("audit %d at level %s", i, a.Level)
		}
		m := a.ContextMap()
		if m["actor"] != want[i].actor || m["target"] != want[i].target || fmt.Sprint(m["changed"]) != want[i].changed {
			t.Errorf("audit %d = %v, want actor %s target %s changed %s", i, m, want[i].actor, want[i].target, want[i].changed)
		}
	}
	// Reads and rejections are not audited.
	e.me("u1")
	e.edit("u1", `{"nickname":1}`).wantError(t, 400, "invalid_argument")
	if n := e.logs.FilterMessage("profile edited").Len(); n != 4 {
		t.Fatalf("%d audit lines after a read and a rejection", n)
	}
	e.assertLogsNeverContain(t, "13000000000", "z@example.com")
}

func TestDebugLinePerRejection(t *testing.T) {
	e := newEnv(t)
	e.edit("owner", `{"username":"taken"}`).wantOK(t)
	e.logs.TakeAll()

	rejections := []struct {
		name   string
		reject func() *result
	}{
		{"wrong method", func() *result { return e.serve(http.MethodGet, pathEdit, "") }},
		{"no token", func() *result { return e.serve(http.MethodGet, pathMe, "") }},
		{"bad token", func() *result { return e.serve(http.MethodGet, pathMe, "", bearer("not.a.token")) }},
		{"bad body", func() *result { return e.edit("u1", `{"nickname":1}`) }},
		{"username taken", func() *result { return e.edit("u1", `{"username":"TAKEN"}`) }},
		{"phone without verification", func() *result { return e.edit("u1", `{"phone":"+86 13000000000"}`) }},
		{"unknown verification", func() *result { return e.verify("nope", "123456") }},
	}
	for _, c := range rejections {
		t.Run(c.name, func(t *testing.T) {
			res := c.reject()
			if res.status < 400 {
				t.Fatalf("answered %d", res.status)
			}
			lines := e.logs.TakeAll()
			if len(lines) != 1 {
				t.Fatalf("%d %s logged %d lines: %v", res.status, res.code(), len(lines), lines)
			}
			l := lines[0]
			m := l.ContextMap()
			if l.Level != zapcore.DebugLevel || l.Message != "request rejected" ||
				m["error"] != res.code() || fmt.Sprint(m["status"]) != fmt.Sprint(res.status) || m["endpoint"] == nil {
				t.Errorf("logged %s %q %v", l.Level, l.Message, m)
			}
		})
	}
	// A rejection after the token names the caller; none names the token.
	e.edit("u1", `{"username":"TAKEN"}`)
	if got := e.logs.TakeAll()[0].ContextMap()["sub"]; got != "u1" {
		t.Errorf("sub = %v", got)
	}
}

func TestLogsNeverHoldSecrets(t *testing.T) {
	// A whole flow with its failures, then a search of every entry.
	e := newEnv(t)
	phone, phone2, email := "+86 13912345678", "+86 13987654321", "Secret.Person@example.com"
	var secrets []string
	tok := e.token("u1")
	secrets = append(secrets, tok, "13912345678", "13987654321", email, strings.ToLower(email))

	vt := e.verificationToken("u1", "phone_number", phone, "NOT_USER")
	secrets = append(secrets, vt)
	e.serve(http.MethodPost, pathEdit, jsonBody(t, map[string]string{"phone": phone, "verification_token": vt}), bearer(tok)).wantOK(t)
	sudo := e.sudoToken("u1", "phone_number")
	secrets = append(secrets, sudo)
	vtEmail := e.verificationToken("u1", "email", email, "ANY")
	secrets = append(secrets, vtEmail)
	e.edit("u1", jsonBody(t, map[string]string{"email": email, "verification_token": vtEmail, "sudo_token": sudo})).wantOK(t)
	vt2 := e.verificationToken("u1", "phone_number", phone2, "ANY")
	secrets = append(secrets, vt2)

	// Failures: wrong sudo, wrong verification token, taken contact,
	// wrong code, bad access token, a password, a contact in a bad body.
	e.edit("u1", jsonBody(t, map[string]string{"phone": phone2, "verification_token": vt2, "sudo_token": "wrong-sudo-secret"})).
		wantError(t, 403, "sudo_required")
	e.edit("u2", jsonBody(t, map[string]string{"email": email, "verification_token": "wrong-vt-secret"})).
		wantError(t, 400, "invalid_verification_token")
	e.sendCode("u2", jsonBody(t, map[string]string{"phone_number": phone, "target": "NOT_USER"})).wantError(t, 409, "phone_already_exists")
	e.sendCode("u2", jsonBody(t, map[string]string{"email": email, "target": "NOT_USER"})).wantError(t, 409, "email_already_exists")
	e.sendCode("u2", `{"phone_number":"+86 1391234567x"}`).wantError(t, 400, "invalid_argument")
	e.sendCode("u3", `{"email":"third@example.com"}`).wantOK(t)
	third := e.sender.Last(t)
	e.verify(third.VerificationID, wrongCode(third.Code)).wantError(t, 400, "invalid_verification_code")
	secrets = append(secrets, wrongCode(third.Code), "third@example.com", third.VerificationID)
	e.serve(http.MethodGet, pathMe, "", bearer(tok+"x")).wantError(t, 401, "unauthenticated")
	e.serve(http.MethodPost, pathSudo, `{"password":"hunter2-secret"}`, bearer(tok)).wantError(t, 400, "invalid_argument")
	secrets = append(secrets, "hunter2-secret", "wrong-sudo-secret", "wrong-vt-secret", "1391234567x")
	e.edit("u1", jsonBody(t, map[string]string{"phone": phone2, "verification_token": vt2, "sudo_token": sudo})).wantOK(t)
	e.sender.FailWith(errDeliveryDown)
	e.sendCode("u4", `{"email":"fourth@example.com"}`).wantError(t, 503, "unavailable")
	secrets = append(secrets, "fourth@example.com")

	for _, m := range e.sender.Attempts() {
		secrets = append(secrets, m.Code, m.VerificationID)
	}
	if len(e.logs.All()) < 10 {
		t.Fatalf("only %d log entries: the search would prove nothing", len(e.logs.All()))
	}
	e.assertLogsNeverContain(t, secrets...)
}

// hungUp gives a request the context of a client that has closed its
// connection, as net/http cancels it.
func hungUp(r *http.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	cancel()
	*r = *r.WithContext(ctx)
}

// TestClientThatHungUpIsNotAWarning: a client that closes its connection
// cancels the request's context, and the Redis call of the request fails
// with it. That is the client's doing, not the server's: it must not log a
// warning, or anyone could write one per request, without a token, by
// hanging up at once.
func TestClientThatHungUpIsNotAWarning(t *testing.T) {
	e := newEnv(t)
	tok := e.token("u1")
	e.meWith(tok).wantOK(t)
	e.logs.TakeAll()
	for _, c := range []struct {
		name string
		call func() *result
	}{
		{"checkIfUserExist", func() *result { return e.serve(http.MethodGet, pathUserExists, "", query("username=alice"), hungUp) }},
		{"verification/verify", func() *result {
			body := jsonBody(t, map[string]string{"verification_id": strings.Repeat("a", 22), "verification_code": "123456"})
			return e.serve(http.MethodPost, pathVerify, body, noHeader("Authorization"), hungUp)
		}},
		{"user/me", func() *result { return e.meWith(tok, hungUp) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.call()
			for _, l := range e.logs.TakeAll() {
				if l.Level > zapcore.DebugLevel {
					t.Errorf("a request whose client hung up logged at %s: %s %v", l.Level, l.Message, l.ContextMap())
				}
			}
		})
	}
}
