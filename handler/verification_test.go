package handler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/config"
)

// docs/api.md#verification and docs/api.md#sudo: verification codes,
// verification tokens and sudo.

var sixDigits = regexp.MustCompile(`^[0-9]{6}$`)

func TestVerificationFullFlow(t *testing.T) {
	e := newEnv(t)
	const u = "u1"

	// 1. Send a code. The sender gets docs/webhooks.md's message.
	sent := e.sendCode(u, `{"phone_number":"+86 130 0000 0000","target":"ANY","usage":"bind_phone"}`).wantOK(t)
	if len(sent.json) != 3 || sent.str("verification_id") == "" || sent.json["expires_in"] != float64(600) || sent.json["is_user"] != false {
		t.Fatalf("send answered %s, want verification_id, expires_in 600, is_user false", sent.body)
	}
	msg := e.sender.Last(t)
	if msg.VerificationID != sent.str("verification_id") || msg.Channel != "sms" || msg.To != "+86 13000000000" ||
		!sixDigits.MatchString(msg.Code) || msg.Usage != "bind_phone" || msg.ExpiresIn != 600 {
		t.Fatalf("delivered %+v", msg)
	}
	if strings.Contains(string(sent.body), msg.Code) {
		t.Fatal("the code is in the answer")
	}

	// The same phone gets another code below (CUR_USER); this test is not
	// about the 60 s limit, so forget it.
	e.forgetLastSend(msg.VerificationID)

	// 2. Verify it, without an access token, as CloudBase's SDK does.
	verified := e.verify(msg.VerificationID, msg.Code).wantOK(t)
	vt := verified.str("verification_token")
	if len(verified.json) != 2 || vt == "" || verified.json["expires_in"] != float64(600) {
		t.Fatalf("verify answered %s", verified.body)
	}
	// A verification is used once.
	e.verify(msg.VerificationID, msg.Code).wantError(t, 400, "invalid_verification_code")

	// 3. Bind the phone with the token; me shows it.
	e.edit(u, jsonBody(t, map[string]string{"phone": "+8613000000000", "verification_token": vt})).wantOK(t)
	if got := e.me(u).str("phone_number"); got != "+86 13000000000" {
		t.Fatalf("phone_number = %q", got)
	}

	// 4. Replacing it needs sudo, even with a good verification token for
	// the new number; the refusal does not spend that token.
	vt2 := e.verificationToken(u, "phone_number", "+86 13000000001", "ANY")
	e.edit(u, jsonBody(t, map[string]string{"phone": "+86 13000000001", "verification_token": vt2})).
		wantError(t, 403, "sudo_required").wantDescription(t, "sudo")

	// 5. CUR_USER: a code to the bound phone, whatever the body's value.
	cur := e.sendCode(u, `{"phone_number":"+86 130****0000","target":"CUR_USER"}`).wantOK(t)
	if cur.json["is_user"] != true || strings.Contains(string(cur.body), "13000000000") {
		t.Fatalf("CUR_USER answered %s", cur.body)
	}
	curMsg := e.sender.Last(t)
	if curMsg.To != "+86 13000000000" || curMsg.Channel != "sms" || curMsg.VerificationID != cur.str("verification_id") {
		t.Fatalf("CUR_USER delivered %+v", curMsg)
	}
	vt3 := e.verify(curMsg.VerificationID, curMsg.Code).wantOK(t).str("verification_token")
	e.forgetLastSend(curMsg.VerificationID)

	// 6. Trade it for a sudo token.
	sudoRes := e.serve(http.MethodPost, pathSudo, jsonBody(t, map[string]string{"verification_token": vt3}), bearer(e.token(u))).wantOK(t)
	sudo := sudoRes.str("sudo_token")
	if len(sudoRes.json) != 2 || sudo == "" || sudoRes.json["expires_in"] != float64(900) {
		t.Fatalf("sudo answered %s", sudoRes.body)
	}
	// The verification token was used up.
	e.serve(http.MethodPost, pathSudo, jsonBody(t, map[string]string{"verification_token": vt3}), bearer(e.token(u))).
		wantError(t, 400, "invalid_verification_token")

	// 7. Replace the phone with both tokens.
	e.edit(u, jsonBody(t, map[string]string{"phone": "+86 13000000001", "verification_token": vt2, "sudo_token": sudo})).wantOK(t)
	if got := e.me(u).str("phone_number"); got != "+86 13000000001" {
		t.Fatalf("phone_number = %q", got)
	}
	// The sudo token serves several edits until it expires: remove the phone.
	e.edit(u, jsonBody(t, map[string]string{"phone": "", "sudo_token": sudo})).wantOK(t)

	// 8. The old number was released at once.
	e.bindPhone("u2", "+86 13000000000")

	// Nothing secret reached the logs.
	secrets := []string{vt, vt2, vt3, sudo, "13000000000", "13000000001"}
	for _, m := range e.sender.Attempts() {
		secrets = append(secrets, m.Code)
	}
	e.assertLogsNeverContain(t, secrets...)
}

