package store

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// testOrigin is a request's origin as the handler passes it.
func testOrigin(device string) *Origin {
	return &Origin{ClientID: testEnv, DeviceID: device, IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (test)"}
}

var eventsOn = EventStream{MaxLen: 1000}

// recorded is an edit of user's own profile, recorded, with events on.
func (f *fixture) recorded(t testing.TB, user, device string, c Changes) EditResult {
	t.Helper()
	return f.mustEdit(t, Edit{Actor: user, Target: user, CreateIfMissing: true, Changes: c, SudoSatisfied: true,
		Origin: testOrigin(device), Events: eventsOn})
}

// testEvent is a change event as a receiver reads it.
type testEvent struct {
	ID       string                        `json:"-"` // the entry's
	Type     string                        `json:"type"`
	UserID   string                        `json:"user_id"`
	Actor    string                        `json:"actor"`
	Changes  map[string]map[string]*string `json:"changes"`
	ClientID string                        `json:"client_id"`
	DeviceID *string                       `json:"device_id"`
	IP       string                        `json:"ip"`
	At       string                        `json:"at"`
}

// events reads the whole stream, checking each entry's shape.
func (f *fixture) events(t testing.TB) []testEvent {
	t.Helper()
	entries, err := f.raw.XRange(ctxT(t), f.keys.events(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]testEvent, 0, len(entries))
	for _, e := range entries {
		raw, ok := e.Values["event"].(string)
		if !ok || len(e.Values) != 1 {
			t.Fatalf("entry %s: %v, want one field event", e.ID, e.Values)
		}
		var ev testEvent
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("entry %s: %v in %s", e.ID, err, raw)
		}
		if strings.Contains(raw, `"id"`) {
			t.Fatalf("entry %s carries an id: %s", e.ID, raw)
		}
		ev.ID = e.ID
		out = append(out, ev)
	}
	return out
}

func (f *fixture) history(t testing.TB, user string) []HistoryEntry {
	t.Helper()
	h, more, err := f.History(ctxT(t), user, 0, 100)
	if err != nil || more {
		t.Fatalf("History(%s) = %v, more %v", user, err, more)
	}
	return h
}

func str(v *string) string {
	if v == nil {
		return "null"
	}
	return *v
}

// TestEditRecordsHistoryAndEvent: one edit, one history entry with field
// names only, one event with old and new values (null for unset).
func TestEditRecordsHistoryAndEvent(t *testing.T) {
	f := newFixture(t)
	f.recorded(t, "u1", "dev-1", Changes{Nickname: ptr("Alice"), Email: ptr("a@example.com")})
	f.clock.Advance(time.Second)
	f.recorded(t, "u1", "", Changes{Nickname: ptr("Alicia"), Email: ptr(""), AvatarURL: ptr("https://cdn.example.com/a.png"), Gender: ptr("")})

	evs := f.events(t)
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2", len(evs))
	}
	ev := evs[1]
	if ev.Type != "user.updated" || ev.UserID != "u1" || ev.Actor != "u1" || ev.ClientID != testEnv ||
		ev.DeviceID != nil || ev.IP != "203.0.113.7" {
		t.Errorf("event = %+v", ev)
	}
	if at, err := time.Parse(time.RFC3339, ev.At); err != nil || !at.Equal(f.clock.Now()) {
		t.Errorf("at = %q (%v), want %v", ev.At, err, f.clock.Now())
	}
	got := map[string]string{}
	for field, c := range ev.Changes {
		got[field] = str(c["old"]) + " -> " + str(c["new"])
	}
	want := map[string]string{
		"nickname":   "Alice -> Alicia",
		"email":      "a@example.com -> null",
		"avatar_url": "null -> https://cdn.example.com/a.png",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("changes = %v, want %v (gender was unset and stays so: not a change)", got, want)
	}
	if d := evs[0].DeviceID; d == nil || *d != "dev-1" {
		t.Errorf("first event's device_id = %v", d)
	}

	h := f.history(t, "u1")
	if len(h) != 2 {
		t.Fatalf("%d history entries, want 2", len(h))
	}
	e := h[0]
	if !slices.Equal(e.Fields, []string{"nickname", "email", "avatar_url"}) || e.ByAdmin || e.IP != "203.0.113.7" ||
		e.ClientID != testEnv || e.DeviceID != "" || e.UserAgent != "Mozilla/5.0 (test)" || !e.CreatedAt.Equal(f.clock.Now()) {
		t.Errorf("newest entry = %+v", e)
	}
	if !slices.Equal(h[1].Fields, []string{"nickname", "email"}) || h[1].DeviceID != "dev-1" || h[1].ID >= e.ID {
		t.Errorf("older entry = %+v", h[1])
	}
	raw, err := f.raw.Get(ctxT(t), f.keys.history("u1")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw, "Alic") || strings.Contains(raw, "example.com") {
		t.Errorf("history holds a value: %q", raw)
	}
	if ttl := f.raw.PTTL(ctxT(t), f.keys.history("u1")).Val(); ttl < historyTTL-time.Minute || ttl > historyTTL {
		t.Errorf("history TTL %v, want %v", ttl, historyTTL)
	}
	f.audit(t)
}

