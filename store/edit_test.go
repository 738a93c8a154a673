package store

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/profile"
)

func TestEditCreatesProfile(t *testing.T) {
	f := newFixture(t)
	res := f.set(t, "u1", Changes{
		Nickname: ptr("Zhang San"), Username: ptr("ZhangSan"), Phone: ptr("+86 13000000000"),
		Email: ptr("Zhang@Example.com"), AvatarURL: ptr("https://a.example/x.png"), Gender: ptr("MALE"),
		Description: ptr("line one\nline two"),
	})
	if !res.Created {
		t.Error("Created = false for a new profile")
	}
	want := []string{"nickname", "username", "phone", "email", "avatar_url", "gender", "description"}
	if !reflect.DeepEqual(res.Changed, want) {
		t.Errorf("Changed = %v, want %v", res.Changed, want)
	}
	p := f.profile(t, "u1")
	now := f.clock.Now()
	wantP := Profile{
		UserID: "u1", Nickname: "Zhang San", Username: "ZhangSan", Phone: "+86 13000000000",
		Email: "Zhang@Example.com", AvatarURL: "https://a.example/x.png", Gender: "MALE",
		Description: "line one\nline two", CreatedAt: now, UpdatedAt: now,
	}
	if !reflect.DeepEqual(p, wantP) {
		t.Errorf("Profile = %+v\nwant %+v", p, wantP)
	}
	for field, key := range map[string]string{fieldUsername: "zhangsan", fieldPhone: "+8613000000000", fieldEmail: "zhang@example.com"} {
		if got := f.owner(t, field, key); got != "u1" {
			t.Errorf("index %s[%s] = %q, want u1", field, key, got)
		}
	}
	f.audit(t)

	// A second edit keeps created_at and moves updated_at.
	f.clock.Advance(time.Minute)
	res = f.set(t, "u1", Changes{Nickname: ptr("Zhang Si")})
	if res.Created || !reflect.DeepEqual(res.Changed, []string{"nickname"}) {
		t.Errorf("second edit = %+v", res)
	}
	p = f.profile(t, "u1")
	if !p.CreatedAt.Equal(now) || !p.UpdatedAt.Equal(now.Add(time.Minute)) {
		t.Errorf("times = %v, %v", p.CreatedAt, p.UpdatedAt)
	}

	// An edit that changes nothing leaves updated_at alone.
	f.clock.Advance(time.Minute)
	res = f.set(t, "u1", Changes{Nickname: ptr("Zhang Si")})
	if len(res.Changed) != 0 {
		t.Errorf("Changed = %v for a no-op", res.Changed)
	}
	if p2 := f.profile(t, "u1"); !p2.UpdatedAt.Equal(p.UpdatedAt) {
		t.Errorf("updated_at moved on a no-op edit: %v", p2.UpdatedAt)
	}
}

func TestEditEmptyChangesCreatesProfile(t *testing.T) {
	f := newFixture(t)
	res := f.set(t, "u1", Changes{})
	if !res.Created || len(res.Changed) != 0 {
		t.Fatalf("res = %+v", res)
	}
	p := f.profile(t, "u1")
	if !p.CreatedAt.Equal(f.clock.Now()) || !p.UpdatedAt.Equal(f.clock.Now()) {
		t.Errorf("times = %v, %v", p.CreatedAt, p.UpdatedAt)
	}
}

func TestEditUserNotFound(t *testing.T) {
	f := newFixture(t)
	_, err := f.Edit(ctxT(t), Edit{Actor: "admin", Target: "ghost", Changes: Changes{Username: ptr("ghost")}, SudoSatisfied: true})
	wantErr(t, err, ErrUserNotFound)
	if _, ok, err := f.Profile(ctxT(t), "ghost"); ok || err != nil {
		t.Fatalf("Profile(ghost) = %v, %v: a refused edit created it", ok, err)
	}
	if f.owner(t, fieldUsername, "ghost") != "" {
		t.Fatal("a refused edit claimed the username")
	}
}

func TestEditPartialUpdate(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Nickname: ptr("Nick"), AvatarURL: ptr("https://a.example/1.png"), Description: ptr("about")})
	res := f.set(t, "u1", Changes{Gender: ptr("FEMALE")})
	if !reflect.DeepEqual(res.Changed, []string{"gender"}) {
		t.Errorf("Changed = %v", res.Changed)
	}
	p := f.profile(t, "u1")
	if p.Nickname != "Nick" || p.AvatarURL != "https://a.example/1.png" || p.Description != "about" || p.Gender != "FEMALE" {
		t.Errorf("profile = %+v", p)
	}
}