func TestEmailFlowAndLogs(t *testing.T) {
	e := newEnv(t)
	e.bindEmail("u1", "Zhang.San@Example.com")
	msg := e.sender.Last(t)
	if msg.Channel != "email" || msg.To != "Zhang.San@Example.com" {
		t.Fatalf("delivered %+v", msg)
	}
	if got := e.me("u1").str("email"); got != "Zhang.San@Example.com" {
		t.Fatalf("email = %q", got)
	}
	sudo := e.sudoToken("u1", "email")
	vt := e.verificationToken("u1", "email", "li.si@example.com", "NOT_USER")
	e.edit("u1", jsonBody(t, map[string]string{"email": "li.si@example.com", "verification_token": vt, "sudo_token": sudo})).wantOK(t)
	// Failures along the way log at debug, masked too.
	e.edit("u2", `{"email":"li.si@example.com","verification_token":"bogus-token-value"}`).wantError(t, 400, "invalid_verification_token")
	e.sendCode("u2", `{"email":"LI.SI@example.com","target":"NOT_USER"}`).wantError(t, 409, "email_already_exists")

	secrets := []string{"Zhang.San@Example.com", "zhang.san@example.com", "li.si@example.com", "LI.SI@example.com", vt, sudo, "bogus-token-value"}
	for _, m := range e.sender.Attempts() {
		secrets = append(secrets, m.Code)
	}
	e.assertLogsNeverContain(t, secrets...)
}

func TestRemovingBoundContactNeedsSudoNotVerification(t *testing.T) {
	e := newEnv(t)
	e.bindPhone("u1", "+86 13000000000")
	e.edit("u1", `{"phone":""}`).wantError(t, 403, "sudo_required")
	if e.me("u1").str("phone_number") == "" {
		t.Fatal("phone removed without sudo")
	}
	sudo := e.sudoToken("u1", "phone_number")
	e.edit("u1", jsonBody(t, map[string]string{"phone": "", "sudo_token": sudo})).wantOK(t)
	if _, ok := e.me("u1").json["phone_number"]; ok {
		t.Fatal("phone still bound")
	}
}

func TestBindingFirstContactNeedsOnlyVerification(t *testing.T) {
	e := newEnv(t)
	vt := e.verificationToken("u1", "phone_number", "+86 13000000000", "ANY")
	// No sudo: nothing was bound.
	e.edit("u1", jsonBody(t, map[string]string{"phone": "+86 13000000000", "verification_token": vt})).wantOK(t)
	// The other channel's first value needs sudo, through the phone.
	vt = e.verificationToken("u1", "email", "z@example.com", "NOT_USER")
	e.edit("u1", jsonBody(t, map[string]string{"email": "z@example.com", "verification_token": vt})).wantError(t, 403, "sudo_required")
	sudo := e.sudoToken("u1", "phone_number")
	e.edit("u1", jsonBody(t, map[string]string{"email": "z@example.com", "verification_token": vt, "sudo_token": sudo})).wantOK(t)
	me := e.me("u1")
	if me.str("email") != "z@example.com" || me.str("phone_number") != "+86 13000000000" {
		t.Fatalf("me = %s", me.body)
	}
}

func TestNotUserTarget(t *testing.T) {
	e := newEnv(t)
	e.bindPhone("owner", "+86 13000000000")
	e.bindEmail("owner", "owner@example.com")
	before := len(e.sender.Attempts())

	e.sendCode("u2", `{"phone_number":"+8613000000000","target":"NOT_USER"}`).wantError(t, 409, "phone_already_exists")
	e.sendCode("u2", `{"email":"OWNER@example.com","target":"NOT_USER"}`).wantError(t, 409, "email_already_exists")
	if got := len(e.sender.Attempts()); got != before {
		t.Fatalf("%d codes sent for refused NOT_USER requests", got-before)
	}
	// Nothing was counted for the contact: it may get a code at once
	// through ANY, which says it belongs to a user. (The caller's limits
	// count the refusals: TestNotUserProbesCostSends.)
	res := e.sendCode("u2", `{"phone_number":"+86 13000000000","target":"ANY"}`).wantOK(t)
	if res.json["is_user"] != true {
		t.Fatalf("ANY on a bound contact: %s", res.body)
	}
	// A contact bound to the caller is not "someone else's".
	e.sendCode("owner", `{"email":"owner@example.com","target":"NOT_USER"}`).wantOK(t)
	// An absent or empty target is ANY.
	e.sendCode("u3", `{"email":"fresh@example.com"}`).wantOK(t)
	e.sendCode("u3", `{"email":"fresh2@example.com","target":""}`).wantOK(t)
}

// TestNotUserProbesCostSends: a refused NOT_USER (409) tells that a number
// is registered, so it counts against the caller's limits like a send; past
// them the caller gets 429 before any 409, and probing costs what sending
// codes does.
func TestNotUserProbesCostSends(t *testing.T) {
	e := newEnv(t)
	e.bindPhone("owner", "+86 13000000000")
	probe := func() *result {
		return e.sendCode("prober", `{"phone_number":"+8613000000000","target":"NOT_USER"}`)
	}
	probe().wantError(t, 409, "phone_already_exists")
	// A free number between probes: a code is sent, and takes a slot.
	e.sendCode("prober", `{"phone_number":"+8613900000000","target":"NOT_USER"}`).wantOK(t)
	for range 3 {
		probe().wantError(t, 409, "phone_already_exists")
	}
	// Five in the minute: the sixth request learns nothing.
	res := probe().wantError(t, 429, "resource_exhausted")
	if secs, _ := strconv.Atoi(res.header.Get("Retry-After")); secs < 55 || secs > 60 {
		t.Fatalf("Retry-After = %q, want about a minute", res.header.Get("Retry-After"))
	}
	// Another caller is not held back.
	e.sendCode("other", `{"phone_number":"+8613000000000","target":"NOT_USER"}`).
		wantError(t, 409, "phone_already_exists")
}

