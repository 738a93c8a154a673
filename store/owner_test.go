package store

import (
	"testing"
	"time"
)

// TestEditEmailSpellings: the spellings of one address (domain in Unicode,
// in other case, as its A-label) are one value: another user's is a
// conflict, and the owner switching between them is a new display form,
// with no verification and no sudo.
func TestEditEmailSpellings(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Phone: ptr("+86 13000000000"), Email: ptr("a@bücher.example")})
	f.set(t, "u2", Changes{})
	key := "a@xn--bcher-kva.example"
	strict := func(user string, email string) error {
		_, err := f.Edit(ctxT(t), Edit{Actor: user, Target: user, Changes: Changes{Email: ptr(email)},
			Sensitive: fieldSet(t, "phone", "email"), VerifyChannels: contactSet(t, "phone", "email")})
		return err
	}
	for _, other := range []string{"a@BÜCHER.example", "a@xn--bcher-kva.example", "A@XN--BCHER-KVA.EXAMPLE"} {
		_, err := f.Edit(ctxT(t), Edit{Actor: "u2", Target: "u2", Changes: Changes{Email: ptr(other)}, SudoSatisfied: true})
		wantConflict(t, err, "email")
	}
	for _, mine := range []string{"a@BÜCHER.example", "A@xn--bcher-kva.example", "a@bücher.example"} {
		if err := strict("u1", mine); err != nil {
			t.Fatalf("u1 switching to %q: %v", mine, err)
		}
		if p := f.profile(t, "u1"); p.Email != mine {
			t.Fatalf("display form not kept: %q", p.Email)
		}
		if owner := f.owner(t, fieldEmail, key); owner != "u1" {
			t.Fatalf("owner = %q", owner)
		}
	}
	f.audit(t)
}

// TestIndexNamesOwner: each index entry holds its owner's user ID, moves
// with the value, and is released when the value is.
func TestIndexNamesOwner(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Username: ptr("Alice"), Phone: ptr("+86 13000000000"), Email: ptr("Alice@Example.com")})
	for field, key := range map[string]string{fieldUsername: "alice", fieldPhone: "+8613000000000", fieldEmail: "alice@example.com"} {
		if got, _ := f.raw.HGet(ctxT(t), f.keys.index(field, key), key).Result(); got != "u1" {
			t.Errorf("%s entry holds %q", field, got)
		}
	}
	f.set(t, "u1", Changes{Username: ptr("alice2"), Email: ptr("")})
	if owner := f.owner(t, fieldUsername, "alice"); owner != "" {
		t.Errorf("released username still names %q", owner)
	}
	if owner := f.owner(t, fieldUsername, "alice2"); owner != "u1" {
		t.Errorf("new username names %q", owner)
	}
	if owner := f.owner(t, fieldEmail, "alice@example.com"); owner != "" {
		t.Errorf("removed email still names %q", owner)
	}
	f.audit(t)
}

// TestEditKeepsOthersEntries: an edit never drops an index entry that
// names another user, even if it believes the value was its own (as after
// a corruption): the entry stays for a repair to decide.
func TestEditKeepsOthersEntries(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Username: ptr("alice")})
	f.raw.HSet(ctxT(t), f.keys.index(fieldUsername, "alice"), "alice", "u9")
	f.set(t, "u1", Changes{Username: ptr("alice2")})
	if got, _ := f.raw.HGet(ctxT(t), f.keys.index(fieldUsername, "alice"), "alice").Result(); got != "u9" {
		t.Fatalf("another user's entry was changed to %q", got)
	}
}

// TestNotUserByOwner: NOT_USER refuses a contact whose entry names another
// user, and lets its owner through in any spelling of the key.
func TestNotUserByOwner(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Email: ptr("a@BÜCHER.example")})
	start := func(id, user string) (bool, error) {
		return f.StartVerification(ctxT(t), NewVerification{ID: id, UserID: user, Channel: "email",
			Key: "a@xn--bcher-kva.example", Display: "a@bücher.example", Code: "123456", TTL: time.Minute, RefuseBound: true})
	}
	_, err := start("v1", "u2")
	wantConflict(t, err, "email")
	isUser, err := start("v2", "u1")
	if err != nil || !isUser {
		t.Fatalf("owner's NOT_USER: %v, %v", isUser, err)
	}
}

// TestIssueSudoAnySpelling: a code sent to the bound email's key passes
// sudo whatever spelling the profile shows (the key is Go's, with IDNA).
func TestIssueSudoAnySpelling(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Email: ptr("a@BÜCHER.example")})
	tok := f.curUserVerified(t, "u1", "email", "a@xn--bcher-kva.example", "a@BÜCHER.example")
	if err := f.IssueSudo(ctxT(t), "u1", tok, "sudo1", time.Minute, bothContacts); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.SudoValid(ctxT(t), "u1", "sudo1"); !ok || err != nil {
		t.Fatalf("SudoValid = %v, %v", ok, err)
	}
}

// TestOwner: one lookup names the holder of a value, in any spelling.
func TestOwner(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Username: ptr("Alice"), Phone: ptr("+86 13000000000"), Email: ptr("a@bücher.example")})
	for _, tc := range []struct{ field, value string }{
		{"username", "ALICE"}, {"phone", "+86 13000000000"}, {"email", "A@xn--bcher-kva.example"},
	} {
		owner, ok, err := f.Owner(ctxT(t), tc.field, tc.value)
		if err != nil || !ok || owner != "u1" {
			t.Errorf("Owner(%s, %q) = %q, %v, %v", tc.field, tc.value, owner, ok, err)
		}
	}
	if owner, ok, err := f.Owner(ctxT(t), "username", "bob"); err != nil || ok || owner != "" {
		t.Errorf("free username: %q, %v, %v", owner, ok, err)
	}
	if _, _, err := f.Owner(ctxT(t), "nickname", "x"); err == nil {
		t.Error("a field without an index was looked up")
	}
}