func TestEditRemoveIsNotLeaveAlone(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Nickname: ptr("Nick"), Phone: ptr("+86 13000000000"), Email: ptr("a@example.com"), Gender: ptr("MALE")})

	// nil leaves every field as it is.
	f.set(t, "u1", Changes{Nickname: ptr("Nick2")})
	p := f.profile(t, "u1")
	if p.Phone == "" || p.Email == "" || p.Gender == "" {
		t.Fatalf("nil removed something: %+v", p)
	}

	// "" removes, and frees the index entry.
	res := f.set(t, "u1", Changes{Phone: ptr(""), Gender: ptr("")})
	if !reflect.DeepEqual(res.Changed, []string{"phone", "gender"}) {
		t.Errorf("Changed = %v", res.Changed)
	}
	p = f.profile(t, "u1")
	if p.Phone != "" || p.Gender != "" || p.Email != "a@example.com" {
		t.Fatalf("profile = %+v", p)
	}
	if f.owner(t, fieldPhone, "+8613000000000") != "" {
		t.Error("removed phone still indexed")
	}
	stored, err := f.raw.Get(ctxT(t), f.keys.profile("u1")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, "13000000000") || strings.Contains(stored, "MALE") {
		t.Errorf("removed values still stored: %q", stored)
	}

	// Removing what is not there is a no-op.
	if res := f.set(t, "u1", Changes{Phone: ptr("")}); len(res.Changed) != 0 {
		t.Errorf("Changed = %v", res.Changed)
	}
	f.audit(t)
}

func TestEditOwnVariantIsNotConflict(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Username: ptr("alice"), Phone: ptr("+86 13000000000"), Email: ptr("alice@example.com")})
	f.set(t, "u2", Changes{Username: ptr("bob")})

	// With every policy on and no sudo: a variant of one's own value needs
	// neither sudo nor verification.
	res, err := f.Edit(ctxT(t), Edit{
		Actor: "u1", Target: "u1",
		Changes:        Changes{Username: ptr("ALICE"), Phone: ptr("+86 13000000000"), Email: ptr("Alice@Example.COM")},
		Sensitive:      fieldSet(t, "username", "phone", "email"),
		VerifyChannels: contactSet(t, "phone", "email"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Changed, []string{"username", "email"}) {
		t.Errorf("Changed = %v", res.Changed)
	}
	p := f.profile(t, "u1")
	if p.Username != "ALICE" || p.Email != "Alice@Example.COM" {
		t.Errorf("display forms not updated: %+v", p)
	}
	if f.owner(t, fieldUsername, "alice") != "u1" || f.owner(t, fieldEmail, "alice@example.com") != "u1" {
		t.Error("own variant lost the index entry")
	}
	f.audit(t)
}

func TestEditConflicts(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Username: ptr("alice"), Phone: ptr("+86 13000000000"), Email: ptr("alice@example.com")})
	f.set(t, "u2", Changes{Nickname: ptr("Bob")})
	for _, tc := range []struct {
		field string
		c     Changes
	}{
		{"username", Changes{Username: ptr("ALICE")}},
		{"phone", Changes{Phone: ptr("+86 13000000000")}},
		{"email", Changes{Email: ptr("ALICE@example.COM")}},
	} {
		_, err := f.Edit(ctxT(t), Edit{Actor: "u2", Target: "u2", Changes: tc.c, SudoSatisfied: true})
		wantConflict(t, err, tc.field)
	}
	if p := f.profile(t, "u2"); p.Username != "" || p.Phone != "" || p.Email != "" {
		t.Errorf("conflicting edits wrote: %+v", p)
	}
	f.audit(t)
}

func TestEditReleasedValueIsFreeAtOnce(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Username: ptr("alice"), Phone: ptr("+86 13000000000"), Email: ptr("alice@example.com")})
	f.set(t, "u1", Changes{Username: ptr("alice2"), Phone: ptr(""), Email: ptr("other@example.com")})
	f.set(t, "u2", Changes{Username: ptr("Alice"), Phone: ptr("+86 13000000000"), Email: ptr("ALICE@example.com")})
	if f.owner(t, fieldUsername, "alice") != "u2" || f.owner(t, fieldUsername, "alice2") != "u1" {
		t.Error("username index wrong")
	}
	if f.owner(t, fieldPhone, "+8613000000000") != "u2" || f.owner(t, fieldEmail, "alice@example.com") != "u2" {
		t.Error("contact index wrong")
	}
	f.audit(t)
}

func TestEditAllOrNothing(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Email: ptr("taken@example.com")})
	f.set(t, "u2", Changes{Nickname: ptr("Before"), Username: ptr("bob"), Phone: ptr("+86 13000000001")})
	before := f.profile(t, "u2")

	f.clock.Advance(time.Minute)
	_, err := f.Edit(ctxT(t), Edit{Actor: "u2", Target: "u2", SudoSatisfied: true, Changes: Changes{
		Nickname: ptr("After"), Username: ptr("robert"), Phone: ptr(""), Gender: ptr("MALE"),
		Email: ptr("Taken@example.com"),
	}})
	wantConflict(t, err, "email")
	if after := f.profile(t, "u2"); !reflect.DeepEqual(after, before) {
		t.Errorf("a refused edit changed the profile:\n%+v\n%+v", before, after)
	}
	if f.owner(t, fieldUsername, "robert") != "" || f.owner(t, fieldUsername, "bob") != "u2" || f.owner(t, fieldPhone, "+8613000000001") != "u2" {
		t.Error("a refused edit changed the index")
	}
	f.audit(t)
}