func TestCurUserWithoutBoundContact(t *testing.T) {
	e := newEnv(t)
	e.sendCode("nobody", `{"phone_number":"","target":"CUR_USER"}`).wantError(t, 400, "invalid_argument").wantDescription(t, "phone_number")
	e.sendCode("nobody", `{"email":"","target":"CUR_USER"}`).wantError(t, 400, "invalid_argument").wantDescription(t, "email")
	// A phone does not make an email bound.
	e.bindPhone("u1", "+86 13000000000")
	e.sendCode("u1", `{"email":"x","target":"CUR_USER"}`).wantError(t, 400, "invalid_argument")
	if len(e.sender.Messages()) != 1 {
		t.Fatalf("%d codes sent, want only the one binding the phone", len(e.sender.Messages()))
	}
}

func TestSendCodeBodyRules(t *testing.T) {
	e := newEnv(t)
	cases := []struct{ body, mention string }{
		{`{}`, "phone_number"},
		{`{"target":"ANY"}`, "email"},
		{`{"phone_number":"+86 13000000000","email":"z@example.com"}`, "exactly one"},
		{`{"phone_number":"+86 13000000000","target":"SOMEONE"}`, "target"},
		{`{"phone_number":"+86 13000000000","target":"any"}`, "target"},
		{`{"phone_number":"+86 13000000000","usage":"` + strings.Repeat("u", 65) + `"}`, "usage"},
		{`{"phone_number":"+86 13000000000","usage":"a\nb"}`, "usage"},
		{`{"phone_number":"13000000000"}`, "phone_number:"},
		{`{"email":"not-an-address"}`, "email:"},
		{`{"phone":"+86 13000000000"}`, "phone"},
		{`{"phone_number":13000000000}`, "phone_number"},
	}
	for _, c := range cases {
		res := e.sendCode("u1", c.body)
		if res.status != 400 || res.code() != "invalid_argument" || !strings.Contains(res.description(), c.mention) {
			t.Errorf("%s: %d %s %q, want 400 invalid_argument mentioning %q", c.body, res.status, res.code(), res.description(), c.mention)
		}
	}
	if n := len(e.sender.Attempts()); n != 0 {
		t.Fatalf("%d codes sent for refused requests", n)
	}
}

// TestSendCodeSDKPhonePrefix: CloudBase's SDK (getVerification) puts
// "+86 " in front of every phone number that does not start with
// "+<country code> <digit>", so a number in another accepted form reaches
// the server as "+86 +8613000000000" or "+86 +1 (415) 555-2671". A '+'
// right after that prefix can only start the number's own country code:
// the code goes to the number the app gave, and a verification token for
// it binds the same number sent unprefixed (editContact sends it as given).
func TestSendCodeSDKPhonePrefix(t *testing.T) {
	e := newEnv(t, sudoOff())
	for _, c := range []struct{ sent, to, bind string }{
		{"+86 +8613000000000", "+86 13000000000", "+8613000000000"},
		{"+86 +1 (415) 555-2671", "+1 4155552671", "+1 (415) 555-2671"},
	} {
		sub := "u-" + c.to
		e.sendCode(sub, jsonBody(t, map[string]string{"phone_number": c.sent})).wantOK(t)
		msg := e.sender.Last(t)
		if msg.To != c.to {
			t.Fatalf("%q: the code went to %q, want %q", c.sent, msg.To, c.to)
		}
		vt := e.verify(msg.VerificationID, msg.Code).wantOK(t).str("verification_token")
		e.contact(sub, jsonBody(t, map[string]string{"phone_number": c.bind, "verification_token": vt})).wantOK(t)
	}
	// Only the SDK's exact prefix, and only before a '+', is dropped.
	for _, bad := range []string{"+86 ++8613000000000", "+86  +8613000000000", "+1 +8613000000000", "+86 +86 +8613000000000"} {
		e.sendCode("u1", jsonBody(t, map[string]string{"phone_number": bad})).wantError(t, 400, "invalid_argument")
	}
}

// A verification_id or code that secret never issued is answered as an
// unknown one without a round trip: it never becomes part of a key.
func TestVerifyRefusesMalformedBeforeRedis(t *testing.T) {
	e := newEnv(t)
	scripts := func() string {
		stats, err := e.rawRedis().Info(context.Background(), "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(stats, "\r\n") {
			if strings.HasPrefix(line, "cmdstat_eval") {
				return line
			}
		}
		return ""
	}
	before := scripts()
	for _, c := range [][2]string{
		{"id\nwith a newline", "123456"},
		{strings.Repeat("x", 21) + ".", "123456"},
		{"AAAAAAAAAAAAAAAAAAAAAA", "12345"},
		{"AAAAAAAAAAAAAAAAAAAAAA", "12345x"},
	} {
		e.verify(c[0], c[1]).wantError(t, 400, "invalid_verification_code")
	}
	if after := scripts(); after != before {
		t.Errorf("malformed pairs ran scripts: %q -> %q", before, after)
	}
	// A well-formed unknown pair is looked up, and refused the same way.
	e.verify("AAAAAAAAAAAAAAAAAAAAAA", "123456").wantError(t, 400, "invalid_verification_code")
	if scripts() == before {
		t.Error("a well-formed pair was not looked up: the check above cannot fail")
	}
}

