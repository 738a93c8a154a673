package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// testIP is the client IP the tests verify codes from.
const testIP = "192.0.2.1"

func newVerification(id, user, channel, key string) NewVerification {
	return NewVerification{ID: id, UserID: user, Channel: channel, Key: key, Display: key, Code: "042042", Usage: "bind", TTL: 10 * time.Minute}
}

func TestStartVerificationStoresCodeHashed(t *testing.T) {
	f := newFixture(t)
	v := newVerification("vid1", "u1", "email", "a@example.com")
	v.Display = "A@example.com"
	isUser, err := f.StartVerification(ctxT(t), v)
	if err != nil || isUser {
		t.Fatalf("StartVerification = %v, %v", isUser, err)
	}
	got, err := f.raw.HGetAll(ctxT(t), f.keys.verification("vid1")).Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"h": codeDigest("vid1", "042042"), "u": "u1", "c": "email", "k": "a@example.com", "d": "A@example.com", "s": "bind", "t": "0", "o": "0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored %v\nwant %v", got, want)
	}
	for _, val := range got {
		if strings.Contains(val, "042042") {
			t.Error("the code is stored in the clear")
		}
	}
	if ttl, _ := f.raw.PTTL(ctxT(t), f.keys.verification("vid1")).Result(); ttl <= 9*time.Minute || ttl > 10*time.Minute {
		t.Errorf("TTL = %v", ttl)
	}
	// The contact does not appear in key names.
	keys, err := f.raw.Keys(ctxT(t), "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("KEYS: %d keys, %v: the search below would prove nothing", len(keys), err)
	}
	for _, k := range keys {
		if strings.Contains(k, "example") {
			t.Errorf("key %q names the contact", k)
		}
	}
}

func TestStartVerificationIsUser(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Email: ptr("A@example.com"), Phone: ptr("+86 13000000000")})
	for _, tc := range []struct {
		name string
		v    NewVerification
		want bool
	}{
		{"bound to another", newVerification("a", "u2", "email", "a@example.com"), true},
		{"bound to self, NOT_USER", func() NewVerification {
			v := newVerification("b", "u1", "phone", "+8613000000000")
			v.RefuseBound = true
			return v
		}(), true},
		{"free", newVerification("c", "u2", "email", "free@example.com"), false},
		{"free, NOT_USER", func() NewVerification {
			v := newVerification("d", "u2", "phone", "+8613000000001")
			v.RefuseBound = true
			return v
		}(), false},
	} {
		isUser, err := f.StartVerification(ctxT(t), tc.v)
		if err != nil || isUser != tc.want {
			t.Errorf("%s: = %v, %v; want %v", tc.name, isUser, err, tc.want)
		}
	}
}

func TestStartVerificationRefuseBound(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Email: ptr("a@example.com"), Phone: ptr("+86 13000000000")})
	for _, v := range []NewVerification{
		newVerification("x1", "u2", "email", "a@example.com"),
		newVerification("x2", "u2", "phone", "+8613000000000"),
	} {
		v.RefuseBound = true
		_, err := f.StartVerification(ctxT(t), v)
		wantConflict(t, err, v.Channel)
		// Nothing stored, nothing counted for the contact: it may be sent
		// to at once without NOT_USER. (The caller's limits count it:
		// TestRefusedNotUserCountsForCaller.)
		if n, _ := f.raw.Exists(ctxT(t), f.keys.verification(v.ID), f.keys.lastSend(v.Channel, v.Key), f.keys.dailySends(v.Channel, v.Key)).Result(); n != 0 {
			t.Errorf("%s: a refused send left %d keys", v.Channel, n)
		}
		v.RefuseBound = false
		v.ID += "-again"
		if _, err := f.StartVerification(ctxT(t), v); err != nil {
			t.Errorf("%s: %v", v.Channel, err)
		}
	}
}

