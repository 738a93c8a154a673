package store

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The limits that protect people rather than contacts (docs/webhooks.md),
// against a real Redis.

// TestCallerSendLimits: one caller asks for at most 5 codes a minute and
// 30 a day over all contacts; other callers are not held back by it.
func TestCallerSendLimits(t *testing.T) {
	f := newFixture(t)
	start := func(user string, i int) error {
		_, err := f.StartVerification(ctxT(t), newVerification(fmt.Sprint(user, "-", i), user, "email", fmt.Sprintf("c%d@example.com", i)))
		return err
	}
	for i := range callerSendsPerMinute {
		if err := start("u1", i); err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
	}
	wantRateLimited(t, start("u1", 100), 59*time.Second, time.Minute)
	if n, _ := f.raw.Exists(ctxT(t), f.keys.verification("u1-100"), f.keys.lastSend("email", "c100@example.com")).Result(); n != 0 {
		t.Error("a send refused by the caller limit left its code or marker")
	}
	if err := start("u2", 100); err != nil {
		t.Fatalf("another caller: %v", err)
	}

	// Minute after minute, up to 30 in the day, then none until it ends.
	for i := callerSendsPerMinute; i < callerSendsPerDay; i++ {
		if i%callerSendsPerMinute == 0 {
			f.raw.Del(ctxT(t), f.keys.callerMinuteSends("u1"))
		}
		if err := start("u1", i); err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
	}
	f.raw.Del(ctxT(t), f.keys.callerMinuteSends("u1"))
	wantRateLimited(t, start("u1", 200), day-time.Minute, day)
	// CUR_USER sends count toward the caller's limits too.
	own := newVerification("own", "u1", "email", "c0@example.com")
	own.Owner = true
	_, err := f.StartVerification(ctxT(t), own)
	wantRateLimited(t, err, day-time.Minute, day)
}

// TestCallerLimitsSlide: the caller's limits hold over any minute and any
// day, not over windows that start with a first send: 5 sends at 59.9 s
// into a window and 5 more at 60.1 s were 10 in 0.2 s with fixed windows.
// A slot frees exactly when the send that held it is a minute (a day) old.
func TestCallerLimitsSlide(t *testing.T) {
	f := newFixture(t)
	n := 0
	start := func() error {
		n++
		_, err := f.StartVerification(ctxT(t), newVerification(fmt.Sprint("s", n), "u1", "email", fmt.Sprintf("c%d@example.com", n)))
		return err
	}
	// One send opens what was the fixed window; five more come at 59.9 s.
	if err := start(); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(59900 * time.Millisecond)
	for i := 1; i < callerSendsPerMinute; i++ {
		if err := start(); err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
	}
	wantRateLimited(t, start(), 99*time.Millisecond, 100*time.Millisecond)
	// At 60.1 s the first send is a minute old: one slot, not five.
	f.clock.Advance(200 * time.Millisecond)
	if err := start(); err != nil {
		t.Fatalf("the first send's slot: %v", err)
	}
	wantRateLimited(t, start(), 59700*time.Millisecond, 59800*time.Millisecond)
	// The exact boundary: a send frees its slot when it is 60 s old, not before.
	f.clock.Advance(59799 * time.Millisecond)
	wantRateLimited(t, start(), time.Millisecond, time.Millisecond)
	f.clock.Advance(time.Millisecond)
	for i := 0; i < callerSendsPerMinute-1; i++ {
		if err := start(); err != nil {
			t.Fatalf("send %d at 119.9 s: %v", i+1, err)
		}
	}
	// The one left is the send at 60.1 s.
	wantRateLimited(t, start(), 200*time.Millisecond, 200*time.Millisecond)

	// The day slides too: 30 sends 40 minutes apart; the 31st waits until
	// the oldest is a day old, and then only one more may go.
	f.raw.Del(ctxT(t), f.keys.callerMinuteSends("u1"), f.keys.callerDailySends("u1"))
	const gap = 40 * time.Minute
	for i := range callerSendsPerDay {
		if i > 0 {
			f.clock.Advance(gap)
		}
		if err := start(); err != nil {
			t.Fatalf("day send %d: %v", i+1, err)
		}
	}
	wait := day - (callerSendsPerDay-1)*gap
	wantRateLimited(t, start(), wait, wait)
	f.clock.Advance(wait - time.Millisecond)
	wantRateLimited(t, start(), time.Millisecond, time.Millisecond)
	f.clock.Advance(time.Millisecond)
	if err := start(); err != nil {
		t.Fatalf("a day after the oldest send: %v", err)
	}
	wantRateLimited(t, start(), gap, gap)
	if n, _ := f.raw.ZCard(ctxT(t), f.keys.callerDailySends("u1")).Result(); n > callerSendsPerDay {
		t.Errorf("the day window holds %d IDs, more than %d", n, callerSendsPerDay)
	}
}