func TestVerifyBodyRules(t *testing.T) {
	e := newEnv(t)
	e.verify("", "123456").wantError(t, 400, "invalid_argument").wantDescription(t, "verification_id")
	e.serve(http.MethodPost, pathVerify, `{"verification_code":"123456"}`).wantError(t, 400, "invalid_argument")
	e.verify("unknown-id", "123456").wantError(t, 400, "invalid_verification_code")
	e.verify(strings.Repeat("i", 129), "123456").wantError(t, 400, "invalid_argument")
	e.serve(http.MethodPost, pathVerify, `{"verification_id":"x","verification_code":123456}`).
		wantError(t, 400, "invalid_argument").wantDescription(t, "verification_code")
	e.serve(http.MethodPost, pathVerify, `{"verification_id":"x","code":"1"}`).
		wantError(t, 400, "invalid_argument").wantDescription(t, "code")

	e.sendCode("u1", `{"email":"z@example.com"}`).wantOK(t)
	msg := e.sender.Last(t)
	for _, bad := range []string{"", "12345", "1234567", strings.Repeat("9", 100), wrongCode(msg.Code)} {
		e.verify(msg.VerificationID, bad).wantError(t, 400, "invalid_verification_code")
	}
	// Those were at most four counted wrong tries ("" and the long one may
	// be refused before the store): the right code still works.
	e.verify(msg.VerificationID, msg.Code).wantOK(t)
}

// wrongCode is a 6-digit code other than code.
func wrongCode(code string) string {
	d := (code[0]-'0'+1)%10 + '0'
	return string(d) + code[1:]
}

func TestFiveWrongCodesKillTheVerification(t *testing.T) {
	e := newEnv(t)
	// Four wrong codes leave it alive.
	e.sendCode("u1", `{"email":"a@example.com"}`).wantOK(t)
	alive := e.sender.Last(t)
	for i := 0; i < 4; i++ {
		e.verify(alive.VerificationID, wrongCode(alive.Code)).wantError(t, 400, "invalid_verification_code")
	}
	e.verify(alive.VerificationID, alive.Code).wantOK(t)

	// The fifth kills it: the right code then fails too.
	e.sendCode("u1", `{"email":"b@example.com"}`).wantOK(t)
	killed := e.sender.Last(t)
	for i := 0; i < 5; i++ {
		e.verify(killed.VerificationID, wrongCode(killed.Code)).wantError(t, 400, "invalid_verification_code")
	}
	e.verify(killed.VerificationID, killed.Code).wantError(t, 400, "invalid_verification_code")
}

func TestCodeExpires(t *testing.T) {
	e := newEnv(t, withConfig(func(c *config.Config) { c.Verification.CodeTTL = config.Duration(300 * time.Millisecond) }))
	e.sendCode("u1", `{"email":"a@example.com"}`).wantOK(t)
	msg := e.sender.Last(t)
	time.Sleep(400 * time.Millisecond)
	e.clock.Advance(time.Second)
	e.verify(msg.VerificationID, msg.Code).wantError(t, 400, "invalid_verification_code")
}

func TestSendLimits(t *testing.T) {
	e := newEnv(t)
	body := `{"phone_number":"+86 13000000000"}`
	e.sendCode("u1", body).wantOK(t)
	first := e.sender.Last(t)

	// One send per 60 s per contact, whoever asks and however it is written.
	time.Sleep(1100 * time.Millisecond)
	for _, who := range []string{"u1", "u2"} {
		res := e.sendCode(who, `{"phone_number":"+8613000000000"}`).wantError(t, 429, "resource_exhausted")
		secs, err := strconv.Atoi(res.header.Get("Retry-After"))
		if err != nil || secs < 55 || secs > 59 {
			t.Fatalf("Retry-After = %q, want the remaining ≈ 59 s", res.header.Get("Retry-After"))
		}
	}
	// Another contact is not limited.
	e.sendCode("u1", `{"phone_number":"+86 13000000001"}`).wantOK(t)

	// Ten per day: nine more sends, each past the 60 s marker, then none.
	// Each is asked by a caller of its own: the limit is the contact's,
	// whoever asks (a caller's own limits are TestCallerSendLimits').
	e.forgetLastSend(first.VerificationID)
	for i := 2; i <= 10; i++ {
		e.sendCode(fmt.Sprint("asker", i), body).wantOK(t)
		e.forgetLastSend(e.sender.Last(t).VerificationID)
	}
	res := e.sendCode("asker11", body).wantError(t, 429, "resource_exhausted")
	secs, err := strconv.Atoi(res.header.Get("Retry-After"))
	if err != nil || secs <= 60 || secs > 86400 {
		t.Fatalf("Retry-After after ten sends = %q, want the rest of the day", res.header.Get("Retry-After"))
	}
}