// TestEditRecordsOnlyChanges: an edit that changes nothing, and every
// refused edit, records nothing; a new spelling is a change.
func TestEditRecordsOnlyChanges(t *testing.T) {
	f := newFixture(t)
	f.recorded(t, "u1", "", Changes{Username: ptr("alice"), Phone: ptr("+86 13000000000")})
	f.recorded(t, "u2", "", Changes{Username: ptr("bob")})
	f.recorded(t, "u1", "", Changes{Username: ptr("alice"), Phone: ptr("+86 13000000000")})
	if n := len(f.events(t)); n != 2 {
		t.Fatalf("%d events after a no-op edit, want 2", n)
	}
	ctx := ctxT(t)
	refused := []Edit{
		// A conflict.
		{Actor: "u2", Target: "u2", Changes: Changes{Username: ptr("ALICE")}},
		// Sudo required.
		{Actor: "u1", Target: "u1", Changes: Changes{Phone: ptr("")}, Sensitive: contactSet(t, "phone")},
		// A missing target.
		{Actor: "admin", Target: "nobody", Changes: Changes{Nickname: ptr("Nobody")}},
	}
	for _, e := range refused {
		e.Origin, e.Events = testOrigin(""), eventsOn
		if _, err := f.Edit(ctx, e); err == nil {
			t.Fatalf("edit %+v succeeded", e)
		}
	}
	if n := len(f.events(t)); n != 2 {
		t.Fatalf("%d events after refused edits, want 2", n)
	}
	if n := len(f.history(t, "u1")) + len(f.history(t, "u2")); n != 2 {
		t.Fatalf("%d history entries, want 2", n)
	}
	// A new spelling of one's own username changes the stored value.
	f.recorded(t, "u1", "", Changes{Username: ptr("Alice")})
	evs := f.events(t)
	if len(evs) != 3 || str(evs[2].Changes["username"]["old"]) != "alice" || str(evs[2].Changes["username"]["new"]) != "Alice" {
		t.Fatalf("events = %+v", evs)
	}
	f.audit(t)
}

// TestAdminEditRecordsAdmin: an admin's edit of another user is in that
// user's history as from admin, with the admin as the event's actor.
func TestAdminEditRecordsAdmin(t *testing.T) {
	f := newFixture(t)
	f.recorded(t, "u1", "", Changes{Nickname: ptr("Alice")})
	f.mustEdit(t, Edit{Actor: "admin", Target: "u1", SudoSatisfied: true, Changes: Changes{Nickname: ptr("Alice B")},
		Origin: testOrigin(""), Events: eventsOn})
	if h := f.history(t, "u1"); len(h) != 2 || !h[0].ByAdmin || h[1].ByAdmin {
		t.Fatalf("history = %+v", h)
	}
	if n := f.raw.Exists(ctxT(t), f.keys.history("admin")).Val(); n != 0 {
		t.Fatal("the admin got a history entry for another user's change")
	}
	if evs := f.events(t); evs[1].Actor != "admin" || evs[1].UserID != "u1" {
		t.Fatalf("event = %+v", evs[1])
	}
}

