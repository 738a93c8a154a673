package events

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// addMany appends seqs 1..perUser for each of users, interleaved, and
// returns the IDs.
func (f *fixture) addMany(t testing.TB, users, perUser int) []string {
	var ids []string
	for seq := 1; seq <= perUser; seq++ {
		for u := range users {
			ids = append(ids, f.add(t, fmt.Sprintf("user-%d", u), seq))
		}
	}
	return ids
}

func TestDelivers(t *testing.T) {
	f := newFixture(t)
	r := newReceiver(t, nil)
	f.worker(t, r.srv.URL, nil)
	ids := f.addMany(t, 10, 10)
	r.waitFor(len(ids), 10*time.Second)
	r.checkOrder(ids)
	// The last events are acknowledged just after the receiver has them.
	var pending, fields int64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		p, _ := f.client.XPending(t.Context(), f.keys.Stream, Group).Result()
		fields, _ = f.client.HLen(t.Context(), f.keys.InFlight).Result()
		if pending = p.Count; (pending == 0 && fields == 0) || time.Now().After(deadline) {
			break
		}
	}
	if pending != 0 {
		t.Errorf("%d events still pending", pending)
	}
	if fields != 0 {
		t.Errorf("the in-flight hash keeps %d fields", fields)
	}
}

// A receiver down for a while: every event arrives once it is back, in
// order per user, and nothing is dead-lettered.
func TestReceiverDownThenUp(t *testing.T) {
	f := newFixture(t)
	var up atomic.Bool
	var refused atomic.Int64
	r := newReceiver(t, func() bool {
		if up.Load() {
			return false
		}
		refused.Add(1)
		return true
	})
	var delivered atomic.Int64
	f.worker(t, r.srv.URL, func(o *Options) {
		o.OnOutcome = func(out Outcome) {
			if out == Delivered {
				delivered.Add(1)
			}
		}
	})
	ids := f.addMany(t, 20, 10)
	// Down until the worker has been refused a few times, retries
	// included: a fixed wait would pass with a worker that never tried.
	for deadline := time.Now().Add(10 * time.Second); refused.Load() < 40; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d attempts refused in 10 s while the receiver was down, want 40", refused.Load())
		}
	}
	// The receiver records nothing it refuses: the worker's own account
	// is what can tell a 503 taken for a delivery (and acknowledged).
	if n := delivered.Load(); n != 0 {
		t.Fatalf("%d events counted delivered while the receiver answered 503", n)
	}
	up.Store(true)
	r.waitFor(len(ids), 20*time.Second)
	r.checkOrder(ids)
	if n, _ := DeadLetters(t.Context(), f.client, f.keys); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}

// With a short retry_for the events land in the dead-letter list; then
// Redeliver sends them again, with their first webhook-id.
func TestDeadLetterThenRedeliver(t *testing.T) {
	f := newFixture(t)
	var up atomic.Bool
	r := newReceiver(t, func() bool { return !up.Load() })
	var outcomes sync.Map
	count := func(o Outcome) int64 {
		n, _ := outcomes.LoadOrStore(o, new(atomic.Int64))
		return n.(*atomic.Int64).Load()
	}
	f.worker(t, r.srv.URL, func(o *Options) {
		o.RetryFor = 200 * time.Millisecond
		o.OnOutcome = func(out Outcome) {
			n, _ := outcomes.LoadOrStore(out, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		}
	})
	ids := f.addMany(t, 3, 4)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := DeadLetters(t.Context(), f.client, f.keys)
		if err != nil {
			t.Fatal(err)
		}
		if n == int64(len(ids)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters, want %d", n, len(ids))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p, _ := f.client.XPending(t.Context(), f.keys.Stream, Group).Result(); p.Count != 0 {
		t.Errorf("%d dead-lettered events still pending", p.Count)
	}
	if count(DeadLettered) != int64(len(ids)) || count(Retried) == 0 || count(Delivered) != 0 {
		t.Errorf("outcomes: %d dead-lettered, %d retried, %d delivered", count(DeadLettered), count(Retried), count(Delivered))
	}
	up.Store(true)
	n, err := Redeliver(t.Context(), f.client, f.keys, 1000)
	if err != nil || n != len(ids) {
		t.Fatalf("Redeliver: %d, %v", n, err)
	}
	r.waitFor(len(ids), 10*time.Second)
	r.checkOrder(ids) // the same webhook-ids: the stream's first IDs
	if count(Delivered) != int64(len(ids)) {
		t.Errorf("%d delivered outcomes, want %d", count(Delivered), len(ids))
	}
	if n, _ := DeadLetters(t.Context(), f.client, f.keys); n != 0 {
		t.Errorf("%d dead letters left", n)
	}
}

// TestDeadLettersAreBounded: a receiver that never comes back (gone, or
// refusing the secret) dead-letters every event; the stream is trimmed to
// stream_max_len, and the dead-letter list must be too, or it grows by
// every change made until Redis runs out of memory. The newest stay.
func TestDeadLettersAreBounded(t *testing.T) {
	f := newFixture(t)
	r := newReceiver(t, func() bool { return true })
	var dead atomic.Int64
	f.worker(t, r.srv.URL, func(o *Options) {
		o.RetryFor = 50 * time.Millisecond
		o.DeadMax = 4
		o.OnOutcome = func(out Outcome) {
			if out == DeadLettered {
				dead.Add(1)
			}
		}
	})
	// One user's events are dead-lettered one after the other, in
	// stream order.
	ids := f.addMany(t, 1, 10)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		p, err := f.client.XPending(t.Context(), f.keys.Stream, Group).Result()
		if err != nil {
			t.Fatal(err)
		}
		if dead.Load() == int64(len(ids)) && p.Count == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events dead-lettered, %d pending", dead.Load(), len(ids), p.Count)
		}
	}
	got := f.deadIDs(t)
	if want := ids[len(ids)-4:]; !slices.Equal(got, want) {
		t.Errorf("dead letters %v, want the newest four %v", got, want)
	}
}