func TestSenderFailure(t *testing.T) {
	e := newEnv(t)
	e.sender.FailWith(errDeliveryDown)
	res := e.sendCode("u1", `{"email":"z@example.com"}`).wantError(t, 503, "unavailable")
	if res.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	attempts := e.sender.Attempts()
	if len(attempts) != 1 {
		t.Fatalf("%d delivery attempts", len(attempts))
	}
	lost := attempts[0]

	// The code that never arrived is not kept, and the send was not
	// counted: an immediate retry is sent, not 429.
	e.sender.FailWith(nil)
	e.verify(lost.VerificationID, lost.Code).wantError(t, 400, "invalid_verification_code")
	e.sendCode("u1", `{"email":"z@example.com"}`).wantOK(t)
	msg := e.sender.Last(t)
	if msg.VerificationID == lost.VerificationID || msg.Code == "" {
		t.Fatalf("retry reused the lost verification: %+v", msg)
	}
	e.verify(msg.VerificationID, msg.Code).wantOK(t)
	// The failure was logged above debug, masked.
	warned := false
	for _, line := range e.logText() {
		if strings.HasPrefix(line, "warn") && strings.Contains(line, "delivery") {
			warned = true
		}
	}
	if !warned {
		t.Error("a failed delivery was not logged as a warning")
	}
	e.assertLogsNeverContain(t, "z@example.com", lost.Code, msg.Code)
}

func TestVerificationTokenBinding(t *testing.T) {
	e := newEnv(t, sudoOff())
	vt := e.verificationToken("u1", "phone_number", "+86 13000000000", "ANY")

	// Another user, another value, another channel: refused, and the
	// token survives the attempts.
	e.edit("u2", jsonBody(t, map[string]string{"phone": "+86 13000000000", "verification_token": vt})).
		wantError(t, 400, "invalid_verification_token")
	e.edit("u1", jsonBody(t, map[string]string{"phone": "+86 13000000001", "verification_token": vt})).
		wantError(t, 400, "invalid_verification_token")
	e.edit("u1", jsonBody(t, map[string]string{"email": "z@example.com", "verification_token": vt})).
		wantError(t, 400, "invalid_verification_token")
	e.serve(http.MethodPatch, pathContact, jsonBody(t, map[string]string{"phone_number": "+86 13000000000", "verification_token": vt}),
		bearer(e.token("u2"))).wantError(t, 400, "invalid_verification_token")

	// Its own user, channel and value (in another format): accepted.
	e.edit("u1", jsonBody(t, map[string]string{"phone": "+86 130 0000 0000", "verification_token": vt})).wantOK(t)

	// Used: refused, even for the same value once it was given up.
	e.edit("u1", `{"phone":""}`).wantOK(t)
	e.edit("u1", jsonBody(t, map[string]string{"phone": "+86 13000000000", "verification_token": vt})).
		wantError(t, 400, "invalid_verification_token")
	if _, ok := e.me("u1").json["phone_number"]; ok {
		t.Fatal("a spent token bound the phone again")
	}
	// A failed edit is whole: a refused token keeps the other fields too.
	e.edit("u1", jsonBody(t, map[string]string{"nickname": "Zhang San", "phone": "+86 13000000000", "verification_token": vt})).
		wantError(t, 400, "invalid_verification_token")
	if _, ok := e.me("u1").json["name"]; ok {
		t.Fatal("nickname applied by a refused edit")
	}
}

func TestVerificationTokenExpires(t *testing.T) {
	e := newEnv(t, withConfig(func(c *config.Config) { c.Verification.TokenTTL = config.Duration(300 * time.Millisecond) }))
	vt := e.verificationToken("u1", "email", "z@example.com", "ANY")
	time.Sleep(400 * time.Millisecond)
	e.clock.Advance(time.Second)
	e.edit("u1", jsonBody(t, map[string]string{"email": "z@example.com", "verification_token": vt})).
		wantError(t, 400, "invalid_verification_token")
}

func TestOneTokenIsSpentOnce(t *testing.T) {
	// Concurrent edits spending one token. Two identical edits cannot show
	// it (the second finds the phone already bound and needs no token), so
	// setters bind the phone with the one token; removers (sudo is off)
	// unbind it. Whatever the interleaving, the token can have bound the
	// phone once: any later binding needs it again and must fail. Each
	// setter also sets its own nickname, so the audit log tells a setter
	// that bound the phone (nickname and phone changed) from one that found
	// it already bound (nickname only).
	e := newEnv(t, sudoOff(), withStoreTimeout(5*time.Second), withEditLimit(1000, time.Minute))
	vt := e.verificationToken("u1", "phone_number", "+86 13000000000", "ANY")
	tok := e.token("u1")
	const setters, removers = 10, 10
	statuses := make([]int, setters)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < setters+removers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := `{"phone":""}`
			if i < setters {
				body = jsonBody(t, map[string]string{"phone": "+86 13000000000", "verification_token": vt,
					"nickname": "Setter " + strconv.Itoa(i)})
			}
			r := httptest.NewRequest(http.MethodPost, pathEdit, strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			<-start
			e.api.ServeHTTP(w, r)
			if i < setters {
				statuses[i] = w.Code
			} else if w.Code != 200 && w.Code != 503 {
				// 503: the store gives up on an edit whose profile keeps
				// changing under it; what counts here is the token.
				t.Errorf("remover: %d %s", w.Code, w.Body)
			}
		}(i)
	}
	close(start)
	wg.Wait()

	bindings := 0
	for _, entry := range e.logs.FilterMessage("profile edited").All() {
		changed := entry.ContextMap()["changed"]
		if s := fmt.Sprint(changed); strings.Contains(s, "nickname") && strings.Contains(s, "phone") {
			bindings++
		}
	}
	if bindings != 1 {
		t.Fatalf("the one verification token bound the phone %d times", bindings)
	}
	for i, s := range statuses {
		if s != 200 && s != 400 && s != 503 {
			t.Errorf("setter %d: %d", i, s)
		}
	}
}