func TestStartVerificationSendLimits(t *testing.T) {
	f := newFixture(t)
	// Each send is asked by a user of its own: the per-caller limits are
	// TestCallerSendLimits' concern, these are the contact's.
	start := func(id, key string) error {
		_, err := f.StartVerification(ctxT(t), newVerification(id, "u-"+id, "email", key))
		return err
	}
	if err := start("s0", "a@example.com"); err != nil {
		t.Fatal(err)
	}
	err := start("s1", "a@example.com")
	wantRateLimited(t, err, 59*time.Second, 60*time.Second)
	if errors.Is(err, ErrUnavailable) {
		t.Error("rate limited is not unavailable")
	}
	// Per contact, and per channel.
	if err := start("s2", "b@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.StartVerification(ctxT(t), newVerification("s3", "u1", "phone", "a@example.com")); err != nil {
		t.Fatal(err)
	}

	// Ten a day: let each 60 s pass by expiring its marker.
	for i := 1; i < sendsPerDay; i++ {
		f.raw.Del(ctxT(t), f.keys.lastSend("email", "a@example.com"))
		if err := start(fmt.Sprint("d", i), "a@example.com"); err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
	}
	f.raw.Del(ctxT(t), f.keys.lastSend("email", "a@example.com"))
	wantRateLimited(t, start("d-over", "a@example.com"), day-time.Minute, day)
	if n, _ := f.raw.Exists(ctxT(t), f.keys.verification("d-over")).Result(); n != 0 {
		t.Error("a refused send stored its code")
	}
	// The day ends.
	f.raw.PExpire(ctxT(t), f.keys.dailySends("email", "a@example.com"), time.Millisecond)
	time.Sleep(10 * time.Millisecond)
	if err := start("next-day", "a@example.com"); err != nil {
		t.Fatal(err)
	}
}

