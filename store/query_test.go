package store

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// seedQuery gives u1 a username, a phone and an email with an IDNA domain,
// and u2 a profile with only a nickname.
func seedQuery(t *testing.T, f *fixture) {
	t.Helper()
	f.set(t, "u1", Changes{Nickname: ptr("Zhang San"), Username: ptr("ZhangSan"), Phone: ptr("+86 13000000000"),
		Email: ptr("Zhang@Bücher.example"), Gender: ptr("MALE"), Birthdate: ptr("1990-05-17")})
	f.set(t, "u2", Changes{Nickname: ptr("Li Si")})
}

// TestProfileByValue: every spelling the index treats as one value finds
// the same owner (username case, email local-part case and IDNA domain,
// phone formatting once the handler has normalised it), and nothing else
// does.
func TestProfileByValue(t *testing.T) {
	f := newFixture(t)
	seedQuery(t, f)
	for _, tc := range []struct{ field, value string }{
		{"username", "ZhangSan"}, {"username", "zhangsan"}, {"username", "ZHANGSAN"},
		{"email", "Zhang@Bücher.example"}, {"email", "zhang@BÜCHER.example"}, {"email", "ZHANG@xn--bcher-kva.example"},
		{"phone", "+86 13000000000"},
	} {
		p, ok, err := f.ProfileByValue(ctxT(t), tc.field, tc.value)
		if err != nil || !ok || p.UserID != "u1" || p.Nickname != "Zhang San" || p.Birthdate != "1990-05-17" {
			t.Errorf("ProfileByValue(%s, %q) = %+v, %v, %v", tc.field, tc.value, p, ok, err)
		}
	}
	for _, tc := range []struct{ field, value string }{
		{"username", "ZhangSi"}, {"email", "zhang@bucher.example"}, {"phone", "+86 13000000001"}, {"username", ""},
	} {
		if p, ok, err := f.ProfileByValue(ctxT(t), tc.field, tc.value); err != nil || ok {
			t.Errorf("ProfileByValue(%s, %q) = %+v, %v, %v, want no match", tc.field, tc.value, p, ok, err)
		}
	}
	if _, _, err := f.ProfileByValue(ctxT(t), "nickname", "Li Si"); err == nil {
		t.Error("a field without an index was queried")
	}
}

// TestProfilesByID: one MGET, in the order asked, missing users left out,
// duplicates read once, more than MaxQueryIDs refused.
func TestProfilesByID(t *testing.T) {
	f := newFixture(t)
	seedQuery(t, f)
	ps, err := f.ProfilesByID(ctxT(t), []string{"u2", "nobody", "u1", "u2"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.UserID)
	}
	if !reflect.DeepEqual(got, []string{"u2", "u1"}) {
		t.Errorf("ProfilesByID = %v, want [u2 u1]", got)
	}
	ids := make([]string, MaxQueryIDs+1)
	for i := range ids {
		ids[i] = "u" + strconv.Itoa(i)
	}
	if _, err := f.ProfilesByID(ctxT(t), ids); err == nil {
		t.Error("101 IDs accepted")
	}
	if ps, err := f.ProfilesByID(ctxT(t), ids[:MaxQueryIDs]); err != nil || len(ps) != 2 {
		t.Errorf("100 IDs = %d profiles, %v", len(ps), err)
	}
	if _, err := f.ProfilesByID(ctxT(t), []string{"u1", ""}); err == nil {
		t.Error("an empty ID accepted")
	}
}