// TestEventsOff: without Events the stream is never written; the history
// still is. Without an Origin nothing is recorded.
func TestEventsOff(t *testing.T) {
	f := newFixture(t)
	f.mustEdit(t, Edit{Actor: "u1", Target: "u1", CreateIfMissing: true, Changes: Changes{Nickname: ptr("Alice")}, Origin: testOrigin("")})
	f.set(t, "u2", Changes{Nickname: ptr("Bob")})
	ctx := ctxT(t)
	if n := f.raw.Exists(ctx, f.keys.events()).Val(); n != 0 {
		t.Fatal("events off, but the stream exists")
	}
	if len(f.history(t, "u1")) != 1 || len(f.history(t, "u2")) != 0 {
		t.Fatal("history: want one entry for the recorded edit, none for the other")
	}
	if _, err := f.Edit(ctx, Edit{Actor: "u1", Target: "u1", Changes: Changes{Nickname: ptr("A")}, Events: eventsOn}); err == nil {
		t.Fatal("events without an origin accepted")
	}
}

// TestHistoryKeepsAndPages: the last historyKeep changes, paged newest
// first; older than historyTTL they are gone.
func TestHistoryKeepsAndPages(t *testing.T) {
	f := newFixture(t)
	for i := range historyKeep + 10 {
		f.recorded(t, "u1", fmt.Sprint("d", i), Changes{Nickname: ptr(fmt.Sprint("Nick ", i))})
		if i%7 == 0 {
			f.clock.Advance(time.Millisecond) // some share a millisecond, some do not
		}
	}
	var all []HistoryEntry
	var before int64
	for pages := 0; ; pages++ {
		page, more, err := f.History(ctxT(t), "u1", before, 20)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if !more {
			if pages != 2 || len(page) != 10 {
				t.Fatalf("last page %d has %d entries", pages, len(page))
			}
			break
		}
		before = page[len(page)-1].ID
	}
	if len(all) != historyKeep {
		t.Fatalf("%d entries, want %d", len(all), historyKeep)
	}
	for i, e := range all {
		if want := fmt.Sprint("d", historyKeep+9-i); e.DeviceID != want {
			t.Fatalf("entry %d is %s, want %s", i, e.DeviceID, want)
		}
	}
	f.audit(t)
	f.clock.Advance(historyTTL + time.Second)
	if h := f.history(t, "u1"); len(h) != 0 {
		t.Fatalf("%d entries older than %v shown", len(h), historyTTL)
	}
}

// TestRecordWrongTypeWritesNothing: a record key of the wrong type fails
// the edit before anything is written.
func TestRecordWrongTypeWritesNothing(t *testing.T) {
	for _, which := range []string{"history", "stream"} {
		t.Run(which, func(t *testing.T) {
			f := newFixture(t)
			f.recorded(t, "u1", "", Changes{Nickname: ptr("Alice")})
			key := f.keys.history("u1")
			if which == "stream" {
				key = f.keys.events()
			}
			f.raw.Del(ctxT(t), key)
			if which == "stream" {
				f.raw.Set(ctxT(t), key, "not a stream", 0)
			} else {
				f.raw.LPush(ctxT(t), key, "not a history")
			}
			e := Edit{Actor: "u1", Target: "u1", Changes: Changes{Nickname: ptr("Bob"), Username: ptr("bob")}, Origin: testOrigin(""), Events: eventsOn}
			if _, err := f.Edit(ctxT(t), e); err == nil {
				t.Fatal("edit succeeded")
			}
			if p := f.profile(t, "u1"); p.Nickname != "Alice" || p.Username != "" {
				t.Fatalf("profile changed: %+v", p)
			}
			if f.owner(t, fieldUsername, "bob") != "" {
				t.Fatal("index entry written")
			}
			if which == "stream" {
				if h := f.history(t, "u1"); len(h) != 1 {
					t.Fatalf("the failed edit left a history entry: %+v", h)
				}
			} else if n := f.raw.LLen(ctxT(t), key).Val(); n != 1 {
				t.Fatalf("the history list holds %d", n)
			}
			if n := f.raw.XLen(ctxT(t), f.keys.events()).Val(); which == "history" && n != 1 {
				t.Fatalf("the failed edit left an event: %d", n)
			}
		})
	}
}