// A full daily counter found without an expiry (a restore, a stray SET)
// would silence the contact for good: the refusal gives it a day again.
func TestStartVerificationRepairsDailyCounterWithoutExpiry(t *testing.T) {
	f := newFixture(t)
	if err := f.raw.Set(ctxT(t), f.keys.dailySends("email", "a@example.com"), sendsPerDay, 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := f.StartVerification(ctxT(t), newVerification("r1", "u1", "email", "a@example.com"))
	wantRateLimited(t, err, day-time.Minute, day)
	if ttl, _ := f.raw.PTTL(ctxT(t), f.keys.dailySends("email", "a@example.com")).Result(); ttl <= 0 {
		t.Fatalf("daily counter still without expiry: %v", ttl)
	}
}

func TestStartVerificationRejects(t *testing.T) {
	f := newFixture(t)
	// No send marker is planted: one would refuse these cases as rate
	// limited whether or not they are checked.
	for name, v := range map[string]NewVerification{
		"no id":       newVerification("", "u1", "email", "a@example.com"),
		"no user":     newVerification("i", "", "email", "a@example.com"),
		"no key":      newVerification("i", "u1", "email", ""),
		"bad channel": newVerification("i", "u1", "fax", "a@example.com"),
		"no ttl": func() NewVerification {
			v := newVerification("i", "u1", "email", "a@example.com")
			v.TTL = 0
			return v
		}(),
	} {
		_, err := f.StartVerification(ctxT(t), v)
		var limited *RateLimitedError
		if err == nil || errors.Is(err, ErrUnavailable) || errors.As(err, &limited) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	// An ID in use is refused rather than overwritten.
	if _, err := f.StartVerification(ctxT(t), newVerification("dup", "u1", "email", "b@example.com")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.StartVerification(ctxT(t), newVerification("dup", "u2", "email", "c@example.com")); err == nil {
		t.Fatal("a taken verification ID was reused")
	}
	if u, _ := f.raw.HGet(ctxT(t), f.keys.verification("dup"), "u").Result(); u != "u1" {
		t.Fatalf("verification overwritten by %q", u)
	}
}

func TestCancelVerification(t *testing.T) {
	f := newFixture(t)
	v := newVerification("c1", "u1", "email", "a@example.com")
	if _, err := f.StartVerification(ctxT(t), newVerification("c0", "u1", "email", "a@example.com")); err != nil {
		t.Fatal(err)
	}
	f.raw.Del(ctxT(t), f.keys.lastSend("email", "a@example.com"))
	if _, err := f.StartVerification(ctxT(t), v); err != nil {
		t.Fatal(err)
	}
	if err := f.CancelVerification(ctxT(t), v); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.CheckCode(ctxT(t), testIP, v.ID, v.Code, "tok", time.Minute), ErrInvalidCode)
	if n, _ := f.raw.Get(ctxT(t), f.keys.dailySends("email", "a@example.com")).Int(); n != 1 {
		t.Errorf("daily count after cancel = %d, want 1", n)
	}
	// Cancelling again un-counts nothing more.
	if err := f.CancelVerification(ctxT(t), v); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.raw.Get(ctxT(t), f.keys.dailySends("email", "a@example.com")).Int(); n != 1 {
		t.Errorf("daily count after a second cancel = %d, want 1", n)
	}
	// The send did not count toward the 60 s: sending again is fine.
	v.ID = "c2"
	if _, err := f.StartVerification(ctxT(t), v); err != nil {
		t.Fatalf("send after a cancelled one: %v", err)
	}
	// Cancelling the only send leaves no counter at all.
	w := newVerification("c3", "u1", "phone", "+8613000000000")
	if _, err := f.StartVerification(ctxT(t), w); err != nil {
		t.Fatal(err)
	}
	if err := f.CancelVerification(ctxT(t), w); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.raw.Exists(ctxT(t), f.keys.verification("c3"), f.keys.lastSend("phone", w.Key), f.keys.dailySends("phone", w.Key)).Result(); n != 0 {
		t.Errorf("%d keys left after cancelling the only send", n)
	}
	// Someone else's verification is not cancelled by a mismatched request.
	x := newVerification("c4", "u1", "phone", "+8613000000001")
	if _, err := f.StartVerification(ctxT(t), x); err != nil {
		t.Fatal(err)
	}
	y := x
	y.UserID = "u2"
	if err := f.CancelVerification(ctxT(t), y); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.raw.Exists(ctxT(t), f.keys.verification("c4")).Result(); n != 1 {
		t.Error("a mismatched cancel deleted the verification")
	}
}

func TestCheckCode(t *testing.T) {
	f := newFixture(t)
	v := newVerification("k1", "u1", "email", "a@example.com")
	if _, err := f.StartVerification(ctxT(t), v); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.CheckCode(ctxT(t), testIP, "unknown", v.Code, "tok", time.Minute), ErrInvalidCode)
	wantErr(t, f.CheckCode(ctxT(t), testIP, "k1", "", "tok", time.Minute), ErrInvalidCode)
	for range maxWrongCodes - 1 {
		wantErr(t, f.CheckCode(ctxT(t), testIP, "k1", "000000", "tok", time.Minute), ErrInvalidCode)
	}
	if err := f.CheckCode(ctxT(t), testIP, "k1", v.Code, "tok", 5*time.Minute); err != nil {
		t.Fatalf("right code after %d wrong ones: %v", maxWrongCodes-1, err)
	}
	got, _ := f.raw.HGetAll(ctxT(t), f.keys.verificationToken("tok")).Result()
	if fmt.Sprint(got) != fmt.Sprint(map[string]string{"u": "u1", "c": "email", "k": "a@example.com", "o": "0"}) {
		t.Errorf("token = %v", got)
	}
	if ttl, _ := f.raw.PTTL(ctxT(t), f.keys.verificationToken("tok")).Result(); ttl <= 4*time.Minute || ttl > 5*time.Minute {
		t.Errorf("token TTL = %v", ttl)
	}
	keys, err := f.raw.Keys(ctxT(t), "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("KEYS: %d keys, %v: the search below would prove nothing", len(keys), err)
	}
	for _, k := range keys {
		if strings.HasSuffix(k, ":tok") {
			t.Errorf("key %q holds the token in the clear", k)
		}
	}
	// Used up.
	wantErr(t, f.CheckCode(ctxT(t), testIP, "k1", v.Code, "tok2", time.Minute), ErrInvalidCode)
}

func TestCheckCodeKilledByWrongCodes(t *testing.T) {
	f := newFixture(t)
	v := newVerification("k1", "u1", "email", "a@example.com")
	if _, err := f.StartVerification(ctxT(t), v); err != nil {
		t.Fatal(err)
	}
	for i := range maxWrongCodes {
		wantErr(t, f.CheckCode(ctxT(t), testIP, "k1", fmt.Sprintf("%06d", i), "tok", time.Minute), ErrInvalidCode)
	}
	if n, _ := f.raw.Exists(ctxT(t), f.keys.verification("k1")).Result(); n != 0 {
		t.Error("killed verification still stored")
	}
	wantErr(t, f.CheckCode(ctxT(t), testIP, "k1", v.Code, "tok", time.Minute), ErrInvalidCode)
	if n, _ := f.raw.Exists(ctxT(t), f.keys.verificationToken("tok")).Result(); n != 0 {
		t.Error("a killed verification issued a token")
	}
}

// TestCheckCodeRace: one code, checked twice at once, yields one token.
func TestCheckCodeRace(t *testing.T) {
	f := newFixture(t)
	v := newVerification("k1", "u1", "email", "a@example.com")
	if _, err := f.StartVerification(ctxT(t), v); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.CheckCode(ctxT(t), testIP, "k1", v.Code, fmt.Sprint("tok", i), time.Minute)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, ErrInvalidCode) {
			t.Fatal(err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d checks of one code succeeded", ok)
	}
}

func TestIssueSudo(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Email: ptr("A@example.com"), Phone: ptr("+86 13000000000")})
	f.set(t, "u2", Changes{Email: ptr("b@example.com")})

	// A token for a contact the user does not have bound, or another
	// user's, is refused and left as it was.
	// (Such a token is one from a CUR_USER code for a contact given up
	// since: StartVerification sends none to a contact not bound now.)
	notBound := "token-not-bound"
	f.raw.HSet(ctxT(t), f.keys.verificationToken(notBound), "u", "u1", "c", "email", "k", "other@example.com", "o", "1")
	wantErr(t, f.IssueSudo(ctxT(t), "u1", notBound, "sudo0", time.Minute, bothContacts), ErrInvalidVerificationToken)
	othersToken := f.curUserVerified(t, "u2", "email", "b@example.com", "b@example.com")
	wantErr(t, f.IssueSudo(ctxT(t), "u1", othersToken, "sudo0", time.Minute, bothContacts), ErrInvalidVerificationToken)
	wantErr(t, f.IssueSudo(ctxT(t), "u1", "unknown", "sudo0", time.Minute, bothContacts), ErrInvalidVerificationToken)
	if n, _ := f.raw.Exists(ctxT(t), f.keys.verificationToken(notBound), f.keys.verificationToken(othersToken)).Result(); n != 2 {
		t.Error("a refused sudo spent the token")
	}
	if ok, _ := f.SudoValid(ctxT(t), "u1", "sudo0"); ok {
		t.Fatal("refused sudo stored a sudo token")
	}

	for _, tc := range []struct{ channel, key string }{{"email", "a@example.com"}, {"phone", "+8613000000000"}} {
		tok := f.curUserVerified(t, "u1", tc.channel, tc.key, tc.key)
		sudo := "sudo-" + tc.channel
		if err := f.IssueSudo(ctxT(t), "u1", tok, sudo, 15*time.Minute, bothContacts); err != nil {
			t.Fatalf("%s: %v", tc.channel, err)
		}
		if ok, err := f.SudoValid(ctxT(t), "u1", sudo); !ok || err != nil {
			t.Fatalf("%s: SudoValid = %v, %v", tc.channel, ok, err)
		}
		if ok, _ := f.SudoValid(ctxT(t), "u2", sudo); ok {
			t.Fatal("a sudo token is valid for another user")
		}
		if ttl, _ := f.raw.PTTL(ctxT(t), f.keys.sudoToken(sudo)).Result(); ttl <= 14*time.Minute || ttl > 15*time.Minute {
			t.Errorf("sudo TTL = %v", ttl)
		}
		// Used up.
		wantErr(t, f.IssueSudo(ctxT(t), "u1", tok, "sudo-again", time.Minute, bothContacts), ErrInvalidVerificationToken)
	}
	for _, bad := range []string{"", "unknown"} {
		if ok, err := f.SudoValid(ctxT(t), "u1", bad); ok || err != nil {
			t.Errorf("SudoValid(%q) = %v, %v", bad, ok, err)
		}
	}

	// A token for a contact the user has since given up is refused.
	tok := f.curUserVerified(t, "u1", "email", "a@example.com", "a@example.com")
	f.set(t, "u1", Changes{Email: ptr("c@example.com")})
	wantErr(t, f.IssueSudo(ctxT(t), "u1", tok, "sudo-late", time.Minute, bothContacts), ErrInvalidVerificationToken)
}