func TestEditRateLimit(t *testing.T) {
	f := newFixture(t)
	limit := Limit{Count: 3, Window: time.Minute}
	f.set(t, "u1", Changes{Username: ptr("alice")})
	f.set(t, "u2", Changes{Nickname: ptr("Bob")})
	edit := func(actor, target string, c Changes) error {
		_, err := f.Edit(ctxT(t), Edit{Actor: actor, Target: target, CreateIfMissing: actor == target, Changes: c, RateLimit: limit, SudoSatisfied: true})
		return err
	}
	if err := edit("u2", "u2", Changes{Nickname: ptr("B1")}); err != nil {
		t.Fatal(err)
	}
	// Refused edits count too.
	wantConflict(t, edit("u2", "u2", Changes{Username: ptr("alice")}), "username")
	wantErr(t, edit("u2", "ghost", Changes{Nickname: ptr("x")}), ErrUserNotFound)
	err := edit("u2", "u2", Changes{Nickname: ptr("B2")})
	wantRateLimited(t, err, 59*time.Second, time.Minute)
	if errors.Is(err, ErrUnavailable) {
		t.Error("rate limited is not unavailable")
	}
	if p := f.profile(t, "u2"); p.Nickname != "B1" {
		t.Errorf("a rate-limited edit wrote: %+v", p)
	}
	// The limit is per caller: an admin's edit of u2 counts against the admin.
	if err := edit("admin", "u2", Changes{Nickname: ptr("B3")}); err != nil {
		t.Fatal(err)
	}
	if err := edit("u1", "u1", Changes{Nickname: ptr("A")}); err != nil {
		t.Fatal(err)
	}
	// The window ends: the counter expires with it.
	if err := f.raw.PExpire(ctxT(t), f.keys.editRate("u2"), time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if err := edit("u2", "u2", Changes{Nickname: ptr("B4")}); err != nil {
		t.Fatal(err)
	}
	ttl, err := f.raw.PTTL(ctxT(t), f.keys.editRate("u2")).Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("new window's TTL = %v, %v", ttl, err)
	}
}

func TestEditRateLimitRepairsCounterWithoutExpiry(t *testing.T) {
	f := newFixture(t)
	if err := f.raw.Set(ctxT(t), f.keys.editRate("u1"), 5, 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := f.Edit(ctxT(t), Edit{Actor: "u1", Target: "u1", CreateIfMissing: true, RateLimit: Limit{Count: 3, Window: time.Minute}})
	wantRateLimited(t, err, time.Minute, time.Minute)
	if ttl, _ := f.raw.PTTL(ctxT(t), f.keys.editRate("u1")).Result(); ttl <= 0 {
		t.Fatalf("counter still without expiry: %v", ttl)
	}
}

func TestEditSudo(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Username: ptr("alice"), Phone: ptr("+86 13000000000")})
	edit := func(sudo bool, c Changes) error {
		_, err := f.Edit(ctxT(t), Edit{Actor: "u1", Target: "u1", Changes: c, SudoSatisfied: sudo, Sensitive: fieldSet(t, "phone", "email")})
		return err
	}
	wantErr(t, edit(false, Changes{Phone: ptr("+86 13000000001")}), ErrSudoRequired)
	wantErr(t, edit(false, Changes{Phone: ptr("")}), ErrSudoRequired)
	// All or nothing: the nickname did not change with the refused phone.
	wantErr(t, edit(false, Changes{Nickname: ptr("X"), Phone: ptr("")}), ErrSudoRequired)
	if p := f.profile(t, "u1"); p.Phone != "+86 13000000000" || p.Nickname != "" {
		t.Fatalf("refused edit wrote: %+v", p)
	}
	// Not sensitive: no sudo.
	if err := edit(false, Changes{Username: ptr("alice2")}); err != nil {
		t.Fatal(err)
	}
	// Not bound yet, but the other contact (the phone) is: sudo, through
	// the phone (TestEditFirstContactSudo has the cases).
	wantErr(t, edit(false, Changes{Email: ptr("a@example.com")}), ErrSudoRequired)
	if err := edit(true, Changes{Email: ptr("a@example.com")}); err != nil {
		t.Fatal(err)
	}
	// Setting the same value is not replacing it.
	if err := edit(false, Changes{Phone: ptr("+86 13000000000")}); err != nil {
		t.Fatal(err)
	}
	if err := edit(true, Changes{Phone: ptr("+86 13000000001"), Email: ptr("")}); err != nil {
		t.Fatal(err)
	}
	if p := f.profile(t, "u1"); p.Phone != "+86 13000000001" || p.Email != "" {
		t.Fatalf("profile = %+v", p)
	}
	// Any field can be sensitive.
	_, err := f.Edit(ctxT(t), Edit{Actor: "u1", Target: "u1", Changes: Changes{Username: ptr("alice3")}, Sensitive: fieldSet(t, "username")})
	wantErr(t, err, ErrSudoRequired)
	f.audit(t)
}