// TestRefusedTrimParksNothing: a Redis user not granted LTRIM (an ACL
// kept from before dead letters were bounded) must leave the event
// pending, as any refused dead letter does, and park nothing: with the
// trim after the RPUSH, each retry parked the event once more, a list
// growing by one copy a second.
func TestRefusedTrimParksNothing(t *testing.T) {
	srv := redistest.Start(t)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr, Protocol: 2})
	t.Cleanup(func() { admin.Close() })
	if err := admin.Do(t.Context(), "ACL", "SETUSER", "w", "on", ">pw", "~*", "&*", "+@all", "-ltrim").Err(); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Protocol: 2, Username: "w", Password: "pw"})
	t.Cleanup(func() { c.Close() })
	f := &fixture{client: c, keys: NewKeys("authedge", "env-1")}
	r := newReceiver(t, func() bool { return true })
	var dead atomic.Int64
	f.worker(t, r.srv.URL, func(o *Options) {
		o.RetryFor = 50 * time.Millisecond
		o.OnOutcome = func(out Outcome) {
			if out == DeadLettered {
				dead.Add(1)
			}
		}
	})
	f.add(t, "u", 1)
	for deadline := time.Now().Add(5 * time.Second); dead.Load() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the event was not dead-lettered")
		}
	}
	time.Sleep(2500 * time.Millisecond) // two retries of the refused dead letter
	if n, err := admin.LLen(t.Context(), f.keys.Dead).Result(); err != nil || n != 0 {
		t.Errorf("%d dead letters (%v), want none: the refused script must write nothing", n, err)
	}
	if p, err := admin.XPending(t.Context(), f.keys.Stream, Group).Result(); err != nil || p.Count != 1 {
		t.Errorf("pending %+v (%v), want the event still pending", p, err)
	}
}

