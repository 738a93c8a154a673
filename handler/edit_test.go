package handler

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/config"
)

// POST /auth/v1/user/basic/edit and GET /auth/v1/user/me
// (docs/api.md#edit-a-profile, docs/api.md#read-your-profile).

func TestFieldRulesReachTheClient(t *testing.T) {
	e := newEnv(t, verificationOff())
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct{ field, value string }{
		{"nickname", ""},
		{"nickname", "a"},
		{"nickname", strings.Repeat("名", 49)},
		{"nickname", " Zhang"},
		{"nickname", "Zhang "},
		{"nickname", "Zh\x01ang"},
		{"nickname", "Zh\u200bang"},
		{"nickname", "Zh\nang"},
		{"username", ""},
		{"username", "a"},
		{"username", long(49)},
		{"username", "zhang san"},
		{"username", "zhang@san"},
		{"username", "13000000000"},
		{"username", "+86130"},
		{"username", "名字"},
		{"username", "tab\there"},
		{"phone", "13000000000"},
		{"phone", "+86 123"},
		{"phone", "+86 1300000000x"},
		{"phone", "+86 13000000000 ext. 1"},
		{"phone", "+" + strings.Repeat("1", 40)},
		{"phone", "+"},
		{"email", "zhangsan"},
		{"email", "zhangsan@"},
		{"email", "@example.com"},
		{"email", "zhang san@example.com"},
		{"email", "Zhang <zhang@example.com>"},
		{"email", "<zhang@example.com>"},
		{"email", "a@b@c"},
		{"email", long(250) + "@example.com"},
		{"avatar_url", "ftp://example.com/a.png"},
		{"avatar_url", "/a.png"},
		{"avatar_url", "example.com/a.png"},
		{"avatar_url", "javascript:alert(1)"},
		{"avatar_url", "http://"},
		{"avatar_url", "https://user:pw@example.com/a.png"},
		{"avatar_url", "https://example.com/" + long(2048)},
		{"avatar_url", "https://example.com/a b.png"},
		{"gender", "male"},
		{"gender", "OTHER"},
		{"gender", "M"},
		{"description", long(501)},
		{"description", "nul\x00here"},
		{"description", "bell\x07"},
	}
	for _, c := range cases {
		body := jsonBody(t, map[string]string{c.field: c.value})
		res := e.edit("u1", body)
		if res.status != 400 || res.code() != "invalid_argument" {
			t.Errorf("%s=%q: %d %s, want 400 invalid_argument", c.field, c.value, res.status, res.code())
			continue
		}
		if !strings.HasPrefix(res.description(), c.field+":") {
			t.Errorf("%s=%q: description %q does not start with the field name", c.field, c.value, res.description())
		}
	}
	// None of those changed anything: u1 still has no profile fields.
	me := e.me("u1")
	for _, k := range []string{"name", "username", "phone_number", "email", "picture", "gender", "description"} {
		if _, ok := me.json[k]; ok {
			t.Errorf("refused edits left %s = %v", k, me.json[k])
		}
	}
}

func TestFieldValuesAreNormalized(t *testing.T) {
	e := newEnv(t, verificationOff())
	e.edit("u1", jsonBody(t, map[string]string{
		"nickname":    "Jose\u0301 Zhang", // decomposed é
		"username":    "Zhang_San",
		"phone":       "+86 130 0000 0000",
		"email":       "Zhang.San@Example.com",
		"avatar_url":  "https://example.com/a.png",
		"gender":      "FEMALE",
		"description": "line one\n\tline two \u00e9",
	})).wantOK(t)
	me := e.me("u1")
	want := map[string]string{
		"sub":          "u1",
		"name":         "Jos\u00e9 Zhang",
		"username":     "Zhang_San",
		"phone_number": "+86 13000000000",
		"email":        "Zhang.San@Example.com",
		"picture":      "https://example.com/a.png",
		"gender":       "FEMALE",
		"description":  "line one\n\tline two \u00e9",
	}
	for k, v := range want {
		if got := me.str(k); got != v {
			t.Errorf("me.%s = %q, want %q", k, got, v)
		}
	}
}