// TestRefusedNotUserCountsForCaller: a NOT_USER request refused because
// the contact is someone else's tells the caller that it is registered, so
// it costs a slot of the caller's minute and day like a send; a caller out
// of slots is refused (rate limited) before that answer, and learns
// nothing.
func TestRefusedNotUserCountsForCaller(t *testing.T) {
	f := newFixture(t)
	f.set(t, "owner", Changes{Phone: ptr("+86 13000000000")})
	probe := func(i int) error {
		v := newVerification(fmt.Sprint("p", i), "prober", "phone", "+8613000000000")
		v.RefuseBound = true
		_, err := f.StartVerification(ctxT(t), v)
		return err
	}
	for i := range callerSendsPerMinute {
		wantConflict(t, probe(i), "phone")
	}
	if ids, _ := f.raw.ZRange(ctxT(t), f.keys.callerDailySends("prober"), 0, -1).Result(); len(ids) != callerSendsPerMinute {
		t.Errorf("day window holds %q after %d refused probes", ids, callerSendsPerMinute)
	}
	wantRateLimited(t, probe(99), time.Minute, time.Minute)
	// Free numbers cost the same: a send counts, and is refused too now.
	_, err := f.StartVerification(ctxT(t), newVerification("free", "prober", "phone", "+8613900000000"))
	wantRateLimited(t, err, time.Minute, time.Minute)
	// The day limit counts probes too.
	for i := callerSendsPerMinute; i < callerSendsPerDay; i++ {
		f.raw.Del(ctxT(t), f.keys.callerMinuteSends("prober"))
		wantConflict(t, probe(i), "phone")
	}
	f.raw.Del(ctxT(t), f.keys.callerMinuteSends("prober"))
	wantRateLimited(t, probe(100), day, day)
}

// TestStrangersCannotSpendOwnersBudget: strangers spend all ten sends of
// the day to a phone, and its owner's own CUR_USER send still goes out;
// the owner's sends leave the strangers' budget alone in turn.
func TestStrangersCannotSpendOwnersBudget(t *testing.T) {
	f := newFixture(t)
	const phone = "+8613000000000"
	f.set(t, "victim", Changes{Phone: ptr("+86 13000000000")})
	stranger := func(i int) error {
		v := newVerification(fmt.Sprint("s", i), fmt.Sprint("stranger", i%2), "phone", phone)
		f.raw.Del(ctxT(t), f.keys.callerMinuteSends(v.UserID))
		_, err := f.StartVerification(ctxT(t), v)
		return err
	}
	if err := stranger(0); err != nil {
		t.Fatal(err)
	}
	// The stranger's 60 s marker is not the owner's.
	owner := newVerification("o1", "victim", "phone", phone)
	owner.Owner = true
	if _, err := f.StartVerification(ctxT(t), owner); err != nil {
		t.Fatalf("owner's send right after a stranger's: %v", err)
	}
	for i := 1; i < sendsPerDay; i++ {
		f.raw.Del(ctxT(t), f.keys.lastSend("phone", phone))
		if err := stranger(i); err != nil {
			t.Fatalf("stranger send %d: %v", i+1, err)
		}
	}
	f.raw.Del(ctxT(t), f.keys.lastSend("phone", phone))
	wantRateLimited(t, stranger(99), day-time.Minute, day)

	f.raw.Del(ctxT(t), f.keys.ownerLastSend("phone", phone))
	owner.ID = "o2"
	if _, err := f.StartVerification(ctxT(t), owner); err != nil {
		t.Fatalf("owner's CUR_USER send after strangers spent theirs: %v", err)
	}
	if err := f.CheckCode(ctxT(t), testIP, "o2", owner.Code, "tok", time.Minute); err != nil {
		t.Fatal(err)
	}
	// The owner has a 60 s marker and a count of their own.
	owner.ID = "o3"
	_, err := f.StartVerification(ctxT(t), owner)
	wantRateLimited(t, err, 59*time.Second, time.Minute)
	if n, _ := f.raw.Get(ctxT(t), f.keys.ownerDailySends("phone", phone)).Int(); n != 2 {
		t.Errorf("owner's daily count = %d, want 2", n)
	}
	if n, _ := f.raw.Get(ctxT(t), f.keys.dailySends("phone", phone)).Int(); n != sendsPerDay {
		t.Errorf("strangers' daily count = %d, want %d", n, sendsPerDay)
	}
}