// bothContacts is the default `sudo sensitive`: phone and email.
var bothContacts = FieldSet{"pe"}

// TestIssueSudoOnlySensitiveChannel: a token for a bound contact of a
// field that is not sensitive buys no sudo (that contact changes with
// verification alone, so a stolen access token can make it the thief's)
// and is left as it was; one for the sensitive field still does.
func TestIssueSudoOnlySensitiveChannel(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Email: ptr("a@example.com"), Phone: ptr("+86 13000000000")})
	phoneOnly := FieldSet{"p"}
	email := f.curUserVerified(t, "u1", "email", "a@example.com", "a@example.com")
	wantErr(t, f.IssueSudo(ctxT(t), "u1", email, "sudo-e", time.Minute, phoneOnly), ErrInvalidVerificationToken)
	wantErr(t, f.IssueSudo(ctxT(t), "u1", email, "sudo-e", time.Minute, FieldSet{}), ErrInvalidVerificationToken)
	if n, _ := f.raw.Exists(ctxT(t), f.keys.verificationToken(email)).Result(); n != 1 {
		t.Error("a refused sudo spent the token")
	}
	phone := f.curUserVerified(t, "u1", "phone", "+8613000000000", "+8613000000000")
	if err := f.IssueSudo(ctxT(t), "u1", phone, "sudo-p", time.Minute, phoneOnly); err != nil {
		t.Fatal(err)
	}
}