// TestConcurrentEditsHistoryInOrder: 200 concurrent edits of one user
// each leave exactly one history entry and one event, in the order the
// edits were applied (the events' chain of nickname values is that order;
// each edit's device ID tells its entries apart).
func TestConcurrentEditsHistoryInOrder(t *testing.T) {
	f := newFixture(t)
	f.recorded(t, "u1", "seed", Changes{Nickname: ptr("Start")})
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.Edit(ctxT(t), Edit{Actor: "u1", Target: "u1", SudoSatisfied: true,
				Changes: Changes{Nickname: ptr(fmt.Sprint("Nick ", i))},
				Origin:  testOrigin(fmt.Sprint("d", i)), Events: eventsOn})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	evs := f.events(t)[1:]
	if len(evs) != n {
		t.Fatalf("%d events, want %d", len(evs), n)
	}
	seen := map[string]bool{}
	prev := "Start"
	for _, ev := range evs {
		c := ev.Changes["nickname"]
		if len(ev.Changes) != 1 || str(c["old"]) != prev {
			t.Fatalf("event %s: %v, want old %q", ev.ID, ev.Changes, prev)
		}
		prev = str(c["new"])
		want := "d" + strings.TrimPrefix(prev, "Nick ")
		if str(ev.DeviceID) != want || seen[want] {
			t.Fatalf("event %s from %s (want %s, once)", ev.ID, str(ev.DeviceID), want)
		}
		seen[want] = true
	}
	h := f.history(t, "u1")
	if len(h) != historyKeep {
		t.Fatalf("%d history entries, want %d", len(h), historyKeep)
	}
	for i, e := range h {
		if want := str(evs[n-1-i].DeviceID); e.DeviceID != want || !slices.Equal(e.Fields, []string{"nickname"}) {
			t.Fatalf("history entry %d from %s (%v), want %s", i, e.DeviceID, e.Fields, want)
		}
	}
	if p := f.profile(t, "u1"); p.Nickname != prev {
		t.Fatalf("profile holds %q, the last event %q", p.Nickname, prev)
	}
	f.audit(t)
}