// TestEditFirstContactSudo: binding a first phone or email needs sudo
// exactly when the other contact is bound and sensitive; a user with no
// bound contact binds a first one without sudo.
func TestEditFirstContactSudo(t *testing.T) {
	f := newFixture(t)
	edit := func(user string, sudo bool, sensitive []string, c Changes) error {
		_, err := f.Edit(ctxT(t), Edit{Actor: user, Target: user, CreateIfMissing: true, Changes: c, SudoSatisfied: sudo, Sensitive: fieldSet(t, sensitive...)})
		return err
	}
	both := []string{"phone", "email"}
	// No contact bound: a first one, then (sudo now needed) the other.
	if err := edit("u1", false, both, Changes{Username: ptr("alice"), Phone: ptr("+86 13000000000")}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, edit("u1", false, both, Changes{Email: ptr("a@example.com")}), ErrSudoRequired)
	// Only the bound contact's sensitivity counts: the email itself is not
	// sensitive here, the phone is.
	wantErr(t, edit("u1", false, []string{"phone"}, Changes{Email: ptr("a@example.com")}), ErrSudoRequired)
	// A bound contact that is not sensitive protects nothing.
	if err := edit("u1", false, []string{"email"}, Changes{Email: ptr("a@example.com")}); err != nil {
		t.Fatal(err)
	}
	// The other way round: a user with an email binds a first phone.
	if err := edit("u2", false, both, Changes{Email: ptr("b@example.com")}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, edit("u2", false, both, Changes{Phone: ptr("+86 13000000002")}), ErrSudoRequired)
	if p := f.profile(t, "u2"); p.Phone != "" {
		t.Fatalf("refused edit wrote: %+v", p)
	}
	if err := edit("u2", true, both, Changes{Phone: ptr("+86 13000000002")}); err != nil {
		t.Fatal(err)
	}
	// Removing the only contact needs sudo; after it, a first contact
	// does not.
	if err := edit("u3", false, both, Changes{Phone: ptr("+86 13000000003")}); err != nil {
		t.Fatal(err)
	}
	if err := edit("u3", true, both, Changes{Phone: ptr("")}); err != nil {
		t.Fatal(err)
	}
	if err := edit("u3", false, both, Changes{Email: ptr("c@example.com")}); err != nil {
		t.Fatal(err)
	}
	f.audit(t)
}

// verified runs a verification of user's contact to the end and returns its
// token.
func (f *fixture) verified(t testing.TB, user, channel, key, display string) string {
	t.Helper()
	return f.verifiedAs(t, false, user, channel, key, display)
}

// curUserVerified is verified for a code sent with CUR_USER (Owner), the
// only kind that buys a sudo token.
func (f *fixture) curUserVerified(t testing.TB, user, channel, key, display string) string {
	t.Helper()
	return f.verifiedAs(t, true, user, channel, key, display)
}

func (f *fixture) verifiedAs(t testing.TB, owner bool, user, channel, key, display string) string {
	t.Helper()
	id := fmt.Sprintf("vid-%s-%s-%d", user, key, time.Now().UnixNano())
	v := NewVerification{ID: id, UserID: user, Channel: channel, Key: key, Display: display, Code: "123456", TTL: time.Minute, Owner: owner}
	// The send limits are not what these tests are about.
	last, daily := f.sendKeys(&v)
	f.raw.Del(ctxT(t), last, daily, f.keys.callerMinuteSends(user), f.keys.callerDailySends(user))
	if _, err := f.StartVerification(ctxT(t), v); err != nil {
		t.Fatal(err)
	}
	tok := "token-" + id
	if err := f.CheckCode(ctxT(t), "", id, "123456", tok, time.Minute); err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestEditVerification(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Email: ptr("old@example.com")})
	f.set(t, "u2", Changes{})
	edit := func(c Changes, token string) error {
		_, err := f.Edit(ctxT(t), Edit{
			Actor: "u1", Target: "u1", Changes: c, SudoSatisfied: true,
			VerifyChannels: contactSet(t, "phone", "email"), VerificationToken: token,
		})
		return err
	}
	newEmail := Changes{Nickname: ptr("N"), Email: ptr("New@example.com")}
	wantErr(t, edit(newEmail, ""), ErrVerificationRequired)
	wantErr(t, edit(newEmail, "no-such-token"), ErrInvalidVerificationToken)
	wantErr(t, edit(newEmail, f.verified(t, "u2", "email", "new@example.com", "new@example.com")), ErrInvalidVerificationToken)
	wantErr(t, edit(newEmail, f.verified(t, "u1", "email", "other@example.com", "other@example.com")), ErrInvalidVerificationToken)
	wantErr(t, edit(newEmail, f.verified(t, "u1", "phone", "new@example.com", "new@example.com")), ErrInvalidVerificationToken)
	if p := f.profile(t, "u1"); p.Email != "old@example.com" || p.Nickname != "" {
		t.Fatalf("refused edits wrote: %+v", p)
	}

	// A token for the folded key covers any case of it, and is spent.
	tok := f.verified(t, "u1", "email", "new@example.com", "new@example.com")
	if err := edit(newEmail, tok); err != nil {
		t.Fatal(err)
	}
	if p := f.profile(t, "u1"); p.Email != "New@example.com" || p.Nickname != "N" {
		t.Fatalf("profile = %+v", p)
	}
	if n, _ := f.raw.Exists(ctxT(t), f.keys.verificationToken(tok)).Result(); n != 0 {
		t.Error("the token was not spent")
	}
	f.set(t, "u1", Changes{Email: ptr("")})
	wantErr(t, edit(newEmail, tok), ErrInvalidVerificationToken)

	// Removing needs no verification; nor does a phone with only email covered.
	if err := edit(Changes{Email: ptr("")}, ""); err != nil {
		t.Fatal(err)
	}
	_, err := f.Edit(ctxT(t), Edit{Actor: "u1", Target: "u1", Changes: Changes{Phone: ptr("+86 13000000000")}, SudoSatisfied: true, VerifyChannels: contactSet(t, "email")})
	if err != nil {
		t.Fatal(err)
	}
	f.audit(t)
}