// TestIssueSudoOnlyCurUserCodes: a token for the user's own bound contact
// from a code sent with ANY or NOT_USER (not Owner), or one stored before
// tokens recorded their kind, buys no sudo and is left as it was; one from a
// CUR_USER code does.
func TestIssueSudoOnlyCurUserCodes(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Phone: ptr("+86 13000000000")})
	stranger := f.verified(t, "u1", "phone", "+8613000000000", "+86 13000000000")
	wantErr(t, f.IssueSudo(ctxT(t), "u1", stranger, "sudo-any", time.Minute, bothContacts), ErrInvalidVerificationToken)
	old := "token-before-kinds"
	f.raw.HSet(ctxT(t), f.keys.verificationToken(old), "u", "u1", "c", "phone", "k", "+8613000000000")
	wantErr(t, f.IssueSudo(ctxT(t), "u1", old, "sudo-old", time.Minute, bothContacts), ErrInvalidVerificationToken)
	if n, _ := f.raw.Exists(ctxT(t), f.keys.verificationToken(stranger), f.keys.verificationToken(old)).Result(); n != 2 {
		t.Error("a refused sudo spent the token")
	}
	if kind, _ := f.raw.HGet(ctxT(t), f.keys.verificationToken(stranger), "o").Result(); kind != "0" {
		t.Errorf("a non-CUR_USER token records its kind as %q", kind)
	}
	cur := f.curUserVerified(t, "u1", "phone", "+8613000000000", "+86 13000000000")
	if err := f.IssueSudo(ctxT(t), "u1", cur, "sudo-cur", time.Minute, bothContacts); err != nil {
		t.Fatal(err)
	}
}

// TestIssueSudoRace: one verification token, spent by concurrent sudo
// requests, yields exactly one sudo token.
func TestIssueSudoRace(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Email: ptr("a@example.com")})
	tok := f.curUserVerified(t, "u1", "email", "a@example.com", "a@example.com")
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.IssueSudo(ctxT(t), "u1", tok, fmt.Sprint("sudo", i), time.Minute, bothContacts)
		}()
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		valid, _ := f.SudoValid(ctxT(t), "u1", fmt.Sprint("sudo", i))
		switch {
		case err == nil && valid:
			ok++
		case errors.Is(err, ErrInvalidVerificationToken) && !valid:
		default:
			t.Fatalf("request %d: %v (sudo valid %v)", i, err, valid)
		}
	}
	if ok != 1 {
		t.Fatalf("%d sudo tokens from one verification token", ok)
	}
}