// TestAbandonVerificationKeepsCounts: an unknown outcome forgets the code
// but every count stays, the 60 s marker included; a definite failure
// un-counts the caller's sends as well as the contact's.
func TestAbandonVerificationKeepsCounts(t *testing.T) {
	f := newFixture(t)
	v := newVerification("a1", "u1", "email", "a@example.com")
	if _, err := f.StartVerification(ctxT(t), v); err != nil {
		t.Fatal(err)
	}
	if err := f.AbandonVerification(ctxT(t), v); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.CheckCode(ctxT(t), testIP, v.ID, v.Code, "tok", time.Minute), ErrInvalidCode)
	v.ID = "a2"
	_, err := f.StartVerification(ctxT(t), v)
	wantRateLimited(t, err, 59*time.Second, time.Minute)
	if n, _ := f.raw.Get(ctxT(t), f.keys.dailySends("email", v.Key)).Int(); n != 1 {
		t.Errorf("contact's daily count = %d after an abandoned send, want 1", n)
	}
	for _, k := range []string{f.keys.callerMinuteSends("u1"), f.keys.callerDailySends("u1")} {
		if n, _ := f.raw.ZCard(ctxT(t), k).Result(); n != 1 {
			t.Errorf("%s holds %d after an abandoned send, want 1", k, n)
		}
	}

	w := newVerification("c1", "u1", "email", "b@example.com")
	if _, err := f.StartVerification(ctxT(t), w); err != nil {
		t.Fatal(err)
	}
	if err := f.CancelVerification(ctxT(t), w); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{f.keys.callerMinuteSends("u1"), f.keys.callerDailySends("u1")} {
		if ids, _ := f.raw.ZRange(ctxT(t), k, 0, -1).Result(); len(ids) != 1 || ids[0] != "a1" {
			t.Errorf("%s holds %q after a cancelled send, want only the abandoned a1", k, ids)
		}
	}
	if n, _ := f.raw.Exists(ctxT(t), f.keys.dailySends("email", w.Key), f.keys.lastSend("email", w.Key)).Result(); n != 0 {
		t.Errorf("%d contact counters left after a cancelled only send", n)
	}
}