// TestEditRepeatedAfterItLanded: an edit answered 503 may have landed
// (docs/api.md, "When Redis is unreachable"), and the client sends it
// again with the same verification token, which the first run spent. The
// values are then already the user's: no conflict, no verification, so
// the repeat succeeds and changes nothing, as the docs tell clients.
func TestEditRepeatedAfterItLanded(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Email: ptr("old@example.com")})
	tok := f.verified(t, "u1", "email", "new@example.com", "new@example.com")
	edit := Edit{Actor: "u1", Target: "u1", SudoSatisfied: true, Sensitive: fieldSet(t, "email"),
		VerifyChannels: contactSet(t, "phone", "email"), VerificationToken: tok,
		Changes: Changes{Nickname: ptr("N"), Email: ptr("new@example.com")}}
	if _, err := f.Edit(ctxT(t), edit); err != nil {
		t.Fatal(err)
	}
	// Sudo may have expired meanwhile: the repeat needs none either.
	edit.SudoSatisfied = false
	res, err := f.Edit(ctxT(t), edit)
	if err != nil || len(res.Changed) != 0 {
		t.Fatalf("the repeated edit = %+v, %v; want success changing nothing", res, err)
	}
	if p := f.profile(t, "u1"); p.Email != "new@example.com" || p.Nickname != "N" {
		t.Fatalf("profile = %+v", p)
	}
	f.audit(t)
}

func TestEditTokenKeptWhenEditFails(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u2", Changes{Username: ptr("bob")})
	tok := f.verified(t, "u1", "email", "a@example.com", "a@example.com")
	e := Edit{
		Actor: "u1", Target: "u1", CreateIfMissing: true, SudoSatisfied: true,
		VerifyChannels: contactSet(t, "email"), VerificationToken: tok,
		Changes: Changes{Email: ptr("a@example.com"), Username: ptr("Bob")},
	}
	_, err := f.Edit(ctxT(t), e)
	wantConflict(t, err, "username")
	e.Changes.Username = ptr("carol")
	if _, err := f.Edit(ctxT(t), e); err != nil {
		t.Fatalf("the token did not survive the refused edit: %v", err)
	}
	// One token proves one contact.
	_, err = f.Edit(ctxT(t), Edit{
		Actor: "u3", Target: "u3", CreateIfMissing: true, SudoSatisfied: true,
		VerifyChannels: contactSet(t, "email", "phone"), VerificationToken: f.verified(t, "u3", "email", "c@example.com", "c@example.com"),
		Changes: Changes{Email: ptr("c@example.com"), Phone: ptr("+86 13000000009")},
	})
	wantErr(t, err, ErrInvalidVerificationToken)
}

func TestFieldSetsRefuseWhatTheyCannotHold(t *testing.T) {
	if _, err := NewFieldSet("phone", "password"); err == nil {
		t.Error("NewFieldSet took an unknown field")
	}
	if _, err := NewContactSet("email", "nickname"); err == nil {
		t.Error("NewContactSet took a field that is not a contact")
	}
	if s, err := NewContactSet("phone", "email"); err != nil || s.codes != "pe" {
		t.Errorf("NewContactSet(phone, email) = %+v, %v", s, err)
	}
}