func TestMeCreatesAndRenders(t *testing.T) {
	e := newEnv(t, verificationOff())
	ctx := t.Context()
	if _, ok, err := e.store.Profile(ctx, "fresh"); err != nil || ok {
		t.Fatalf("profile before me: ok=%v err=%v", ok, err)
	}
	created := e.clock.Now()
	first := e.me("fresh")
	if _, ok, err := e.store.Profile(ctx, "fresh"); err != nil || !ok {
		t.Fatalf("me did not create the profile: ok=%v err=%v", ok, err)
	}
	// A fresh profile: sub and times only; absent values are omitted,
	// not sent as "" or null.
	keys := map[string]bool{}
	for k := range first.json {
		keys[k] = true
	}
	if len(keys) != 3 || !keys["sub"] || !keys["created_at"] || !keys["updated_at"] {
		t.Fatalf("fresh profile = %s", first.body)
	}
	if first.str("sub") != "fresh" {
		t.Fatalf("sub = %q", first.str("sub"))
	}
	for _, k := range []string{"created_at", "updated_at"} {
		ts, err := time.Parse(time.RFC3339, first.str(k))
		if err != nil {
			t.Fatalf("%s = %q is not RFC 3339: %v", k, first.str(k), err)
		}
		if !ts.Equal(created.Truncate(time.Second)) {
			t.Errorf("%s = %v, want the clock's %v", k, ts, created)
		}
	}

	// A second call returns the same profile, not a new one.
	e.clock.Advance(time.Hour)
	if again := e.me("fresh"); again.str("created_at") != first.str("created_at") || again.str("updated_at") != first.str("updated_at") {
		t.Fatalf("second me changed the times: %s then %s", first.body, again.body)
	}

	// An edit moves updated_at, never created_at, and every field comes
	// back under its CloudBase name.
	e.edit("fresh", `{"nickname":"Zhang San","username":"zhangsan","phone":"+86 13000000000","email":"z@example.com",
		"avatar_url":"https://example.com/a.png","gender":"MALE","description":"hi"}`).wantOK(t)
	after := e.me("fresh")
	if after.str("created_at") != first.str("created_at") {
		t.Errorf("created_at moved: %s → %s", first.str("created_at"), after.str("created_at"))
	}
	if got, _ := time.Parse(time.RFC3339, after.str("updated_at")); !got.Equal(e.clock.Now().Truncate(time.Second)) {
		t.Errorf("updated_at = %s, want %v", after.str("updated_at"), e.clock.Now())
	}
	for k, v := range map[string]string{"name": "Zhang San", "username": "zhangsan", "phone_number": "+86 13000000000",
		"email": "z@example.com", "picture": "https://example.com/a.png", "gender": "MALE", "description": "hi"} {
		if after.str(k) != v {
			t.Errorf("%s = %q, want %q", k, after.str(k), v)
		}
	}
	if len(after.json) != 10 {
		t.Errorf("me has %d keys, want 10: %s", len(after.json), after.body)
	}
}

func TestEditCreatesOwnProfile(t *testing.T) {
	e := newEnv(t, verificationOff())
	e.edit("newbie", `{}`).wantOK(t)
	if _, ok, err := e.store.Profile(t.Context(), "newbie"); err != nil || !ok {
		t.Fatalf("an edit did not create the caller's profile: ok=%v err=%v", ok, err)
	}
}

func TestPartialUpdate(t *testing.T) {
	e := newEnv(t, verificationOff())
	e.edit("u1", `{"nickname":"Zhang San","username":"zhangsan","gender":"MALE","description":"hello"}`).wantOK(t)
	e.edit("u1", `{"gender":"FEMALE","nickname":null,"sudo_token":"","verification_token":""}`).wantOK(t)
	me := e.me("u1")
	for k, v := range map[string]string{"name": "Zhang San", "username": "zhangsan", "gender": "FEMALE", "description": "hello"} {
		if me.str(k) != v {
			t.Errorf("%s = %q, want %q", k, me.str(k), v)
		}
	}
}