func TestSudoEndpoint(t *testing.T) {
	e := newEnv(t)
	e.bindPhone("u1", "+86 13000000000")
	tok := e.token("u1")
	sudo := func(body string) *result { return e.serve(http.MethodPost, pathSudo, body, bearer(tok)) }

	sudo(`{"password":"hunter2"}`).wantError(t, 400, "invalid_argument").wantDescription(t, "password", "not handled")
	sudo(`{"password":""}`).wantError(t, 400, "invalid_argument").wantDescription(t, "password")
	sudo(`{}`).wantError(t, 400, "invalid_argument").wantDescription(t, "verification_token")
	sudo(`{"verification_token":""}`).wantError(t, 400, "invalid_argument")
	sudo(`{"verification_token":null,"password":null}`).wantError(t, 400, "invalid_argument").wantDescription(t, "verification_token")
	sudo(`{"verification_token":"made-up"}`).wantError(t, 400, "invalid_verification_token")
	sudo(`{"verification_token":1}`).wantError(t, 400, "invalid_argument")
	sudo(`{"verification_token":"x","extra":1}`).wantError(t, 400, "invalid_argument").wantDescription(t, "extra")

	// A token for a contact that is not bound to the caller (ANY on a new
	// number) proves nothing about the account.
	vtNew := e.verificationToken("u1", "phone_number", "+86 13000000001", "ANY")
	sudo(jsonBody(t, map[string]string{"verification_token": vtNew})).wantError(t, 400, "invalid_verification_token")

	// Another user's token for their own bound phone.
	e.bindPhone("u2", "+86 13000000002")
	vtOther := e.verificationToken("u2", "phone_number", "", "CUR_USER")
	sudo(jsonBody(t, map[string]string{"verification_token": vtOther})).wantError(t, 400, "invalid_verification_token")

	// A token for a contact that was bound when verified but no longer is.
	vtOld := e.verificationToken("u1", "phone_number", "", "CUR_USER")
	e.editWith(e.adminToken(), `{"user_id":"u1","phone":""}`).wantOK(t)
	sudo(jsonBody(t, map[string]string{"verification_token": vtOld})).wantError(t, 400, "invalid_verification_token")

	// password: null is not given: the token decides.
	e.bindEmail("u1", "u1@example.com")
	vt := e.verificationToken("u1", "email", "", "CUR_USER")
	sudo(jsonBody(t, map[string]any{"verification_token": vt, "password": nil})).wantOK(t)
}

// TestSudoNeedsACurUserCode: only a code sent with target CUR_USER buys a
// sudo token. A code sent to the same bound contact with ANY or NOT_USER
// was asked for as a stranger's send (counted in the contact's shared
// budget, for binding a contact): it is refused, so sudo codes stay within
// the owner's own CUR_USER budget.
func TestSudoNeedsACurUserCode(t *testing.T) {
	e := newEnv(t)
	e.bindPhone("u1", "+86 13000000000")
	tok := e.token("u1")
	for _, target := range []string{"ANY", "NOT_USER"} {
		e.forgetCallerMinute("u1")
		vt := e.verificationToken("u1", "phone_number", "+86 13000000000", target)
		e.serve(http.MethodPost, pathSudo, jsonBody(t, map[string]string{"verification_token": vt}), bearer(tok)).
			wantError(t, 400, "invalid_verification_token")
	}
	e.forgetCallerMinute("u1")
	cur := e.verificationToken("u1", "phone_number", "", "CUR_USER")
	e.serve(http.MethodPost, pathSudo, jsonBody(t, map[string]string{"verification_token": cur}), bearer(tok)).wantOK(t)
}

func TestSudoTokenBelongsToItsUser(t *testing.T) {
	e := newEnv(t)
	e.bindPhone("u1", "+86 13000000001")
	e.bindPhone("u2", "+86 13000000002")
	sudo2 := e.sudoToken("u2", "phone_number")
	e.edit("u1", jsonBody(t, map[string]string{"phone": "", "sudo_token": sudo2})).wantError(t, 403, "sudo_required")
	e.edit("u1", `{"phone":"","sudo_token":"made-up"}`).wantError(t, 403, "sudo_required")
	e.edit("u2", jsonBody(t, map[string]string{"phone": "", "sudo_token": sudo2})).wantOK(t)
}