func TestEditRejectsBadRequests(t *testing.T) {
	f := newFixture(t)
	// CreateIfMissing: otherwise the missing target alone (ErrUserNotFound)
	// would refuse every case, whether or not it is checked.
	for name, e := range map[string]Edit{
		"no target":           {Actor: "u1"},
		"limit without time":  {Actor: "u1", Target: "u1", RateLimit: Limit{Count: 1}},
		"limit without actor": {Target: "u1", RateLimit: Limit{Count: 1, Window: time.Minute}},
		"separator in value":  {Actor: "u1", Target: "u1", Changes: Changes{Description: ptr("a\x1fb")}},
		"remove nickname":     {Actor: "u1", Target: "u1", Changes: Changes{Nickname: ptr("")}},
		"remove username":     {Actor: "u1", Target: "u1", Changes: Changes{Username: ptr("")}},
	} {
		e.CreateIfMissing = true
		_, err := f.Edit(ctxT(t), e)
		if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUserNotFound) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	for _, user := range []string{"u1", ""} {
		if n, err := f.raw.Exists(ctxT(t), f.keys.profile(user)).Result(); n != 0 || err != nil {
			t.Errorf("a refused edit wrote the profile of %q (%v)", user, err)
		}
	}
}

// TestEditKeepsUnknownFields: values a newer version appended to a profile
// survive an edit by this one.
func TestEditKeepsUnknownFields(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Nickname: ptr("Old"), Description: ptr("about")})
	key := f.keys.profile("u1")
	stored, _ := f.raw.Get(ctxT(t), key).Result()
	// The stored values end at description; the empty values up to the end
	// of profileLayout come first, then the newer version's.
	pad := strings.Repeat(profileSeparator, len(profileLayout)-slices.Index(profileLayout[:], fieldDescription)-1)
	f.raw.Set(ctxT(t), key, stored+pad+profileSeparator+"future"+profileSeparator, 0)
	f.set(t, "u1", Changes{Nickname: ptr("New")})
	got, _ := f.raw.Get(ctxT(t), key).Result()
	if !strings.HasSuffix(got, "about"+pad+profileSeparator+"future"+profileSeparator) {
		t.Fatalf("stored %q", got)
	}
	if p := f.profile(t, "u1"); p.Nickname != "New" || p.Description != "about" {
		t.Fatalf("profile = %+v", p)
	}
}

// TestEditStale moves a unique value between Edit's read and its script:
// the script must refuse to write with the wrong buckets, and Edit must
// run again from the profile the refusal carries, and succeed.
func TestEditStale(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Username: ptr("first")})
	e := Edit{Actor: "u1", Target: "u1", SudoSatisfied: true, Changes: Changes{Username: ptr("third")}}
	call, err := f.editCall(e)
	if err != nil {
		t.Fatal(err)
	}
	read := f.profile(t, "u1")
	f.useCurrent(call, read.unique)
	f.set(t, "u1", Changes{Username: ptr("second")})
	v, err := f.runLine(ctxT(t), scriptEdit, &call.scriptLine, call.nkeys)
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseReply(v)
	if err != nil || r.status != "stale" {
		t.Fatalf("reply = %+v, %v; want stale", r, err)
	}
	// The reply carries the profile as it is, to run again from.
	stored, err := r.str(0)
	if now := splitProfile(stored); err != nil || now.of(fieldUsername) != "second" {
		t.Fatalf("stale reply's profile = %q, %v", stored, err)
	}
	f.audit(t)
	f.mustEdit(t, e)
	if f.profile(t, "u1").Username != "third" || f.owner(t, fieldUsername, "second") != "" {
		t.Fatal("retried edit did not release the value it found")
	}
	f.audit(t)
}

// An edit given the profile its caller read runs one script; without it,
// changing a value the user already has costs a stale answer and a second
// script, and nothing else: no separate read.
func TestEditScriptsPerEdit(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Username: ptr("first"), Email: ptr("a@example.com")})
	calls := func() (evalsha, get int64) {
		stats, err := f.raw.Info(ctxT(t), "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(stats, "\r\n") {
			for name, n := range map[string]*int64{"cmdstat_evalsha:calls=": &evalsha, "cmdstat_get:calls=": &get} {
				if v, ok := strings.CutPrefix(line, name); ok {
					*n, _ = strconv.ParseInt(v[:strings.IndexByte(v, ',')], 10, 64)
				}
			}
		}
		return evalsha, get
	}
	for _, tc := range []struct {
		name        string
		readFirst   bool
		wantScripts int64
		username    string
	}{
		{"from what the caller read", true, 1, "second"},
		{"guessing", false, 2, "third"},
	} {
		var current *Profile
		if tc.readFirst {
			p := f.profile(t, "u1")
			current = &p
		}
		e0, g0 := calls()
		f.mustEdit(t, Edit{Actor: "u1", Target: "u1", SudoSatisfied: true, Current: current,
			Changes: Changes{Username: ptr(tc.username), Email: ptr("b" + tc.username + "@example.com")}})
		e1, g1 := calls()
		// The GETs a script makes count as GET calls too: one per script.
		if e1-e0 != tc.wantScripts || g1-g0 != tc.wantScripts {
			t.Errorf("%s: %d scripts and %d GETs, want %d of each", tc.name, e1-e0, g1-g0, tc.wantScripts)
		}
		if p := f.profile(t, "u1"); p.Username != tc.username {
			t.Errorf("%s: username %q", tc.name, p.Username)
		}
		f.audit(t)
	}
}