// TestConcurrentEditsEventsChain: 500 concurrent edits of ten users
// (nickname, username and gender in turn) make exactly 500 events, whose
// old values chain per user and field.
func TestConcurrentEditsEventsChain(t *testing.T) {
	f := newFixture(t)
	const users, perUser = 10, 50
	var wg sync.WaitGroup
	for i := range users * perUser {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprint("u", i%users)
			var c Changes
			switch i % 3 {
			case 0:
				c.Nickname = ptr(fmt.Sprint("Nick ", i))
			case 1:
				c.Username = ptr(fmt.Sprint("name", i))
			default:
				c.Gender = ptr([]string{"MALE", "FEMALE"}[i/3%2])
				c.Description = ptr(fmt.Sprint("edit ", i))
			}
			_, err := f.Edit(ctxT(t), Edit{Actor: user, Target: user, CreateIfMissing: true, SudoSatisfied: true,
				Changes: c, Origin: testOrigin(""), Events: eventsOn})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	evs := f.events(t)
	if len(evs) != users*perUser {
		t.Fatalf("%d events, want %d", len(evs), users*perUser)
	}
	last := map[string]string{}
	for _, ev := range evs {
		for field, c := range ev.Changes {
			k := ev.UserID + "/" + field
			if str(c["old"]) != last[k] && !(last[k] == "" && c["old"] == nil) {
				t.Fatalf("event %s: %s old %s, previous new %s", ev.ID, k, str(c["old"]), last[k])
			}
			last[k] = str(c["new"])
		}
	}
	f.audit(t)
}

// TestAuditChecksRecords: records that name changes that did not happen
// are reported.
func TestAuditChecksRecords(t *testing.T) {
	f := newFixture(t)
	f.recorded(t, "u1", "", Changes{Nickname: ptr("Alice")})
	f.recorded(t, "u1", "", Changes{Nickname: ptr("Alicia"), Gender: ptr("FEMALE")})
	f.audit(t)
	ctx := ctxT(t)
	// A history entry for a change that never happened, naming a field.
	stored := f.raw.Get(ctx, f.keys.history("u1")).Val()
	entries := strings.Split(stored, "\x1e")
	entries[len(entries)-1] = "1\x1fnd\x1fs\x1f\x1f\x1f\x1f"
	f.raw.Set(ctx, f.keys.history("u1"), strings.Join(entries, "\x1e"), time.Hour)
	// A history for a user who has no profile, and one that miscounts.
	f.raw.Set(ctx, f.keys.history("ghost"), "1\x1e1\x1fn\x1fs\x1f\x1f\x1f\x1f", 0)
	f.raw.Set(ctx, f.keys.history("u2"), "2\x1e1\x1fn\x1fs\x1f\x1f\x1f\x1f", 0)
	// An event whose old is not what the previous event left, and which
	// leaves another value than the profile holds.
	f.raw.XAdd(ctx, &redis.XAddArgs{Stream: f.keys.events(), Values: []string{"event",
		`{"type":"user.updated","user_id":"u1","changes":{"nickname":{"old":"Bob","new":"Carol"}}}`}})
	problems, err := f.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(problems, "\n")
	for _, want := range []string{
		"history of u1: entry 1700000000000 is not older",
		"history of u1: entry 1 names description,nickname, but the matching event changed nickname",
		"history of ghost: ghost has no profile",
		"history of ghost never expires",
		"history of u2: corrupt history: 1 entries, counted 2",
		"nickname was Bo***, but the previous event left Al***",
		"the last event of u1 left nickname Ca***, but the profile holds Al***",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("audit misses %q in:\n%s", want, all)
		}
	}
}

// FuzzDecodeHistoryEntry: a stored entry decodes without panicking, and
// what decodes has an ID in range, at least one known field, and a from.
func FuzzDecodeHistoryEntry(f *testing.F) {
	f.Add("1700000000000\x1fnu\x1fs\x1f203.0.113.7\x1fenv1\x1fdev\x1fMozilla/5.0")
	f.Add("1\x1fa\x1fa\x1f\x1f\x1f\x1f")
	f.Add("1\x1f\x1fs\x1f\x1f\x1f\x1f")
	f.Add("x")
	f.Fuzz(func(t *testing.T, raw string) {
		e, err := decodeHistoryEntry(raw)
		if err != nil {
			return
		}
		if e.ID <= 0 || e.ID > 1<<53 || len(e.Fields) == 0 || !e.CreatedAt.Equal(time.UnixMilli(e.ID)) {
			t.Fatalf("%q decoded as %+v", raw, e)
		}
		for _, name := range e.Fields {
			if _, ok := fieldCode(name); !ok {
				t.Fatalf("%q names %q", raw, name)
			}
		}
	})
}