// TestCheckCodeIPLimit: 20 wrong codes of live verifications an hour from
// one IP; then that IP is refused for the rest of the hour even with the
// right code, while another IP is not. Unknown IDs, no code being right
// for them, do not count.
func TestCheckCodeIPLimit(t *testing.T) {
	f := newFixture(t)
	live := newVerification("live", "u1", "email", "a@example.com")
	if _, err := f.StartVerification(ctxT(t), live); err != nil {
		t.Fatal(err)
	}
	for i := range 2 * wrongCodesPerIP {
		wantErr(t, f.CheckCode(ctxT(t), testIP, fmt.Sprint("unknown-", i), "999999", "tok", time.Minute), ErrInvalidCode)
	}
	if n, _ := f.raw.Exists(ctxT(t), f.keys.wrongCodes(testIP)).Result(); n != 0 {
		t.Fatal("unknown verification IDs were counted against the IP")
	}
	var others []NewVerification
	for i := range wrongCodesPerIP {
		id := "live"
		if i%5 != 0 {
			// The other wrong codes against verifications of their own,
			// four each: short of killing them.
			if i%5 == 1 {
				v := newVerification(fmt.Sprint("other-", i), fmt.Sprint("u-", i), "email", fmt.Sprintf("o%d@example.com", i))
				if _, err := f.StartVerification(ctxT(t), v); err != nil {
					t.Fatal(err)
				}
				others = append(others, v)
			}
			id = others[len(others)-1].ID
		}
		wantErr(t, f.CheckCode(ctxT(t), testIP, id, "999999", "tok", time.Minute), ErrInvalidCode)
	}
	err := f.CheckCode(ctxT(t), testIP, "live", live.Code, "tok", time.Minute)
	wantRateLimited(t, err, wrongCodesWindow-time.Minute, wrongCodesWindow)
	if n, _ := f.raw.Exists(ctxT(t), f.keys.verification("live"), f.keys.verificationToken("tok")).Result(); n != 1 {
		t.Fatal("a refused right code spent the verification or made a token")
	}
	if err := f.CheckCode(ctxT(t), "198.51.100.7", "live", live.Code, "tok", time.Minute); err != nil {
		t.Fatalf("another IP: %v", err)
	}
	// No IP, no IP limit.
	for range wrongCodesPerIP + 1 {
		wantErr(t, f.CheckCode(ctxT(t), "", "unknown", "999999", "tok", time.Minute), ErrInvalidCode)
	}
	// The IP does not appear in key names.
	keys, err := f.raw.Keys(ctxT(t), "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("KEYS: %d keys, %v: the search below would prove nothing", len(keys), err)
	}
	for _, k := range keys {
		if strings.Contains(k, testIP) {
			t.Errorf("key %q names the IP", k)
		}
	}
}

// TestCurUserSendToContactNoLongerBound: a CUR_USER send is checked
// against the index in its script, not only against the profile the
// handler read before it: a contact the requester no longer holds (given
// up, or bound by someone else since) gets no code and counts nothing, so
// that a stale read never spends its new owner's own budget.
func TestCurUserSendToContactNoLongerBound(t *testing.T) {
	f := newFixture(t)
	const email = "a@example.com"
	f.set(t, "u2", Changes{Email: ptr(email)})
	for _, c := range []struct{ id, user, key string }{
		{"taken", "u1", email},             // bound, but to u2 now
		{"free", "u1", "free@example.com"}, // bound to nobody now
	} {
		v := newVerification(c.id, c.user, "email", c.key)
		v.Owner = true
		_, err := f.StartVerification(ctxT(t), v)
		wantErr(t, err, ErrNotBound)
		n, err := f.raw.Exists(ctxT(t), f.keys.verification(c.id), f.keys.ownerLastSend("email", c.key),
			f.keys.ownerDailySends("email", c.key), f.keys.callerMinuteSends(c.user), f.keys.callerDailySends(c.user)).Result()
		if err != nil || n != 0 {
			t.Errorf("%s: a refused CUR_USER send left %d keys (%v)", c.id, n, err)
		}
	}
	// The owner's own send goes out.
	v := newVerification("own", "u2", "email", email)
	v.Owner = true
	if isUser, err := f.StartVerification(ctxT(t), v); err != nil || !isUser {
		t.Fatalf("owner's CUR_USER send = %v, %v", isUser, err)
	}
}