func TestEmptyStringRemoves(t *testing.T) {
	e := newEnv(t, verificationOff(), sudoOff())
	e.edit("u1", `{"nickname":"Zhang San","username":"zhangsan","phone":"+86 13000000000","email":"z@example.com",
		"avatar_url":"https://example.com/a.png","gender":"MALE","description":"hi"}`).wantOK(t)
	e.edit("u1", `{"phone":"","email":"","avatar_url":"","gender":"","description":""}`).wantOK(t)
	me := e.me("u1")
	for _, k := range []string{"phone_number", "email", "picture", "gender", "description"} {
		if _, ok := me.json[k]; ok {
			t.Errorf("%s still present after \"\": %s", k, me.body)
		}
	}
	if me.str("name") != "Zhang San" || me.str("username") != "zhangsan" {
		t.Errorf("removal touched other fields: %s", me.body)
	}
	// A removed phone and email are free for someone else at once.
	e.edit("u2", `{"phone":"+8613000000000","email":"Z@EXAMPLE.COM"}`).wantOK(t)
	// Removing what is not there is fine.
	e.edit("u1", `{"phone":"","email":""}`).wantOK(t)
}

func TestPasswordIsRefusedClearly(t *testing.T) {
	e := newEnv(t, verificationOff())
	for _, body := range []string{`{"password":"hunter2"}`, `{"new_password":"hunter2"}`, `{"password":"x","nickname":"Zhang San"}`, `{"password":1}`} {
		res := e.edit("u1", body).wantError(t, 400, "invalid_argument")
		if !strings.Contains(res.description(), "password") || !strings.Contains(res.description(), "not handled") {
			t.Errorf("%s: description %q does not explain", body, res.description())
		}
		if strings.Contains(res.description(), "hunter2") {
			t.Errorf("the password is echoed")
		}
	}
	// null is "not given", for password like any field.
	e.edit("u1", `{"password":null,"new_password":null,"nickname":"Zhang San"}`).wantOK(t)
}

func TestUsernameUniqueness(t *testing.T) {
	e := newEnv(t, verificationOff())
	e.edit("u1", `{"username":"ZhangSan"}`).wantOK(t)
	for _, v := range []string{"ZhangSan", "zhangsan", "ZHANGSAN", "zHaNgSaN"} {
		e.edit("u2", jsonBody(t, map[string]string{"username": v})).wantError(t, 409, "username_already_exists")
	}
	// A conflict changes nothing of the request, not even its other fields.
	e.edit("u2", `{"nickname":"Li Si","username":"zhangsan"}`).wantError(t, 409, "username_already_exists")
	if _, ok := e.me("u2").json["name"]; ok {
		t.Fatal("a refused edit applied its nickname")
	}
	// The owner's own value, or a case variant, is no conflict: it only
	// changes the display form.
	e.edit("u1", `{"username":"ZhangSan"}`).wantOK(t)
	e.edit("u1", `{"username":"ZHANGSAN"}`).wantOK(t)
	if got := e.me("u1").str("username"); got != "ZHANGSAN" {
		t.Fatalf("username = %q, want the new display form", got)
	}
	// Given up, it is free at once.
	e.edit("u1", `{"username":"zhang_san_2"}`).wantOK(t)
	e.edit("u2", `{"username":"zhangsan"}`).wantOK(t)
	e.edit("u1", `{"username":"ZhangSan"}`).wantError(t, 409, "username_already_exists")
}