// TestEditRaceSameUser: concurrent edits of one user's unique values each
// read, find the value moved, and read again; all succeed and the index
// ends up holding exactly the final values.
func TestEditRaceSameUser(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Username: ptr("start"), Email: ptr("start@example.com")})
	errs := make([]error, 30)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.Edit(ctxT(t), Edit{Actor: "u1", Target: "u1", SudoSatisfied: true,
				Changes: Changes{Username: ptr(fmt.Sprint("name", i)), Email: ptr(fmt.Sprintf("e%d@example.com", i))}})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("edit %d: %v", i, err)
		}
	}
	// How often the script ran says how many reads went stale.
	stats, _ := f.raw.Info(ctxT(t), "commandstats").Result()
	for _, line := range strings.Split(stats, "\r\n") {
		if strings.HasPrefix(line, "cmdstat_evalsha:") || strings.HasPrefix(line, "cmdstat_eval:") {
			t.Log(line)
		}
	}
	p := f.profile(t, "u1")
	if f.owner(t, fieldUsername, profile.FoldKey(p.Username)) != "u1" || f.owner(t, fieldEmail, p.Email) != "u1" {
		t.Errorf("final values %q, %q not indexed", p.Username, p.Email)
	}
	f.audit(t)
}

// TestEditRaceOneUsername: many users claim one username at once; exactly
// one gets it and nothing is left orphaned.
func TestEditRaceOneUsername(t *testing.T) {
	f := newFixture(t)
	const n = 200
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		winners   []string
		conflicts int
		others    []error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("racer%03d", i)
			<-start
			_, err := f.Edit(ctxT(t), Edit{Actor: user, Target: user, CreateIfMissing: true, SudoSatisfied: true,
				// Case variants of one name are one name.
				Changes: Changes{Username: ptr([]string{"TheOne", "theone", "THEONE"}[i%3]), Nickname: ptr(user)}})
			mu.Lock()
			defer mu.Unlock()
			var ce *ConflictError
			switch {
			case err == nil:
				winners = append(winners, user)
			case errors.As(err, &ce) && ce.Field == "username":
				conflicts++
			default:
				others = append(others, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(others) > 0 {
		t.Fatalf("unexpected errors: %v", others)
	}
	if len(winners) != 1 || conflicts != n-1 {
		t.Fatalf("winners %v, conflicts %d", winners, conflicts)
	}
	if got := f.owner(t, fieldUsername, "theone"); got != winners[0] {
		t.Fatalf("index says %q, winner %q", got, winners[0])
	}
	f.audit(t)
}

// TestEditRaceOneToken: two edits race with one verification token. Only
// one can spend it; the other either finds the email already bound (no
// verification needed) or is refused, and the token is gone.
func TestEditRaceOneToken(t *testing.T) {
	f := newFixture(t)
	for round := range 20 {
		f.set(t, "u1", Changes{Email: ptr("old@example.com")})
		tok := f.verified(t, "u1", "email", "new@example.com", "new@example.com")
		results := make([]EditResult, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = f.Edit(ctxT(t), Edit{Actor: "u1", Target: "u1", SudoSatisfied: true,
					VerifyChannels: contactSet(t, "email"), VerificationToken: tok,
					Changes: Changes{Email: ptr("new@example.com"), Nickname: ptr(fmt.Sprint("racer", i))}})
			}()
		}
		wg.Wait()
		spent := 0
		for i := range 2 {
			if errs[i] != nil {
				t.Fatalf("round %d: edit %d: %v", round, i, errs[i])
			}
			if slices.Contains(results[i].Changed, "email") {
				spent++
			}
		}
		if spent != 1 {
			t.Fatalf("round %d: %d edits bound the email with one token", round, spent)
		}
		if n, _ := f.raw.Exists(ctxT(t), f.keys.verificationToken(tok)).Result(); n != 0 {
			t.Fatalf("round %d: token left after the race", round)
		}
	}
	f.audit(t)
}

// TestProfileRejectsEmptyUserID: "" is no user. A value planted at the key
// "" would name makes the test fail if the read ever reaches Redis.
func TestProfileRejectsEmptyUserID(t *testing.T) {
	f := newFixture(t)
	if err := f.raw.Set(ctxT(t), f.keys.profile(""), "1\x1f1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := f.Profile(ctxT(t), ""); ok || err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("Profile(\"\") = %v, %v", ok, err)
	}
	if _, err := f.EnsureProfile(ctxT(t), ""); err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("EnsureProfile(\"\") = %v", err)
	}
}