// deadIDs are the IDs of the dead letters.
func (f *fixture) deadIDs(t testing.TB) []string {
	t.Helper()
	list, err := f.client.LRange(t.Context(), f.keys.Dead, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range list {
		var ev struct{ ID string }
		if err := json.Unmarshal([]byte(d), &ev); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

// waitDeadLetters waits until n events are dead-lettered.
func (f *fixture) waitDeadLetters(t testing.TB, n int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, err := DeadLetters(t.Context(), f.client, f.keys)
		if err == nil && got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters (%v), want %d", got, err, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTrimmedHeldEventIsDeadLettered: an event trimmed from the stream
// while its holder retries is dropped from the pending list by the
// keep-alive's XCLAIM (Redis 7); when retry_for runs out it is still
// dead-lettered, not lost.
func TestTrimmedHeldEventIsDeadLettered(t *testing.T) {
	f := newFixture(t)
	down := newReceiver(t, func() bool { return true })
	w := f.worker(t, down.srv.URL, func(o *Options) {
		o.RetryFor = 1500 * time.Millisecond
		o.ClaimIdle = 300 * time.Millisecond
	})
	f.add(t, "u", 1)
	for w.heldCount() < 1 {
		time.Sleep(10 * time.Millisecond)
	}
	if n, err := f.client.XTrimMaxLen(t.Context(), f.keys.Stream, 0).Result(); err != nil || n != 1 {
		t.Fatalf("XTRIM: %d trimmed, %v; want the held event trimmed", n, err)
	}
	f.waitDeadLetters(t, 1, 5*time.Second)
}

// TestFailedDeadLetterStaysPending: a dead letter Redis refuses (a
// dead-letter key of the wrong type) leaves the event pending, and it is
// parked once Redis takes it: the RPUSH comes before the XACK.
func TestFailedDeadLetterStaysPending(t *testing.T) {
	f := newFixture(t)
	if err := f.client.Set(t.Context(), f.keys.Dead, "not a list", 0).Err(); err != nil {
		t.Fatal(err)
	}
	down := newReceiver(t, func() bool { return true })
	core, logs := observer.New(zap.WarnLevel)
	f.worker(t, down.srv.URL, func(o *Options) {
		o.RetryFor = 200 * time.Millisecond
		o.Logger = zap.New(core)
	})
	f.add(t, "u", 1)
	// retry_for is over and the dead letter was refused: a fixed wait
	// would pass with a worker that had not tried it yet.
	for deadline := time.Now().Add(10 * time.Second); logs.FilterMessageSnippet("cannot acknowledge").Len() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the worker never tried to park the event in 10 s")
		}
	}
	if p, _ := f.client.XPending(t.Context(), f.keys.Stream, Group).Result(); p.Count != 1 {
		t.Fatalf("%d events pending after a refused dead letter, want 1", p.Count)
	}
	f.client.Del(t.Context(), f.keys.Dead)
	f.waitDeadLetters(t, 1, 5*time.Second)
}

// TestRedeliverKeepsWhatTheStreamRefuses: a dead letter that cannot be
// appended (a stream key of the wrong type) stays in the list.
func TestRedeliverKeepsWhatTheStreamRefuses(t *testing.T) {
	f := newFixture(t)
	f.client.RPush(t.Context(), f.keys.Dead, `{"id":"1-0","type":"user.updated","user_id":"u"}`)
	f.client.Set(t.Context(), f.keys.Stream, "not a stream", 0)
	if _, err := Redeliver(t.Context(), f.client, f.keys, 1000); err == nil {
		t.Fatal("Redeliver into a broken stream succeeded")
	}
	if n, _ := DeadLetters(t.Context(), f.client, f.keys); n != 1 {
		t.Fatalf("%d dead letters left, want 1", n)
	}
}

// Two workers (two instances) share the group: both deliver, every event
// is delivered, and per-user order holds across them.
func TestTwoWorkersShareTheGroup(t *testing.T) {
	f := newFixture(t)
	var calls atomic.Int64
	// Every seventh request fails: retries interleave with the other
	// instance's deliveries.
	r := newReceiver(t, func() bool { return calls.Add(1)%7 == 0 })
	// Each worker posts to its own path, so the receiver tells who
	// delivered what; holding at most 16 events, neither can take all 300.
	small := func(o *Options) { o.MaxHeld = 16 }
	a := f.worker(t, r.srv.URL+"/a", small)
	b := f.worker(t, r.srv.URL+"/b", small)
	if a.Consumer() == b.Consumer() {
		t.Fatal("two workers share a consumer name")
	}
	ids := f.addMany(t, 5, 60)
	r.waitFor(len(ids), 20*time.Second)
	r.checkOrder(ids)
	info, err := f.client.XInfoConsumers(t.Context(), f.keys.Stream, Group).Result()
	if err != nil || len(info) != 2 {
		t.Fatalf("consumers %v, %v", info, err)
	}
	by := map[string]int{}
	r.mu.Lock()
	for _, d := range r.got {
		by[d.path]++
	}
	r.mu.Unlock()
	if by["/a"] == 0 || by["/b"] == 0 {
		t.Fatalf("deliveries by worker %v: one worker did all the work", by)
	}
	t.Logf("deliveries by worker %v", by)
}

// A worker stopped mid-delivery (its receiver hangs) leaves its events
// pending; another takes them over after ClaimIdle and delivers all, in
// order per user.
func TestStoppedWorkerEventsAreClaimed(t *testing.T) {
	f := newFixture(t)
	r := newReceiver(t, nil)
	// The first worker's receiver never answers in time.
	blocked := make(chan struct{})
	stuck := newReceiver(t, func() bool { <-blocked; return true })
	t.Cleanup(func() { close(blocked) })
	a, err := New(Options{Client: f.client, Keys: f.keys, URL: stuck.srv.URL, Secret: testSecret,
		RetryFor: time.Hour, ClaimIdle: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	<-a.Ready()
	ids := f.addMany(t, 4, 5)
	deadline := time.Now().Add(5 * time.Second)
	for a.heldCount() < len(ids) {
		if time.Now().After(deadline) {
			t.Fatalf("the first worker holds %d events", a.heldCount())
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.Stop() // as if it died: nothing acknowledged
	f.worker(t, r.srv.URL, nil)
	r.waitFor(len(ids), 15*time.Second)
	r.checkOrder(ids)
}

// TestFullWorkerTakesOverDeadHeads: an instance holding MaxHeld events,
// all waiting behind their user's first event which a dead instance
// holds, still takes that first event over: MaxHeld bounds reading, not
// rescuing, or the user's delivery would stall for good.
func TestFullWorkerTakesOverDeadHeads(t *testing.T) {
	f := newFixture(t)
	r := newReceiver(t, nil)
	blocked := make(chan struct{})
	stuck := newReceiver(t, func() bool { <-blocked; return true })
	t.Cleanup(func() { close(blocked) })
	a, err := New(Options{Client: f.client, Keys: f.keys, URL: stuck.srv.URL, Secret: testSecret,
		RetryFor: time.Hour, ClaimIdle: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	<-a.Ready()
	ids := []string{f.add(t, "u", 1)}
	deadline := time.Now().Add(5 * time.Second)
	for a.heldCount() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the first worker never took the event")
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.Stop() // dies holding u's first event
	for seq := 2; seq <= 5; seq++ {
		ids = append(ids, f.add(t, "u", seq))
	}
	f.worker(t, r.srv.URL, func(o *Options) { o.MaxHeld = 2 })
	r.waitFor(len(ids), 10*time.Second)
	r.checkOrder(ids)
}

// Lag is the age of the oldest pending event, 0 with none.
func TestLag(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	if lag, err := Lag(t.Context(), f.client, f.keys, now); err != nil || lag != 0 {
		t.Fatalf("no group: %v, %v", lag, err)
	}
	blocked := make(chan struct{})
	stuck := newReceiver(t, func() bool { <-blocked; return true })
	t.Cleanup(func() { close(blocked) })
	f.worker(t, stuck.srv.URL, nil)
	f.add(t, "u", 1)
	time.Sleep(300 * time.Millisecond)
	lag, err := Lag(t.Context(), f.client, f.keys, time.Now())
	if err != nil || lag < 200*time.Millisecond || lag > 5*time.Second {
		t.Errorf("lag %v, %v; want about 300ms", lag, err)
	}
}

// TestStopZeroesLag: a stopped worker reports a lag of 0 last, so that a
// gauge it feeds does not keep showing a lag nobody measures any more.
func TestStopZeroesLag(t *testing.T) {
	f := newFixture(t)
	var last atomic.Int64
	w := f.worker(t, "http://127.0.0.1:9/", func(o *Options) {
		o.OnLag = func(d time.Duration) { last.Store(int64(d)) }
	})
	last.Store(int64(time.Hour)) // as if a lag had been read
	w.Stop()
	if got := time.Duration(last.Load()); got != 0 {
		t.Fatalf("last lag reported %v, want 0 after Stop", got)
	}
}

// TestTrimmedEventOfDeadInstanceIsReported: an event a dead instance held
// and the stream trimmed before anyone took it over cannot be delivered
// (its body is gone), but it must not vanish silently: the takeover logs
// it by ID as lost, and the user's later events still go.
func TestTrimmedEventOfDeadInstanceIsReported(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if err := f.client.XGroupCreateMkStream(ctx, f.keys.Stream, Group, "$").Err(); err != nil {
		t.Fatal(err)
	}
	lost := f.add(t, "u", 1)
	// A dead instance read it (queued it, made it pending), then died.
	if err := readScript.Run(ctx, f.client, []string{f.keys.Stream, f.keys.InFlight}, Group, "dead", 10).Err(); err != nil {
		t.Fatal(err)
	}
	f.client.XTrimMaxLen(ctx, f.keys.Stream, 0)
	next := f.add(t, "u", 2)
	core, logs := observer.New(zap.WarnLevel)
	r := newReceiver(t, nil)
	f.worker(t, r.srv.URL, func(o *Options) {
		o.ClaimIdle = 300 * time.Millisecond
		o.Logger = zap.New(core)
	})
	r.waitFor(1, 10*time.Second)
	r.checkOrder([]string{next})
	wantLostLogged(t, logs, lost)
}

// TestEventsTrimmedUnreadAreReported: while the receiver is down for long,
// the stream can be trimmed past events no instance has read yet. Those
// are lost to the webhook, and that loss was the one nothing told: the
// group's next read skipped them without a word. The next read logs a
// warning with how many, and where; a later read does not repeat it.
func TestEventsTrimmedUnreadAreReported(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if err := f.client.XGroupCreateMkStream(ctx, f.keys.Stream, Group, "$").Err(); err != nil {
		t.Fatal(err)
	}
	// Three events delivered, then five no instance read, of which the
	// trim takes three.
	delivered := f.addMany(t, 1, 3)
	if err := f.client.XReadGroup(ctx, &redis.XReadGroupArgs{Group: Group, Consumer: "c", Streams: []string{f.keys.Stream, ">"}, Count: 3}).Err(); err != nil {
		t.Fatal(err)
	}
	f.client.XAck(ctx, f.keys.Stream, Group, delivered...)
	var unread []string
	for seq := 1; seq <= 5; seq++ {
		unread = append(unread, f.add(t, "v", seq))
	}
	if err := f.client.XTrimMaxLen(ctx, f.keys.Stream, 2).Err(); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	r := newReceiver(t, nil)
	f.worker(t, r.srv.URL, func(o *Options) { o.Logger = zap.New(core) })
	r.waitFor(2, 10*time.Second)
	later := f.add(t, "v", 6)
	r.waitFor(3, 10*time.Second)
	r.checkOrder(append(unread[3:], later))
	var reports []map[string]any
	for _, e := range logs.All() {
		if _, ok := e.ContextMap()["lost"]; ok {
			reports = append(reports, e.ContextMap())
		}
	}
	if len(reports) != 1 || reports[0]["lost"] != int64(3) || reports[0]["after"] != delivered[2] || reports[0]["before"] != unread[3] {
		t.Fatalf("want one warning of 3 events lost after %s and before %s; logged: %v", delivered[2], unread[3], logs.All())
	}
	// Told once: the group's read counter was set past the lost ones, so
	// its lag is the events still to read, none, and the next loss is
	// counted from here.
	groups, err := f.client.XInfoGroups(ctx, f.keys.Stream).Result()
	if err != nil || len(groups) != 1 || groups[0].Lag != 0 {
		t.Fatalf("XINFO GROUPS: %+v, %v; want a lag of 0", groups, err)
	}
}

// wantLostLogged requires a warning that names event lost, alone.
func wantLostLogged(t *testing.T, logs *observer.ObservedLogs, lost string) {
	t.Helper()
	for _, e := range logs.All() {
		if ids, ok := e.ContextMap()["event_ids"].([]any); ok && len(ids) == 1 && ids[0] == lost {
			return
		}
	}
	t.Fatalf("no warning names the lost event %s; logged: %v", lost, logs.All())
}

// TestRedeliverDoesNotTrimWhatItMoves: moving more dead letters than the
// stream keeps would trim the first ones moved before any instance read
// them, after they left the dead-letter list: lost. Redeliver moves at
// most stream_max_len at a time and leaves the rest in the list.
func TestRedeliverDoesNotTrimWhatItMoves(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if err := f.client.XGroupCreateMkStream(ctx, f.keys.Stream, Group, "$").Err(); err != nil {
		t.Fatal(err)
	}
	const dead, maxLen = 1000, 300
	for i := range dead {
		f.client.RPush(ctx, f.keys.Dead, fmt.Sprintf(`{"id":"%d-0","type":"user.updated","user_id":"u"}`, i+1))
	}
	n, err := Redeliver(ctx, f.client, f.keys, maxLen)
	if err != nil {
		t.Fatal(err)
	}
	inStream, _ := f.client.XLen(ctx, f.keys.Stream).Result()
	left, _ := DeadLetters(ctx, f.client, f.keys)
	if inStream != int64(n) || inStream+left != dead {
		t.Fatalf("Redeliver said %d moved; the stream holds %d, the list %d: %d of %d dead letters lost",
			n, inStream, left, dead-inStream-left, dead)
	}
	if n == 0 {
		t.Fatal("Redeliver moved nothing")
	}
}

// TestRedeliverDoesNotTrimUnreadEvents: the dead letters moved back trim
// the stream's oldest entries, and after an outage those may be events
// the group has not read yet (or holds): moving as many as the stream
// keeps trimmed every one of them, lost to the webhook without a word.
// Redeliver moves only what the trim can take from entries already
// delivered; the rest stay dead letters for another run.
func TestRedeliverDoesNotTrimUnreadEvents(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if err := f.client.XGroupCreateMkStream(ctx, f.keys.Stream, Group, "$").Err(); err != nil {
		t.Fatal(err)
	}
	const maxLen = 300
	read := func(n int64) {
		t.Helper()
		if err := f.client.XReadGroup(ctx, &redis.XReadGroupArgs{Group: Group, Consumer: "c", Streams: []string{f.keys.Stream, ">"}, Count: n}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// 100 events the group read and acknowledged, then 150 it still
	// needs: 50 read and pending, 100 not read yet.
	delivered := f.addMany(t, 1, 100)
	read(100)
	if err := f.client.XAck(ctx, f.keys.Stream, Group, delivered...).Err(); err != nil {
		t.Fatal(err)
	}
	unread := f.addMany(t, 2, 75)
	read(50)
	for i := range maxLen {
		f.client.RPush(ctx, f.keys.Dead, fmt.Sprintf(`{"id":"%d-0","type":"user.updated","user_id":"u"}`, i+1))
	}
	n, err := Redeliver(ctx, f.client, f.keys, maxLen)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range unread {
		if got, _ := f.client.XRange(ctx, f.keys.Stream, id, id).Result(); len(got) != 1 {
			t.Fatalf("Redeliver moved %d dead letters and trimmed unread event %s", n, id)
		}
	}
	left, _ := DeadLetters(ctx, f.client, f.keys)
	if n == 0 || n > maxLen-len(unread) || int64(n)+left != maxLen {
		t.Fatalf("Redeliver moved %d, %d left, of %d; room for at most %d", n, left, maxLen, maxLen-len(unread))
	}
}

// A user's later events, waiting on an earlier one another instance holds
// (its receiver hangs), check their turn less and less often: the Redis
// that serves sign-ins is not polled every 50 ms per waiting user for as
// long as a receiver is down.
func TestWaitingForTurnBacksOff(t *testing.T) {
	f := newFixture(t)
	blocked := make(chan struct{})
	stuck := newReceiver(t, func() bool { <-blocked; return true })
	t.Cleanup(func() { close(blocked) })
	waitHeld := func(w *Worker, n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); w.heldCount() < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the worker holds %d events, want %d", w.heldCount(), n)
			}
		}
	}
	slow := func(o *Options) { o.MaxHeld = 1; o.ClaimIdle = time.Hour; o.RetryFor = time.Hour }
	a := f.worker(t, stuck.srv.URL, slow)
	f.add(t, "user-0", 1)
	waitHeld(a, 1) // a delivers user-0's first event, and hangs
	for seq := 2; seq <= 5; seq++ {
		f.add(t, "user-0", seq)
	}
	r := newReceiver(t, nil)
	b := f.worker(t, r.srv.URL, func(o *Options) { o.ClaimIdle = time.Hour; o.RetryFor = time.Hour })
	waitHeld(b, 4)
	if err := f.client.ConfigResetStat(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	stats := f.client.Info(t.Context(), "commandstats").Val()
	var hgets int
	for line := range strings.SplitSeq(stats, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_hget:calls="); ok {
			hgets, _ = strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		}
	}
	// 50 ms, 100, 200, 400, 800, then each second: at most 8 checks in
	// 3 s; polling every 50 ms made 60. None counted would mean the
	// checks are no longer HGETs, and the bound would prove nothing.
	if hgets == 0 {
		t.Fatalf("no HGET counted in 3 s of waiting; commandstats:\n%s", stats)
	}
	if hgets > 12 {
		t.Errorf("%d turn checks in 3 s for one waiting user", hgets)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) != 0 {
		t.Errorf("%d of user-0's later events delivered before its first", len(r.got))
	}
}

// The consumers of instances that are gone are removed from the group
// once they hold nothing and have not read for forgetAfter ClaimIdles; a
// quiet one that still holds an event is kept, and so is this instance.
func TestGoneConsumersAreForgotten(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	w, err := New(Options{Client: f.client, Keys: f.keys, URL: "http://127.0.0.1:9/hook", Secret: testSecret,
		RetryFor: time.Minute, ClaimIdle: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.ctx = ctx // not started: only forgetConsumers runs, below
	if err := f.client.XGroupCreateMkStream(ctx, f.keys.Stream, Group, "$").Err(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gone-empty", "gone-holding", w.Consumer()} {
		if err := f.client.XGroupCreateConsumer(ctx, f.keys.Stream, Group, name).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// gone-holding read an event and died holding it.
	f.add(t, "user-0", 1)
	if err := f.client.Do(ctx, "XREADGROUP", "GROUP", Group, "gone-holding", "COUNT", 1,
		"STREAMS", f.keys.Stream, ">").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // past forgetAfter (10) × 50 ms
	w.forgetConsumers()
	info, err := f.client.XInfoConsumers(ctx, f.keys.Stream, Group).Result()
	if err != nil {
		t.Fatal(err)
	}
	left := map[string]bool{}
	for _, c := range info {
		left[c.Name] = true
	}
	if left["gone-empty"] || !left["gone-holding"] || !left[w.Consumer()] {
		t.Errorf("consumers left %v: want gone-empty removed, gone-holding (one event pending) and %s kept",
			left, w.Consumer())
	}
}

// pathReceiver records which events arrive, in order, and answers 503 to
// the requests on a path while that path is blocked: each worker gets its
// own path, so one instance's receiver can be down while another's is up.
type pathReceiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	blocked map[string]bool
	got     []string // event IDs accepted, in arrival order
}

func newPathReceiver(t *testing.T) *pathReceiver {
	r := &pathReceiver{blocked: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.blocked[req.URL.Path] {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.got = append(r.got, req.Header.Get("webhook-id"))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *pathReceiver) block(path string, on bool) {
	r.mu.Lock()
	r.blocked[path] = on
	r.mu.Unlock()
}

// wantInOrder waits up to 10 s for the events want to arrive, and checks
// that they came in that order.
func (r *pathReceiver) wantInOrder(t *testing.T, want ...string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(r.arrived()) < len(want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("arrived %v, want %v in that order", r.arrived(), want)
		}
	}
	if got := r.arrived(); !slices.Equal(got[:len(want)], want) {
		t.Fatalf("arrived %v, want %v in that order", got, want)
	}
}

func (r *pathReceiver) arrived() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// waitHeld waits until w holds n events.
func waitHeld(t *testing.T, w *Worker, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); w.heldCount() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the worker holds %d events, want %d", w.heldCount(), n)
		}
	}
}

// quickClaims: one event held at a time, touched and claimed every 100 ms.
func quickClaims(o *Options) { o.MaxHeld = 1; o.ClaimIdle = 300 * time.Millisecond }

// trimmedUnderItsHolder starts a worker, a, whose receiver (path /a of r)
// is down, lets it take user u's first event, and trims the stream past
// that event while a retries it.
func trimmedUnderItsHolder(t *testing.T) (f *fixture, r *pathReceiver, a *Worker, first string) {
	t.Helper()
	f = newFixture(t)
	if err := f.client.XGroupCreateMkStream(t.Context(), f.keys.Stream, Group, "$").Err(); err != nil {
		t.Fatal(err)
	}
	r = newPathReceiver(t)
	r.block("/a", true)
	first = f.add(t, "u", 1)
	a = f.worker(t, r.srv.URL+"/a", quickClaims)
	waitHeld(t, a, 1)
	if n, err := f.client.XTrimMaxLen(t.Context(), f.keys.Stream, 0).Result(); err != nil || n != 1 {
		t.Fatalf("XTRIM: %d trimmed, %v; want the held event trimmed", n, err)
	}
	return f, r, a, first
}

// TestTrimmedEventStillRetriedKeepsOrder: an instance retrying an event
// through a receiver outage long enough for the stream to be trimmed past
// it still holds its body and will deliver it. Trimming drops it from the
// group's pending list, and another instance holding the user's next
// event took that for an event nobody holds, forgot it and delivered the
// next one first. The holder's lease on the event keeps the queue in
// order: the next event waits until the first is delivered.
func TestTrimmedEventStillRetriedKeepsOrder(t *testing.T) {
	f, r, _, first := trimmedUnderItsHolder(t)
	second := f.add(t, "u", 2)
	b := f.worker(t, r.srv.URL+"/b", quickClaims)
	waitHeld(t, b, 1)
	// Several ClaimIdles: a touches its event (which drops it from the
	// pending list), b waits on it and checks whether it is stale.
	time.Sleep(2 * time.Second)
	if got := r.arrived(); len(got) > 0 {
		t.Fatalf("while the first event was still being retried, %v arrived", got)
	}
	r.block("/a", false)
	r.wantInOrder(t, first, second)
}

// crash ends w as a killed process would: its goroutines stop, and it
// does nothing more (Stop's parking of trimmed events, its leaving the
// group).
func crash(w *Worker) {
	w.cancel()
	w.wg.Wait()
}

// TestTrimmedEventOfStoppedHolderIsReported: once the instance holding a
// trimmed event dies, its lease runs out; the next instance forgets the
// event, says it is lost, and delivers the user's later events. (One that
// stops dead-letters it: TestStopParksTrimmedEventsItHolds.)
func TestTrimmedEventOfStoppedHolderIsReported(t *testing.T) {
	f, r, a, lost := trimmedUnderItsHolder(t)
	time.Sleep(time.Second) // a's touches: the event leaves the pending list, the lease is taken
	next := f.add(t, "u", 2)
	core, logs := observer.New(zap.WarnLevel)
	f.worker(t, r.srv.URL+"/b", func(o *Options) { quickClaims(o); o.Logger = zap.New(core) })
	crash(a)
	for deadline := time.Now().Add(10 * time.Second); len(r.arrived()) < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the user's next event never arrived")
		}
	}
	if got := r.arrived(); got[0] != next {
		t.Fatalf("arrived %v, want %s", got, next)
	}
	wantLostLogged(t, logs, lost)
}

// Stop waits for the read loop, which spends an idle worker's time in a
// blocking XREAD that Stop cannot cut short. Each config reload that
// changes or removes the events block, and each shutdown, waited for it:
// up to 2 s. The blocking wait is short enough now that Stop is prompt.
func TestStopOfAnIdleWorkerIsPrompt(t *testing.T) {
	f := newFixture(t)
	w := f.worker(t, newReceiver(t, nil).srv.URL, nil)
	time.Sleep(100 * time.Millisecond) // into its blocking wait
	start := time.Now()
	w.Stop()
	if took := time.Since(start); took > 1200*time.Millisecond {
		t.Fatalf("Stop took %v", took)
	}
}

// TestTrimmedEventSeenFirstByAnotherClaimKeepsOrder: XAUTOCLAIM drops an
// entry trimmed from the stream from the pending list whatever its idle
// time, and names it. Another instance's claim, run between the trim and
// the holder's next touch (up to ClaimIdle/3 in production), took the
// event for a dead instance's: it forgot it from its user's queue and
// logged it lost, while its holder was still retrying it, and the user's
// next event, held elsewhere, went first. A held event must keep its
// place until its holder lets it go or its lease runs out.
func TestTrimmedEventSeenFirstByAnotherClaimKeepsOrder(t *testing.T) {
	f := newFixture(t)
	if err := f.client.XGroupCreateMkStream(t.Context(), f.keys.Stream, Group, "$").Err(); err != nil {
		t.Fatal(err)
	}
	r := newPathReceiver(t)
	r.block("/a", true)
	// ClaimIdle is long: neither worker's own loop touches or claims
	// during the test, the test runs b's claim itself, as it would run
	// right after a trim.
	slow := func(o *Options) { o.MaxHeld = 1; o.ClaimIdle = time.Hour; o.RetryFor = time.Hour }
	first := f.add(t, "u", 1)
	a := f.worker(t, r.srv.URL+"/a", slow)
	waitHeld(t, a, 1)
	second := f.add(t, "u", 2)
	core, logs := observer.New(zap.WarnLevel)
	b := f.worker(t, r.srv.URL+"/b", func(o *Options) { slow(o); o.Logger = zap.New(core) })
	waitHeld(t, b, 1)
	if n, err := f.client.XTrimMaxLen(t.Context(), f.keys.Stream, 1).Result(); err != nil || n != 1 {
		t.Fatalf("XTRIM: %d trimmed, %v; want the first event trimmed", n, err)
	}
	b.claim()
	time.Sleep(1500 * time.Millisecond) // b's turn checks: 50 ms, 100, 200, 400, 800
	if got := r.arrived(); len(got) > 0 {
		t.Fatalf("while the first event was still being retried, %v arrived", got)
	}
	if n := logs.FilterMessageSnippet("lost").Len(); n > 0 {
		t.Errorf("an event still being retried was logged lost: %v", logs.All())
	}
	r.block("/a", false)
	r.wantInOrder(t, first, second)
}

// TestStopParksTrimmedEventsItHolds: an instance that stops (a reload
// that changes the webhook, a shutdown) while it retries an event the
// stream was trimmed past held the only copy of its body: the event was
// lost, though Stop is documented to lose nothing. It is dead-lettered
// instead, as it would be delivered, and its user's next event goes.
func TestStopParksTrimmedEventsItHolds(t *testing.T) {
	f, r, a, first := trimmedUnderItsHolder(t)
	time.Sleep(time.Second) // a's touches: the event leaves the pending list, the lease is taken
	next := f.add(t, "u", 2)
	b := f.worker(t, r.srv.URL+"/b", quickClaims)
	waitHeld(t, b, 1)
	a.Stop()
	dead, err := f.client.LRange(t.Context(), f.keys.Dead, 0, -1).Result()
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters after the holder stopped: %q, %v; want the trimmed event", dead, err)
	}
	var ev struct{ ID string }
	if err := json.Unmarshal([]byte(dead[0]), &ev); err != nil || ev.ID != first {
		t.Fatalf("dead letter %s, want event %s with its id", dead[0], first)
	}
	for deadline := time.Now().Add(10 * time.Second); len(r.arrived()) < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the user's next event never arrived")
		}
	}
	if got := r.arrived(); got[0] != next {
		t.Fatalf("arrived %v, want %s", got, next)
	}
}

// TestEntryWithoutEventIsDeadLettered: a stream entry with no event field
// (written by hand, or by a bug) cannot be delivered. It was counted and
// logged as dead-lettered, yet acknowledged without being parked: gone
// without a trace. It is parked like any other invalid event.
func TestEntryWithoutEventIsDeadLettered(t *testing.T) {
	f := newFixture(t)
	r := newReceiver(t, nil)
	f.worker(t, r.srv.URL, nil)
	if err := f.client.XAdd(t.Context(), &redis.XAddArgs{Stream: f.keys.Stream, Values: []string{"note", "no event"}}).Err(); err != nil {
		t.Fatal(err)
	}
	next := f.add(t, "u", 1)
	r.waitFor(1, 10*time.Second)
	r.checkOrder([]string{next})
	f.waitDeadLetters(t, 1, 5*time.Second)
}

// TestClaimTellsLiveFromDeadTrimmedEvents: of the trimmed entries a claim
// finds, one idle for ClaimIdle was a dead instance's, lost at once (told,
// and gone from its user's queue); one idle less is a live holder's,
// kept in its queue under a lease and not told.
func TestClaimTellsLiveFromDeadTrimmedEvents(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if err := f.client.XGroupCreateMkStream(ctx, f.keys.Stream, Group, "$").Err(); err != nil {
		t.Fatal(err)
	}
	read := func(consumer string) {
		if err := readScript.Run(ctx, f.client, []string{f.keys.Stream, f.keys.InFlight}, Group, consumer, 10).Err(); err != nil {
			t.Fatal(err)
		}
	}
	dead := f.add(t, "u-dead", 1)
	read("dead")
	time.Sleep(400 * time.Millisecond)
	live := f.add(t, "u-live", 1)
	read("live")
	f.client.XTrimMaxLen(ctx, f.keys.Stream, 0)
	core, logs := observer.New(zap.WarnLevel)
	w, err := New(Options{Client: f.client, Keys: f.keys, URL: "http://127.0.0.1:9/hook", Secret: testSecret,
		RetryFor: time.Minute, ClaimIdle: 300 * time.Millisecond, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	w.ctx = ctx // not started: only claim runs, below
	w.claim()
	wantLostLogged(t, logs, dead)
	if n := logs.Len(); n != 1 {
		t.Errorf("%d warnings, want the one for %s: %v", n, dead, logs.All())
	}
	q, _ := f.client.HGetAll(ctx, f.keys.InFlight).Result()
	if q["u:u-dead"] != "" || q["i:"+dead] != "" {
		t.Errorf("the dead instance's trimmed event is still queued: %v", q)
	}
	if q["u:u-live"] != live || q["h:"+live] == "" {
		t.Errorf("the live holder's trimmed event is not queued under a lease: %v", q)
	}
}

// An instance started while Redis was away creates the group when Redis
// comes back; the events appended before it did (edits served in
// between) are the webhook's too: the group starts where the worker
// started, not at the stream's end when it finally got through.
func TestEventsAppendedBeforeTheGroupIsCreatedAreDelivered(t *testing.T) {
	srv := redistest.Start(t)
	// One dial per try: go-redis's own dial retries would stretch each
	// of the worker's tries to half a second.
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Protocol: 2, DialerRetries: 1})
	t.Cleanup(func() { c.Close() })
	f := &fixture{client: c, keys: NewKeys("authedge", "env-1")}
	r := newReceiver(t, func() bool { return false })
	srv.Stop()
	core, logs := observer.New(zap.WarnLevel)
	w, err := New(Options{Client: c, Keys: f.keys, URL: r.srv.URL, Secret: testSecret, RetryFor: time.Minute,
		ClaimIdle: time.Second, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	t.Cleanup(w.Stop)
	// Each failed try at the group is logged, then waited out, 100 ms
	// doubling: after the fourth, 1.6 s. Redis comes back at the start
	// of that pause and the events are appended before the next try.
	deadline := time.Now().Add(20 * time.Second)
	for logs.FilterMessageSnippet("cannot join the consumer group").Len() < 4 {
		if time.Now().After(deadline) {
			t.Fatal("the worker did not try to join the group four times")
		}
		time.Sleep(5 * time.Millisecond)
	}
	srv.Restart()
	ids := []string{f.add(t, "u1", 1), f.add(t, "u1", 2)}
	select {
	case <-w.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not join the group")
	}
	r.waitFor(len(ids), 10*time.Second)
	r.checkOrder(ids)
}

// A group that vanished with its stream (a Redis that lost its data, a
// deleted key) is created again where this worker had read to: the
// events appended before it noticed are delivered, not skipped.
func TestGroupCreatedAgainMissesNoEvent(t *testing.T) {
	f := newFixture(t)
	r := newReceiver(t, func() bool { return false })
	f.worker(t, r.srv.URL, nil)
	first := f.add(t, "u1", 1)
	r.waitFor(1, 10*time.Second)
	if err := f.client.Del(t.Context(), f.keys.Stream).Err(); err != nil {
		t.Fatal(err)
	}
	ids := []string{first, f.add(t, "u1", 2), f.add(t, "u2", 1)}
	r.waitFor(len(ids), 10*time.Second)
	r.checkOrder(ids)
}

// Redeliver into a stream without the group (none ever ran, or it
// vanished) creates the group before it appends: a worker that joins
// later is handed the events moved, which a group created then would
// start after.
func TestRedeliverCreatesTheGroupFirst(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.add(t, "u0", 1) // from before the group: not the webhook's
	f.client.RPush(ctx, f.keys.Dead, `{"id":"1-0","type":"user.updated","user_id":"u1"}`,
		`{"id":"2-0","type":"user.updated","user_id":"u1"}`)
	n, err := Redeliver(ctx, f.client, f.keys, 1000)
	if err != nil || n != 2 {
		t.Fatalf("Redeliver: %d, %v", n, err)
	}
	got, err := f.client.XReadGroup(ctx, &redis.XReadGroupArgs{Group: Group, Consumer: "c", Streams: []string{f.keys.Stream, ">"}, Count: 10}).Result()
	if err != nil {
		t.Fatalf("the group after Redeliver: %v", err)
	}
	if len(got) != 1 || len(got[0].Messages) != 2 {
		t.Fatalf("the group hands out %v, want the 2 events moved", got)
	}
	for i, m := range got[0].Messages {
		if want := fmt.Sprintf(`"id":"%d-0"`, i+1); !strings.Contains(fmt.Sprint(m.Values["event"]), want) {
			t.Errorf("event %d: %v, want %s", i, m.Values, want)
		}
	}
}

// A worker whose host's clock runs ahead of Redis's by more than the skew
// it allows for must not create the group in Redis's future: the events
// appended until Redis's clock caught up would come before the group's
// start and never be delivered. The group starts no later than Redis's
// own time.
func TestGroupCreatedByAClockAheadStartsNoLaterThanRedisTime(t *testing.T) {
	f := newFixture(t)
	r := newReceiver(t, func() bool { return false })
	f.worker(t, r.srv.URL, func(o *Options) { o.now = func() time.Time { return time.Now().Add(time.Hour) } })
	ids := []string{f.add(t, "u1", 1), f.add(t, "u1", 2)}
	r.waitFor(len(ids), 10*time.Second)
	r.checkOrder(ids)
}

// A stopped worker is never used again, yet the keep-alive connections
// its own transport opened to the receiver stayed open, each with two
// goroutines here and one there, until the transport's idle timeout (90 s):
// every reload that changes the events block left up to Parallel of them
// behind. Stop closes them.
func TestStopClosesConnectionsToTheReceiver(t *testing.T) {
	f := newFixture(t)
	var open atomic.Int64
	r := newReceiver(t, nil)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	w := f.worker(t, srv.URL, nil)
	ids := f.addMany(t, 8, 2)
	r.waitFor(len(ids), 10*time.Second)
	if open.Load() == 0 {
		t.Fatal("the receiver saw no connection")
	}
	w.Stop()
	for deadline := time.Now().Add(2 * time.Second); open.Load() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections to the receiver still open 2 s after Stop", open.Load())
		}
	}
}