func TestEmailUniqueness(t *testing.T) {
	e := newEnv(t, verificationOff(), sudoOff())
	e.edit("u1", `{"email":"Zhang@Example.com"}`).wantOK(t)
	for _, v := range []string{"zhang@example.com", "ZHANG@EXAMPLE.COM", "Zhang@Example.com"} {
		e.edit("u2", jsonBody(t, map[string]string{"email": v})).wantError(t, 409, "email_already_exists")
	}
	e.edit("u1", `{"email":"zhang@EXAMPLE.com"}`).wantOK(t)
	if got := e.me("u1").str("email"); got != "zhang@EXAMPLE.com" {
		t.Fatalf("email = %q", got)
	}
	e.edit("u1", `{"email":"other@example.com"}`).wantOK(t)
	e.edit("u2", `{"email":"zhang@example.com"}`).wantOK(t)
}

func TestPhoneUniqueness(t *testing.T) {
	e := newEnv(t, verificationOff(), sudoOff())
	e.edit("u1", `{"phone":"+86 13000000000"}`).wantOK(t)
	for _, v := range []string{"+86 13000000000", "+8613000000000", "+86 130-0000-0000", "+86 (130) 0000 0000"} {
		e.edit("u2", jsonBody(t, map[string]string{"phone": v})).wantError(t, 409, "phone_already_exists")
	}
	e.edit("u1", `{"phone":"+86 130 0000 0000"}`).wantOK(t)
	if got := e.me("u1").str("phone_number"); got != "+86 13000000000" {
		t.Fatalf("phone_number = %q", got)
	}
	e.edit("u1", `{"phone":"+86 13000000001"}`).wantOK(t)
	e.edit("u2", `{"phone":"+8613000000000"}`).wantOK(t)
}

func TestOwnVariantNeedsNeitherVerificationNorSudo(t *testing.T) {
	// With the default config (verification and sudo for phone and email),
	// re-sending one's own contact in another format or case is no change.
	e := newEnv(t)
	e.bindPhone("u1", "+86 13000000000")
	e.bindEmail("u1", "zhang@example.com")
	e.edit("u1", `{"phone":"+8613000000000","email":"ZHANG@example.com"}`).wantOK(t)
	me := e.me("u1")
	if me.str("phone_number") != "+86 13000000000" || me.str("email") != "ZHANG@example.com" {
		t.Fatalf("me = %s", me.body)
	}
}

func TestVerificationRequiredByDefault(t *testing.T) {
	e := newEnv(t)
	e.edit("u1", `{"phone":"+86 13000000000"}`).wantError(t, 400, "verification_required").wantDescription(t, "verification_token")
	e.edit("u1", `{"email":"z@example.com"}`).wantError(t, 400, "verification_required")
	e.edit("u1", `{"email":"z@example.com","verification_token":""}`).wantError(t, 400, "verification_required")
	e.edit("u1", `{"email":"z@example.com","verification_token":null}`).wantError(t, 400, "verification_required")
	// A made-up token gets as far as the store, which refuses it.
	e.edit("u1", `{"email":"z@example.com","verification_token":"made-up"}`).wantError(t, 400, "invalid_verification_token")
	// Nothing was applied.
	if _, ok := e.me("u1").json["email"]; ok {
		t.Fatal("email applied without verification")
	}
	// Other fields need nothing.
	e.edit("u1", `{"nickname":"Zhang San","username":"zhangsan"}`).wantOK(t)
	// Removing needs no verification (and there is nothing bound, so no sudo).
	e.edit("u1", `{"phone":"","email":""}`).wantOK(t)
}

func TestVerificationOff(t *testing.T) {
	e := newEnv(t, verificationOff())
	e.edit("u1", `{"phone":"+86 13000000000","email":"z@example.com"}`).wantOK(t)
	me := e.me("u1")
	if me.str("phone_number") != "+86 13000000000" || me.str("email") != "z@example.com" {
		t.Fatalf("me = %s", me.body)
	}
}