// TestCleanUserAgent: control characters (the separator among them) are
// dropped, invalid UTF-8 replaced, and the cut never splits a character.
func TestCleanUserAgent(t *testing.T) {
	if got := cleanUserAgent("a\x1fb\nc\xffd"); got != "abc\uFFFDd" {
		t.Errorf("got %q", got)
	}
	long := strings.Repeat("é", 200)
	got := cleanUserAgent(long)
	if len(got) > maxUserAgentBytes || !utf8.ValidString(got) || len(got) < maxUserAgentBytes-1 {
		t.Errorf("cut to %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
	if _, err := (&Origin{IP: "a\x1fb"}).record(EventStream{}, time.Now(), "u", "u"); err == nil {
		t.Error("a separator in an origin value packed")
	}
}

// TestEditWrongTypeBucketWritesNothing: an index bucket of the wrong type
// among those an edit writes (the bucket of a value it releases, of one it
// respells, of a second unique field's) fails the edit before its event,
// its history entry or the first field's index entries are written: Redis
// does not undo a script's writes when a later command fails.
func TestEditWrongTypeBucketWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		changes Changes
		field   string // whose bucket is broken
		value   string // the value whose bucket it is
	}{
		{"released", Changes{Username: ptr("bobby")}, fieldUsername, "alice"},
		{"respelled", Changes{Username: ptr("ALICE")}, fieldUsername, "alice"},
		{"second field released", Changes{Username: ptr("bobby"), Phone: ptr("+86 13000000001")}, fieldPhone, "+86 13000000000"},
		{"second field claimed", Changes{Username: ptr("bobby"), Phone: ptr("+86 13000000001")}, fieldPhone, "+86 13000000001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.recorded(t, "u1", "", Changes{Nickname: ptr("Alice"), Username: ptr("alice"), Phone: ptr("+86 13000000000")})
			broken := f.keys.index(tc.field, uniqueKey(tc.field, tc.value))
			f.raw.Del(ctxT(t), broken)
			f.raw.Set(ctxT(t), broken, "not a hash", 0)
			events0 := f.raw.XLen(ctxT(t), f.keys.events()).Val()
			e := Edit{Actor: "u1", Target: "u1", Changes: tc.changes, SudoSatisfied: true, Origin: testOrigin(""), Events: eventsOn}
			if _, err := f.Edit(ctxT(t), e); err == nil {
				t.Fatal("edit succeeded")
			}
			if p := f.profile(t, "u1"); p.Username != "alice" || p.Phone != "+86 13000000000" {
				t.Fatalf("profile changed: %+v", p)
			}
			if n := f.raw.XLen(ctxT(t), f.keys.events()).Val(); n != events0 {
				t.Errorf("the failed edit left %d event(s)", n-events0)
			}
			if h := f.history(t, "u1"); len(h) != 1 {
				t.Errorf("the failed edit left a history entry: %d entries", len(h))
			}
			if tc.field != fieldUsername {
				if o := f.owner(t, fieldUsername, "alice"); o != "u1" {
					t.Errorf("alice's index entry names %q", o)
				}
				if o := f.owner(t, fieldUsername, "bobby"); o != "" {
					t.Errorf("bobby's index entry written: %q", o)
				}
			}
		})
	}
}

// TestRecordParts: what Go prepares for a script to record a change: the
// history entry's tail, and an event head that the script's changes and
// closing brace make the event of docs/events.md.
func TestRecordParts(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 4, 5, 678_000_000, time.FixedZone("x", 3600))
	o := &Origin{IP: "2001:db8::1", ClientID: "c", UserAgent: "Mozilla/5.0 \x01(x)"}
	r, err := o.record(EventStream{MaxLen: 7}, now, "admin", "u1")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join([]string{"a", "2001:db8::1", "c", "", "Mozilla/5.0 (x)"}, profileSeparator); r.historyTail != want {
		t.Errorf("history tail %q, want %q", r.historyTail, want)
	}
	if r.maxLen != "7" {
		t.Errorf("maxLen %q", r.maxLen)
	}
	var event map[string]any
	if err := json.Unmarshal([]byte(r.eventHead+`,"changes":{}}`), &event); err != nil {
		t.Fatalf("event head %q: %v", r.eventHead, err)
	}
	want := map[string]any{"type": "user.updated", "user_id": "u1", "actor": "admin", "client_id": "c",
		"device_id": nil, "ip": "2001:db8::1", "at": "2026-12-03T09:04:05.678Z", "changes": map[string]any{}}
	if !reflect.DeepEqual(event, want) {
		t.Errorf("event %v, want %v", event, want)
	}
	if r, err := (*Origin)(nil).record(EventStream{}, now, "u", "u"); err != nil || r.historyTail != "" || r.maxLen != "0" {
		t.Errorf("nil origin: %+v, %v", r, err)
	}
	if r, _ := o.record(EventStream{}, now, "u", "u"); r.maxLen != "0" || r.eventHead != "" {
		t.Errorf("events off: %+v", r)
	}
}