func TestSudoTokenExpires(t *testing.T) {
	e := newEnv(t, withConfig(func(c *config.Config) { c.Sudo.TokenTTL = config.Duration(300 * time.Millisecond) }))
	e.bindPhone("u1", "+86 13000000001")
	sudo := e.sudoToken("u1", "phone_number")
	time.Sleep(400 * time.Millisecond)
	e.clock.Advance(time.Second)
	e.edit("u1", jsonBody(t, map[string]string{"phone": "", "sudo_token": sudo})).wantError(t, 403, "sudo_required")
}

func TestMaxAuthAge(t *testing.T) {
	e := newEnv(t, withConfig(func(c *config.Config) { c.Sudo.MaxAuthAge = config.Duration(5 * time.Minute) }))
	e.bindPhone("u1", "+86 13000000000")
	now := e.clock.Now()
	recent := e.token("u1", withAuthTime(now.Add(-time.Minute)))
	old := e.token("u1", withAuthTime(now.Add(-10*time.Minute)))

	vt := e.verificationToken("u1", "phone_number", "+86 13000000001", "ANY")
	body := jsonBody(t, map[string]string{"phone": "+86 13000000001", "verification_token": vt})
	e.editWith(old, body).wantError(t, 403, "sudo_required")
	e.edit("u1", body).wantError(t, 403, "sudo_required") // no auth_time at all
	e.editWith(recent, body).wantOK(t)

	// The same token grows old with the clock.
	e.clock.Advance(5 * time.Minute)
	e.editWith(recent, `{"phone":""}`).wantError(t, 403, "sudo_required")
}

func TestMaxAuthAgeWithoutSender(t *testing.T) {
	// No sender, verification off, sudo satisfied only by a recent sign-in.
	e := newEnv(t, withoutSender(), withConfig(func(c *config.Config) {
		c.Sudo.Sensitive = nil // default: phone and email
		c.Sudo.MaxAuthAge = config.Duration(time.Minute)
	}))
	e.edit("u1", `{"phone":"+86 13000000000"}`).wantOK(t) // first binding: no sudo
	e.edit("u1", `{"phone":"+86 13000000001"}`).wantError(t, 403, "sudo_required")
	e.editWith(e.token("u1", withAuthTime(e.clock.Now())), `{"phone":"+86 13000000001"}`).wantOK(t)
}

func TestNoSenderIsUnimplemented(t *testing.T) {
	e := newEnv(t, withoutSender())
	e.sendCode("u1", `{"email":"z@example.com"}`).wantError(t, 501, "unimplemented")
	e.verify("some-id", "123456").wantError(t, 501, "unimplemented")
	// The earlier steps still come first.
	e.serve(http.MethodPost, pathSend, `{"email":"z@example.com"}`).wantError(t, 401, "unauthenticated")
	// Edits work: verification and sudo are off.
	e.edit("u1", `{"phone":"+86 13000000000","email":"z@example.com"}`).wantOK(t)
	e.edit("u1", `{"phone":"+86 13000000001","email":""}`).wantOK(t)
}

// TestIDNAFullStopSpellingsRefused: U+3002, U+FF0E and U+FF61 are full stops
// to IDNA, so "a@example.com。" would be keyed "a@example.com.", not
// "a@example.com": a second user could hold the mailbox of the first.
// Such spellings are invalid, for a code and for an edit alike.
func TestIDNAFullStopSpellingsRefused(t *testing.T) {
	e := newEnv(t)
	e.bindEmail("u1", "a@example.com")
	for _, spelling := range []string{"a@example.com\u3002", "a@example.com\uFF0E", "a@example.com\uFF61", "a@example\u3002\u3002com"} {
		t.Run(spelling, func(t *testing.T) {
			for _, target := range []string{"NOT_USER", "ANY"} {
				e.sendCode("u2", jsonBody(t, map[string]string{"email": spelling, "target": target})).
					wantError(t, 400, "invalid_argument").wantDescription(t, "email")
			}
			e.edit("u2", jsonBody(t, map[string]string{"email": spelling, "verification_token": "x"})).
				wantError(t, 400, "invalid_argument").wantDescription(t, "email")
		})
	}
}

// TestParallelGuessesGetFiveTries: guesses sent all at once, from as many
// addresses (no per-IP limit in the way), cannot outrun the kill after 5
// wrong codes: the check and the count are one script. Exactly five are
// counted as wrong codes of a live verification (the per-IP counters,
// which count nothing else, add up to five) and the right code, sent
// after, fails.
func TestParallelGuessesGetFiveTries(t *testing.T) {
	e := newEnv(t)
	e.sendCode("u1", `{"email":"a@example.com"}`).wantOK(t)
	msg := e.sender.Last(t)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code := fmt.Sprintf("%06d", i)
			if code == msg.Code {
				code = fmt.Sprintf("%06d", 100+i)
			}
			e.serve(http.MethodPost, pathVerify, jsonBody(t, map[string]string{
				"verification_id": msg.VerificationID, "verification_code": code,
			}), noHeader("Authorization"), remoteAddr(fmt.Sprintf("198.51.100.%d:1000", i+1))).
				wantError(t, 400, "invalid_verification_code")
		}()
	}
	wg.Wait()
	ctx := context.Background()
	counted := 0
	for _, k := range e.rawRedis().Keys(ctx, "authedge:{"+testEnvID+"}:vf:*").Val() {
		n, _ := e.rawRedis().Get(ctx, k).Int()
		counted += n
	}
	if counted != 5 {
		t.Errorf("%d wrong codes were checked against the live verification, want 5", counted)
	}
	e.verify(msg.VerificationID, msg.Code).wantError(t, 400, "invalid_verification_code")
}