// TestChangesInOrderFollowsProfileFields: inOrder is positional, so a
// field added or moved in profileFields must move in it too.
func TestChangesInOrderFollowsProfileFields(t *testing.T) {
	c := Changes{Nickname: ptr("nickname"), Username: ptr("username"), Phone: ptr("phone"), Email: ptr("email"),
		AvatarURL: ptr("avatar_url"), Gender: ptr("gender"), Description: ptr("description"),
		Birthdate: ptr("birthdate"), Zoneinfo: ptr("zoneinfo"), Locale: ptr("locale")}
	values := c.inOrder()
	for i, f := range profileFields {
		if values[i] == nil || *values[i] != f.name {
			t.Errorf("inOrder()[%d] is not %s", i, f.name)
		}
	}
}

// edit.lua refuses fields it was not built for, whatever the Go side
// sends: a code that is not editable (the created timestamp), a field twice
// (the second would release the first's index entry), or a field short of
// its arguments. It
// writes nothing then.
func TestEditScriptRefusesMalformedFields(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Nickname: ptr("Nick"), Username: ptr("alice")})
	before, err := f.raw.Get(ctxT(t), f.keys.profile("u1")).Result()
	if err != nil {
		t.Fatal(err)
	}
	unused := f.keys.unused()
	fixed := []any{"u1", f.now().UnixMilli(), "0", 0, 0, "1", "", "", "0", "", "0", ""}
	cases := map[string]struct {
		keys   []string
		fields []any
	}{
		"not editable": {[]string{f.keys.profile("u1"), unused, unused}, []any{"c", "0"}},
		"repeated": {[]string{f.keys.profile("u1"), unused, unused, unused, unused, unused, unused},
			[]any{"u", "bob", "bob", "alice", "alice", "u", "carol", "carol", "alice", "alice"}},
		"short":           {[]string{f.keys.profile("u1"), unused, unused}, []any{"n"}},
		"short unique":    {[]string{f.keys.profile("u1"), unused, unused, unused, unused}, []any{"u", "bob", "bob", "alice"}},
		"buckets missing": {[]string{f.keys.profile("u1"), unused, unused}, []any{"u", "bob", "bob", "alice", "alice"}},
	}
	for name, tc := range cases {
		if _, err := f.run(ctxT(t), scriptEdit, tc.keys, append(append([]any{}, fixed...), tc.fields...)...); err == nil {
			t.Errorf("%s: the script accepted it", name)
		}
	}
	after, err := f.raw.Get(ctxT(t), f.keys.profile("u1")).Result()
	if err != nil || after != before {
		t.Errorf("profile changed: %q -> %q (%v)", before, after, err)
	}
	for _, name := range []string{"bob", "carol"} {
		if taken, _ := f.raw.HExists(ctxT(t), f.keys.index(fieldUsername, name), name).Result(); taken {
			t.Errorf("an index entry for %s was written", name)
		}
	}
}

// TestEditOIDCFields: birthdate, zoneinfo and locale are written by the
// same script as the other fields, read back, and removed by "". With them
// empty, a profile is stored exactly as before they existed: trailing
// empty values are left out, so the memory per user does not move.
func TestEditOIDCFields(t *testing.T) {
	f := newFixture(t)
	res := f.set(t, "u1", Changes{Nickname: ptr("Zhang San"), Birthdate: ptr("1990-05-17"),
		Zoneinfo: ptr("Asia/Shanghai"), Locale: ptr("zh-Hans-CN")})
	if want := []string{"nickname", "birthdate", "zoneinfo", "locale"}; !reflect.DeepEqual(res.Changed, want) {
		t.Errorf("Changed = %v, want %v", res.Changed, want)
	}
	p := f.profile(t, "u1")
	if p.Birthdate != "1990-05-17" || p.Zoneinfo != "Asia/Shanghai" || p.Locale != "zh-Hans-CN" || p.Nickname != "Zhang San" {
		t.Fatalf("profile = %+v", p)
	}
	res = f.set(t, "u1", Changes{Zoneinfo: ptr("Europe/Paris")})
	if !reflect.DeepEqual(res.Changed, []string{"zoneinfo"}) {
		t.Errorf("Changed = %v", res.Changed)
	}
	if p := f.profile(t, "u1"); p.Zoneinfo != "Europe/Paris" || p.Birthdate != "1990-05-17" || p.Locale != "zh-Hans-CN" {
		t.Fatalf("a partial edit touched other fields: %+v", p)
	}
	f.set(t, "u1", Changes{Birthdate: ptr(""), Zoneinfo: ptr(""), Locale: ptr("")})
	stored, err := f.raw.Get(ctxT(t), f.keys.profile("u1")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if parts := strings.Split(stored, profileSeparator); len(parts) != slices.Index(profileLayout[:], fieldNickname)+1 {
		t.Fatalf("stored %q: the removed OIDC values left separators behind", stored)
	}
	f.audit(t)
}