// TestContactAnswersSpendIPLookups: every send but the owner's own tells
// whether the contact is registered (is_user, NOT_USER's conflict), so it
// spends the client IP's lookups, the budget LookupOwner spends, whatever
// account asks; past it the IP is refused before any such answer, with
// nothing counted. The caller's own limits still come first, and
// refusals and cancelled sends leave the IP's count alone.
func TestContactAnswersSpendIPLookups(t *testing.T) {
	f := newFixture(t)
	f.set(t, "owner", Changes{Phone: ptr("+86 13000000000")})
	const attacker, other = "203.0.113.9", "198.51.100.1"
	budget := Limit{Count: 4, Window: time.Hour}
	n := 0
	send := func(ip, user, key string, target string) (bool, error) {
		n++
		v := newVerification(fmt.Sprint("s", n), user, "phone", key)
		v.ClientIP, v.Lookups = ip, budget
		v.RefuseBound = target == "NOT_USER"
		v.Owner = target == "CUR_USER"
		return f.StartVerification(ctxT(t), v)
	}
	lookups := func(ip string) int {
		c, _ := f.raw.Get(ctxT(t), f.keys.lookups(ip)).Int()
		return c
	}
	const owned = "+8613000000000"

	// Four accounts, four answers: the lookup, a conflict and two sends.
	if _, _, err := f.LookupOwner(ctxT(t), attacker, "username", "someone", budget); err != nil {
		t.Fatal(err)
	}
	_, err := send(attacker, "a1", owned, "NOT_USER")
	wantConflict(t, err, "phone")
	if isUser, err := send(attacker, "a2", owned, "ANY"); err != nil || !isUser {
		t.Fatalf("ANY to a registered phone = %v, %v", isUser, err)
	}
	// A contact's own limit refuses without telling, and counts nothing.
	_, err = send(attacker, "a3", owned, "ANY")
	wantRateLimited(t, err, 59*time.Second, time.Minute)
	if _, err := send(attacker, "a3", "+8613900000001", "NOT_USER"); err != nil {
		t.Fatal(err)
	}
	if got := lookups(attacker); got != budget.Count {
		t.Fatalf("the IP's lookups = %d, want %d", got, budget.Count)
	}

	// A fifth account learns nothing; nothing of it is counted.
	_, err = send(attacker, "a4", owned, "NOT_USER")
	wantRateLimited(t, err, time.Hour-time.Second, time.Hour)
	_, err = send(attacker, "a4", "+8613900000002", "ANY")
	wantRateLimited(t, err, time.Hour-time.Second, time.Hour)
	if k, _ := f.raw.Exists(ctxT(t), f.keys.callerMinuteSends("a4"), f.keys.callerDailySends("a4"),
		f.keys.lastSend("phone", "+8613900000002"), f.keys.dailySends("phone", "+8613900000002")).Result(); k != 0 {
		t.Errorf("a send refused for the IP's lookups counted %d keys", k)
	}
	if got := lookups(attacker); got != budget.Count {
		t.Errorf("refusals counted: the IP's lookups = %d, want %d", got, budget.Count)
	}
	// The budget is the one LookupOwner spends.
	_, _, err = f.LookupOwner(ctxT(t), attacker, "username", "someone", budget)
	wantRateLimited(t, err, time.Hour-time.Second, time.Hour)

	// Another IP is not held back; nor is the owner's own CUR_USER send,
	// which tells nothing, from the spent IP.
	_, err = send(other, "a4", owned, "NOT_USER")
	wantConflict(t, err, "phone")
	if _, err := send(attacker, "owner", owned, "CUR_USER"); err != nil {
		t.Fatalf("CUR_USER from a spent IP: %v", err)
	}

	// A caller past their own limit gets their own 429 first (a minute,
	// not the IP's hour), and spends nothing of the IP's.
	for i := range callerSendsPerMinute {
		ip := fmt.Sprintf("192.0.2.%d", 10+i)
		if _, err := send(ip, "busy", fmt.Sprintf("+861390000010%d", i), "ANY"); err != nil {
			t.Fatal(err)
		}
	}
	_, err = send(attacker, "busy", owned, "NOT_USER")
	wantRateLimited(t, err, 59*time.Second, time.Minute)
	_, err = send(other, "busy", owned, "NOT_USER")
	wantRateLimited(t, err, 59*time.Second, time.Minute)
	if got := lookups(other); got != 1 {
		t.Errorf("a caller's own refusal spent the IP's lookups: %d, want 1", got)
	}

	// A cancelled send (its delivery certainly failed) is not counted
	// there either; an abandoned one (outcome unknown) is.
	v := newVerification("cancelled", "c1", "phone", "+8613900000003")
	v.ClientIP, v.Lookups = other, budget
	if _, err := f.StartVerification(ctxT(t), v); err != nil {
		t.Fatal(err)
	}
	if err := f.CancelVerification(ctxT(t), v); err != nil {
		t.Fatal(err)
	}
	if got := lookups(other); got != 1 {
		t.Errorf("after a cancelled send the IP's lookups = %d, want 1", got)
	}
	v.ID = "abandoned"
	if _, err := f.StartVerification(ctxT(t), v); err != nil {
		t.Fatal(err)
	}
	if err := f.AbandonVerification(ctxT(t), v); err != nil {
		t.Fatal(err)
	}
	if got := lookups(other); got != 2 {
		t.Errorf("after an abandoned send the IP's lookups = %d, want 2", got)
	}
}