func TestVerificationRequiredForOneChannel(t *testing.T) {
	e := newEnv(t, withConfig(func(c *config.Config) { c.Verification.Required = &[]string{"email"} }))
	e.edit("u1", `{"phone":"+86 13000000000"}`).wantOK(t)
	// u2, with no phone bound: a first email beside a phone would need sudo
	// first.
	e.edit("u2", `{"email":"z@example.com"}`).wantError(t, 400, "verification_required")
}

func TestOneVerifiedContactAtATime(t *testing.T) {
	e := newEnv(t)
	e.edit("u1", `{"phone":"+86 13000000000","email":"z@example.com","verification_token":"x"}`).
		wantError(t, 400, "invalid_argument").wantDescription(t, "one")
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, verificationOff(), withEditLimit(3, time.Minute))
	e.edit("owner", `{"username":"taken"}`).wantOK(t)

	// Bodies refused before the store do not count.
	for i := 0; i < 5; i++ {
		e.edit("u1", `{"nickname":1}`).wantError(t, 400, "invalid_argument")
	}
	// A conflict reaches the store and counts.
	e.edit("u1", `{"username":"TAKEN"}`).wantError(t, 409, "username_already_exists")
	e.edit("u1", `{"nickname":"Zhang San"}`).wantOK(t)
	e.edit("u1", `{}`).wantOK(t)
	res := e.edit("u1", `{"nickname":"Li Si"}`).wantError(t, 429, "resource_exhausted")
	secs, err := strconv.Atoi(res.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 60 {
		t.Fatalf("Retry-After = %q, want 1..60 seconds", res.header.Get("Retry-After"))
	}
	// The refused edit was not applied, and conflicts still count as
	// edits: a 4th conflicting edit is 429 too, not 409.
	if got := e.me("u1").str("name"); got != "Zhang San" {
		t.Fatalf("nickname = %q after a refused edit", got)
	}
	e.edit("u1", `{"username":"taken"}`).wantError(t, 429, "resource_exhausted")

	// The limit is per caller.
	e.edit("u2", `{"nickname":"Wang Wu"}`).wantOK(t)
	// An admin's edits of others count against the admin, not the target.
	e.editWith(e.adminToken(), `{"user_id":"u1","nickname":"By Admin"}`).wantOK(t)
}

func TestRateLimitWindowEnds(t *testing.T) {
	e := newEnv(t, verificationOff(), withEditLimit(1, time.Second))
	e.edit("u1", `{}`).wantOK(t)
	e.edit("u1", `{}`).wantError(t, 429, "resource_exhausted")
	// The window is measured by the store; move both the injected clock
	// and real time past it.
	e.clock.Advance(2 * time.Second)
	time.Sleep(1100 * time.Millisecond)
	e.edit("u1", `{}`).wantOK(t)
}

func TestAdminSkipsVerificationAndSudo(t *testing.T) {
	e := newEnv(t)
	e.bindPhone("u1", "+86 13000000000")
	admin := e.adminToken()
	// Replacing a bound phone of another user: no sudo, no verification.
	e.editWith(admin, `{"user_id":"u1","phone":"+86 13000000001","email":"u1@example.com"}`).wantOK(t)
	// And removing it.
	e.editWith(admin, `{"user_id":"u1","phone":""}`).wantOK(t)
	me := e.me("u1")
	if _, ok := me.json["phone_number"]; ok || me.str("email") != "u1@example.com" {
		t.Fatalf("me = %s", me.body)
	}
	// Uniqueness still holds for admins.
	e.bindPhone("u2", "+86 13000000002")
	e.editWith(admin, `{"user_id":"u1","phone":"+8613000000002"}`).wantError(t, 409, "phone_already_exists")
	// An admin editing themselves is a user like any other.
	e.editWith(admin, `{"phone":"+86 13000000003"}`).wantError(t, 400, "verification_required")
	e.editWith(admin, `{"user_id":"`+adminUser+`","phone":"+86 13000000003"}`).wantError(t, 400, "verification_required")
}