// TestCheckCodeComparesWholeDigest: a candidate digest equal but for its
// last byte, or a prefix of the stored one, is wrong.
func TestCheckCodeComparesWholeDigest(t *testing.T) {
	f := newFixture(t)
	// k1 is kept unkeyed ('h', compared with ARGV[1]), k2 sealed under a
	// code key ('hk', compared with ARGV[6]).
	for _, c := range []struct {
		id, user, email string
		sealed          bool
		args            func(candidate string) []any
	}{
		{"k1", "u1", "a@example.com", false, func(candidate string) []any { return []any{candidate, 60000, 100, 0, 1, ""} }},
		{"k2", "u2", "b@example.com", true, func(candidate string) []any { return []any{"x", 60000, 100, 0, 1, candidate} }},
	} {
		v := newVerification(c.id, c.user, "email", c.email)
		v.Sealed = c.sealed
		if _, err := f.StartVerification(ctxT(t), v); err != nil {
			t.Fatal(err)
		}
		right := codeDigest(c.id, v.Code)
		last := "0"
		if right[len(right)-1] == '0' {
			last = "1"
		}
		keys := []string{f.keys.verification(c.id), f.keys.verificationToken("tok-" + c.id), f.keys.unused()}
		for _, candidate := range []string{right[:len(right)-1] + last, right[:len(right)-1], right[:1], "", right + "0"} {
			res, err := f.run(ctxT(t), scriptCheckCode, keys, c.args(candidate)...)
			if err != nil {
				t.Fatal(err)
			}
			want := "invalid"
			if !c.sealed && candidate == "" {
				want = "unkeyed" // the caller holds a code key: the script asks for the unkeyed digest
			}
			if r, _ := parseReply(res); r.status != want {
				t.Errorf("%s: candidate %q: %v, want %s", c.id, candidate, res, want)
			}
		}
		res, err := f.run(ctxT(t), scriptCheckCode, keys, c.args(right)...)
		if r, _ := parseReply(res); err != nil || r.status != "ok" {
			t.Fatalf("%s: right digest: %v, %v", c.id, res, err)
		}
	}
}

// argsRecorder keeps the arguments of every command the store sends.
type argsRecorder struct {
	mu   sync.Mutex
	args []string
}

func (h *argsRecorder) record(cmd redis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range cmd.Args() {
		h.args = append(h.args, fmt.Sprint(a))
	}
}

func (h *argsRecorder) saw(s string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.args, s)
}

// With a code key, the unkeyed digest of a code (which a million guesses
// turn back into the code) never reaches Redis, where MONITOR would show
// it, but for a verification an earlier version kept unkeyed, which asks
// for it; both verify.
func TestCheckSealedCodeSendsTheUnkeyedDigestOnlyWhenAsked(t *testing.T) {
	rec := &argsRecorder{}
	f := newFixture(t, func(o *Options) { o.Hooks = append(o.Hooks, redistest.CommandHook(rec.record)) })
	const sealedOf = "sealed-" // stands in for the handler's HMAC
	v := newVerification("k1", "u1", "email", "a@example.com")
	v.Code, v.Sealed = sealedOf+"042042", true
	if _, err := f.StartVerification(ctxT(t), v); err != nil {
		t.Fatal(err)
	}
	if err := f.CheckSealedCode(ctxT(t), testIP, "k1", "042042", sealedOf+"042042", "tok1", time.Minute); err != nil {
		t.Fatalf("the right code, sealed: %v", err)
	}
	if rec.saw(codeDigest("k1", "042042")) {
		t.Error("the unkeyed digest of a sealed verification's code was sent to Redis")
	}

	// An earlier version's verification, unkeyed: asked for, and right.
	old := newVerification("k2", "u2", "email", "b@example.com")
	old.Code = "123456"
	if _, err := f.StartVerification(ctxT(t), old); err != nil {
		t.Fatal(err)
	}
	if err := f.CheckSealedCode(ctxT(t), testIP, "k2", "123456", sealedOf+"123456", "tok2", time.Minute); err != nil {
		t.Fatalf("the right code of an unkeyed verification, checked with a key: %v", err)
	}
	if !rec.saw(codeDigest("k2", "123456")) {
		t.Error("the unkeyed verification was not checked with its unkeyed digest")
	}
}