// With a code key, what Redis keeps of a pending code cannot be tested
// against guesses: the unkeyed digest of every one of the million codes
// misses it, where without the key one of them is it. The right code
// still verifies, and only under the same key.
func TestCodesAreKeptUnderTheCodeKey(t *testing.T) {
	// field is where the digest is kept: "h" unkeyed, "hk" keyed.
	stored := func(e *env, field string) (id, code, digest string) {
		sent := e.sendCode("u1", `{"email":"a@example.com","target":"ANY"}`).wantOK(t)
		id, code = sent.str("verification_id"), e.sender.Last(t).Code
		digest, err := e.rawRedis().HGet(context.Background(), "authedge:{"+testEnvID+"}:v:"+id, field).Result()
		if err != nil {
			t.Fatalf("reading the stored code: %v", err)
		}
		return id, code, digest
	}
	// guess is what a reader of Redis could do: try every code.
	guess := func(id, digest string) (string, bool) {
		for n := range 1000000 {
			c := fmt.Sprintf("%06d", n)
			sum := sha256.Sum256([]byte(id + ":" + c))
			if hex.EncodeToString(sum[:]) == digest {
				return c, true
			}
		}
		return "", false
	}

	plain := newEnv(t)
	id, code, digest := stored(plain, "h")
	if got, ok := guess(id, digest); !ok || got != code {
		t.Fatalf("without a key, guessing found %q, %v; want the code %q (the test's guess is wrong)", got, ok, code)
	}

	e := newEnv(t, withCodeKey([]byte("0123456789abcdef0123456789abcdef")))
	id, code, digest = stored(e, "hk")
	if got, ok := guess(id, digest); ok {
		t.Fatalf("with a code key, guessing the stored digest found the code %q", got)
	}

	// Another key on the same Redis: the right code is a wrong one there.
	deps := e.api.deps
	deps.CodeKey = []byte("another key, another deployment")
	other, err := New(e.cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	keyed := e.api
	e.api = other
	e.verify(id, code).wantError(t, http.StatusBadRequest, "invalid_verification_code")
	e.api = keyed
	if tok := e.verify(id, code).wantOK(t).str("verification_token"); tok == "" {
		t.Fatal("the right code under the right key gave no verification_token")
	}
}

// A rolling upgrade to code keys (docs/storage.md#upgrades): a code
// pending under the digest an earlier version wrote still verifies on an
// instance with a code key, and a code this version keeps under its key
// carries no 'h' digest, the one field every earlier version's check
// reads: those answer it as an unknown verification and count nothing,
// instead of spending the user's tries and their IP's budget on the
// right code.
func TestCodesPendingAcrossTheCodeKeyUpgrade(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, withCodeKey([]byte("0123456789abcdef0123456789abcdef")))
	digest := func(id, sealed string) string {
		sum := sha256.Sum256([]byte(id + ":" + sealed))
		return hex.EncodeToString(sum[:])
	}
	for _, tc := range []struct {
		name string
		// stored is the digest the earlier version kept in 'h'.
		stored func(id, code string) string
	}{
		{"unkeyed, before code keys", func(id, code string) string { return digest(id, code) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent := e.sendCode("u1", `{"email":"a@example.com","target":"ANY"}`).wantOK(t)
			id, code := sent.str("verification_id"), e.sender.Last(t).Code
			e.forgetLastSend(id)
			key := "authedge:{" + testEnvID + "}:v:" + id
			// Rewrite the verification as the earlier version wrote it.
			fields, err := e.rawRedis().HGetAll(ctx, key).Result()
			if err != nil || len(fields) == 0 {
				t.Fatalf("reading the verification: %v, %v", fields, err)
			}
			old := map[string]any{}
			for f, v := range fields {
				if f != "h" && f != "hk" {
					old[f] = v
				}
			}
			old["h"] = tc.stored(id, code)
			pipe := e.rawRedis().TxPipeline()
			pipe.HDel(ctx, key, "h", "hk")
			pipe.HSet(ctx, key, old)
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if tok := e.verify(id, code).wantOK(t).str("verification_token"); tok == "" {
				t.Fatal("the right code of a verification an earlier version stored gave no verification_token")
			}
		})
	}

	sent := e.sendCode("u1", `{"email":"b@example.com","target":"ANY"}`).wantOK(t)
	id := sent.str("verification_id")
	n, err := e.rawRedis().HExists(ctx, "authedge:{"+testEnvID+"}:v:"+id, "h").Result()
	if err != nil {
		t.Fatal(err)
	}
	if n {
		t.Fatal("a code kept under the code key has an 'h' digest, which an earlier version's check takes for its own and counts the right code as wrong")
	}
	if tok := e.verify(id, e.sender.Last(t).Code).wantOK(t).str("verification_token"); tok == "" {
		t.Fatal("the right code gave no verification_token")
	}
}