// user_id becomes part of a Redis key: what cannot be a user ID is refused
// before any read, even for an admin.
// A token's sub names the caller's own profile, which an edit or /me
// creates: it is held to user_id's bound, or it would become a key.
func TestSubIsBoundedBeforeRedis(t *testing.T) {
	e := newEnv(t, verificationOff(), sudoOff())
	for _, sub := range []string{strings.Repeat("s", maxUserIDBytes+1), "u1\nx", "u1\u200bx"} {
		e.edit(sub, `{"nickname":"Me"}`).wantError(t, 401, "unauthenticated")
		e.serve("GET", pathMe, "", bearer(e.token(sub))).wantError(t, 401, "unauthenticated")
	}
	keys, err := e.rawRedis().Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, strings.Repeat("s", 64)) || strings.Contains(k, "u1\n") || strings.Contains(k, "u1\u200b") {
			t.Errorf("a refused sub reached Redis: %q", k)
		}
	}
	// The longest allowed sub is an ordinary user.
	e.edit(strings.Repeat("s", maxUserIDBytes), `{"nickname":"Me"}`).wantOK(t)
}

func TestUserIDIsBoundedBeforeRedis(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	for _, id := range []string{strings.Repeat("a", maxUserIDBytes+1), "u1\nx", "u1\u200bx"} {
		body, _ := json.Marshal(map[string]string{"user_id": id, "nickname": "By Admin"})
		r := e.editWith(admin, string(body))
		r.wantError(t, 400, "invalid_argument")
		if d := r.description(); !strings.HasPrefix(d, "user_id:") {
			t.Errorf("user_id %q: description %q does not name user_id", id, d)
		}
	}
	// The longest allowed ID is an ordinary unknown user.
	body, _ := json.Marshal(map[string]string{"user_id": strings.Repeat("a", maxUserIDBytes), "nickname": "By Admin"})
	e.editWith(admin, string(body)).wantError(t, 404, "user_not_found")
}

// The field sets the store's edits take are built once, in New: a name the
// store cannot take fails there, not on every edit.
func TestNewRefusesFieldsTheStoreCannotTake(t *testing.T) {
	e := newEnv(t)
	cfg := *e.cfg
	cfg.Sudo.Sensitive = &[]string{"phone", "fax"}
	if _, err := New(&cfg, Deps{Verifier: e.api.deps.Verifier, Store: e.store}); err == nil || !strings.Contains(err.Error(), "sudo sensitive") {
		t.Errorf("New with sensitive fax: %v", err)
	}
}

// TestEmailDomainMustBeInMappedForm: a domain that IDNA maps to another
// spelling (full-width letters, a circled letter, an ignored combining
// mark) shares the plain address's key, so a stolen access token could
// re-spell the victim's email, without verification or sudo, into a form
// the receiver does not deliver to the same mailbox. Such domains are
// invalid; a case change of the same address still is a re-spelling.
func TestEmailDomainMustBeInMappedForm(t *testing.T) {
	e := newEnv(t)
	e.bindEmail("victim", "a@example.com")
	stolen := e.token("victim")
	for _, spelling := range []string{"a@ｅｘａｍｐｌｅ.com", "a@ex\u034Fample\uFF0Ecom", "a@\u24D4xample.com", "a@exam\uFE0Fple.com"} {
		t.Run(spelling, func(t *testing.T) {
			e.editWith(stolen, jsonBody(t, map[string]string{"email": spelling})).
				wantError(t, 400, "invalid_argument").wantDescription(t, "email")
			e.sendCode("victim", jsonBody(t, map[string]string{"email": spelling, "target": "ANY"})).
				wantError(t, 400, "invalid_argument").wantDescription(t, "email")
		})
	}
	if got := e.me("victim").str("email"); got != "a@example.com" {
		t.Fatalf("email is now %q", got)
	}
	e.editWith(stolen, jsonBody(t, map[string]string{"email": "A@EXAMPLE.com"})).wantOK(t)
}