// TestExists: matched as the index matches, counted per client IP, the
// limit reported with when to retry; another IP and no IP are not held
// back.
func TestExists(t *testing.T) {
	f := newFixture(t)
	seedQuery(t, f)
	limit := Limit{Count: 3, Window: time.Minute}
	for i, tc := range []struct {
		value string
		want  bool
	}{{"zhangsan", true}, {"ZHANGSAN", true}, {"nobody", false}} {
		held, err := f.Exists(ctxT(t), "192.0.2.1", "username", tc.value, limit)
		if err != nil || held != tc.want {
			t.Errorf("lookup %d (%q) = %v, %v, want %v", i, tc.value, held, err, tc.want)
		}
	}
	_, err := f.Exists(ctxT(t), "192.0.2.1", "username", "zhangsan", limit)
	var limited *RateLimitedError
	if !errors.As(err, &limited) || limited.RetryAfter <= 0 || limited.RetryAfter > time.Minute {
		t.Fatalf("4th lookup = %v, want rate limited within a minute", err)
	}
	if held, err := f.Exists(ctxT(t), "192.0.2.2", "username", "zhangsan", limit); err != nil || !held {
		t.Errorf("another IP = %v, %v", held, err)
	}
	if held, err := f.Exists(ctxT(t), "", "username", "zhangsan", limit); err != nil || !held {
		t.Errorf("no IP = %v, %v", held, err)
	}
	if held, err := f.Exists(ctxT(t), "192.0.2.3", "email", "ZHANG@xn--bcher-kva.example", Limit{}); err != nil || !held {
		t.Errorf("email by its IDNA form = %v, %v", held, err)
	}
	// The counter key does not hold the address in clear.
	keys, _ := f.raw.Keys(ctxT(t), "*lk:*").Result()
	if len(keys) != 2 || strings.Contains(strings.Join(keys, " "), "192.0.2") {
		t.Errorf("lookup counters = %v", keys)
	}
}

// TestLookupOwner: the counted lookup names the holder (checkUsername
// tells the caller's own name from another's), "" and false for nobody or
// an empty value, and counts like Exists: the two share one budget.
func TestLookupOwner(t *testing.T) {
	f := newFixture(t)
	seedQuery(t, f)
	limit := Limit{Count: 3, Window: time.Minute}
	for _, tc := range []struct{ value, want string }{{"ZHANGSAN", "u1"}, {"nobody", ""}, {"", ""}} {
		owner, held, err := f.LookupOwner(ctxT(t), "192.0.2.1", "username", tc.value, limit)
		if err != nil || owner != tc.want || held != (tc.want != "") {
			t.Errorf("LookupOwner(%q) = %q, %v, %v, want %q", tc.value, owner, held, err, tc.want)
		}
	}
	var limited *RateLimitedError
	if _, err := f.Exists(ctxT(t), "192.0.2.1", "username", "zhangsan", limit); !errors.As(err, &limited) {
		t.Errorf("Exists after 3 counted lookups = %v, want rate limited", err)
	}
}

// TestQueryOneRoundTrip: a query by value is one EVALSHA whose script
// does the HGET and the GET; by IDs, one MGET. Redis's own command
// counters (INFO commandstats) show what reached it, script calls
// included.
func TestQueryOneRoundTrip(t *testing.T) {
	f := newFixture(t)
	seedQuery(t, f)
	// Load the script first: a cold cache costs an EVAL after the NOSCRIPT.
	if _, _, err := f.ProfileByValue(ctxT(t), "username", "zhangsan"); err != nil {
		t.Fatal(err)
	}
	before := commandCalls(t, f)
	if _, ok, err := f.ProfileByValue(ctxT(t), "email", "ZHANG@BÜCHER.example"); err != nil || !ok {
		t.Fatal(ok, err)
	}
	delta := callsSince(t, f, before)
	if want := map[string]int{"evalsha": 1, "hget": 1, "get": 1}; !reflect.DeepEqual(delta, want) {
		t.Errorf("query by email ran %v, want %v", delta, want)
	}
	before = commandCalls(t, f)
	if ps, err := f.ProfilesByID(ctxT(t), []string{"u1", "u2", "u3"}); err != nil || len(ps) != 2 {
		t.Fatal(ps, err)
	}
	if delta := callsSince(t, f, before); !reflect.DeepEqual(delta, map[string]int{"mget": 1}) {
		t.Errorf("query by IDs ran %v, want one mget", delta)
	}
}

// commandCalls is INFO commandstats: calls per command.
func commandCalls(t *testing.T, f *fixture) map[string]int {
	t.Helper()
	info, err := f.raw.Info(ctxT(t), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		calls[name], _ = strconv.Atoi(n)
	}
	return calls
}

// callsSince is what ran since before, less the INFO that asked.
func callsSince(t *testing.T, f *fixture, before map[string]int) map[string]int {
	t.Helper()
	after := commandCalls(t, f)
	delta := map[string]int{}
	for name, n := range after {
		if d := n - before[name]; d > 0 && name != "info" {
			delta[name] = d
		}
	}
	return delta
}
