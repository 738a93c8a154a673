package revoke

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/store"
)

// pausableSource is the real store, whose log reads can be made to fail.
type pausableSource struct {
	*store.Store
	paused atomic.Bool
}

func (p *pausableSource) RevocationsSince(ctx context.Context, after uint64, limit int) (string, uint64, string, []store.Revocation, error) {
	if p.paused.Load() {
		return "", 0, "", nil, errors.New("paused")
	}
	return p.Store.RevocationsSince(ctx, after, limit)
}

// Redis losing its log (a restart without persistence, a failover to a
// replica without it) and then taking as many new entries as the reader
// had applied leaves the log's number where the reader is: only the
// log's epoch tells the new entries apart, and the reader forgets what it
// knew.
func TestNewLogReusingNumbersIsNotTrusted(t *testing.T) {
	srv := redistest.Start(t)
	src := &pausableSource{Store: newStore(t, srv.Addr)}
	other := newStore(t, srv.Addr)
	c := newChecker(t, src, Options{})
	now := time.Now()
	a := tok("a.a.a", "ua", "", now)
	b := tok("b.b.b", "ub", "", now)
	never := tok("c.c.c", "ub", "", now) // b's user's, never checked
	ctx := context.Background()
	if _, err := other.RevokeToken(ctx, store.TokenDigest(a.Raw), now.Add(time.Hour)); err != nil { // seq 1
		t.Fatal(err)
	}
	mustRevoked(t, c, b)
	waitFresh(t, c)
	waitReplica(t, c)
	if mustRevoked(t, c, b) || !mustRevoked(t, c, a) {
		t.Fatal("wrong verdicts before the restart")
	}

	src.paused.Store(true) // the reader does not see the log while it is gone
	srv.Restart()          // loses seq 1
	for {
		if _, err := other.RevokeUser(ctx, "ub", now); err == nil { // seq 1 again
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := other.RevokeToken(ctx, store.TokenDigest("x.x.x"), now.Add(time.Hour)); err != nil { // seq 2
		t.Fatal(err)
	}
	src.paused.Store(false)
	refusedWithin(t, c, b, 2*time.Second) // a remembered verdict
	if !mustRevoked(t, c, never) {
		t.Error("a never-checked token of a user revoked in the new log is accepted")
	}
}

// lateStateSource is the real store whose state read, once armed, runs
// during after reading and before answering: the answer it gives is from
// before whatever during does.
type lateStateSource struct {
	*store.Store
	during func()
	armed  atomic.Bool
}

func (s *lateStateSource) RevocationState(ctx context.Context, d, u, dev string) (store.RevocationState, error) {
	st, err := s.Store.RevocationState(ctx, d, u, dev)
	if s.armed.CompareAndSwap(true, false) {
		s.during()
	}
	return st, err
}

// A check whose read of Redis is answered from a log that is then lost
// (Redis flushed, or restarted without persistence) must not remember
// that answer: the reader has forgotten the old log and applied the new
// one's entries already, so none would ever turn the verdict, and the
// token revoked in the new log would pass for as long as it is
// remembered (for good without a replica).
func TestVerdictReadFromALostLogIsNotRemembered(t *testing.T) {
	srv := redistest.Start(t)
	src := &lateStateSource{Store: newStore(t, srv.Addr)}
	other := newStore(t, srv.Addr)
	ctx := context.Background()
	now := time.Now()
	for _, raw := range []string{"x.x.x", "y.y.y", "z.z.z"} { // the old log: 1 to 3
		if _, err := other.RevokeToken(ctx, store.TokenDigest(raw), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	c := newChecker(t, src, Options{ReplicaSize: -1, StaleAfter: time.Minute})
	mustRevoked(t, c, tok("w.w.w", "u0", "", now)) // starts the reader
	waitFresh(t, c)

	victim := tok("v.v.v", "u1", "", now)
	src.during = func() {
		if _, err := redistest.Command(srv.Addr, "FLUSHALL"); err != nil {
			t.Error(err)
		}
		if _, err := other.RevokeToken(ctx, store.TokenDigest(victim.Raw), now.Add(time.Hour)); err != nil { // the new log's 1
			t.Error(err)
		}
		if err := c.CatchUp(ctx); err != nil {
			t.Error(err)
		}
	}
	src.armed.Store(true)
	mustRevoked(t, c, victim) // read before its revocation: either answer
	if !mustRevoked(t, c, victim) {
		t.Error("a token revoked in the new log passes on a verdict read from the lost one")
	}
}

// A failover to a replica that missed the log's last entry, which this
// reader had already applied (it reads the master, before any WAIT), keeps
// the log's epoch; the next revocation on the promoted master then takes
// the lost entry's number. The reader must not take that entry for the
// one it applied, or the new revocation never reaches its memory: a token
// it revokes would pass on this instance for as long as the memory lasts.
// The lost entry is taken away by hand here, leaving the master as the
// promoted replica would be.
func TestLostLastEntryReusedByANewOneIsNotTrusted(t *testing.T) {
	srv := redistest.Start(t)
	src := &pausableSource{Store: newStore(t, srv.Addr)}
	other := newStore(t, srv.Addr)
	c := newChecker(t, src, Options{})
	now := time.Now()
	ctx := context.Background()
	if _, err := other.RevokeToken(ctx, store.TokenDigest("a.a.a"), now.Add(time.Hour)); err != nil { // seq 1
		t.Fatal(err)
	}
	mustRevoked(t, c, tok("w.w.w", "uw", "", now))
	waitReplica(t, c)
	if _, err := other.RevokeToken(ctx, store.TokenDigest("x.x.x"), now.Add(time.Hour)); err != nil { // seq 2
		t.Fatal(err)
	}
	refusedWithin(t, c, tok("x.x.x", "ux", "", now), 2*time.Second) // the reader applied seq 2

	src.paused.Store(true) // the failover: the reader sees nothing meanwhile
	base := "authedge:{" + testEnv + "}:"
	for _, cmd := range [][]string{
		{"XDEL", base + "rx", "2-1"},
		{"XSETID", base + "rx", "1-1"},
		{"SET", base + "rs", "1"},
		{"DEL", base + "rt:" + store.TokenDigest("x.x.x")},
	} {
		if _, err := redistest.Command(srv.Addr, cmd...); err != nil {
			t.Fatal(err)
		}
	}
	if seq, err := other.RevokeUser(ctx, "ub", now); err != nil || seq != 2 { // seq 2 again
		t.Fatalf("RevokeUser after the lost entry = %d, %v; want 2", seq, err)
	}
	src.paused.Store(false)
	refusedWithin(t, c, tok("b.b.b", "ub", "", now), 2*time.Second)
}

// readerAfterOneRevocation is a checker without a replica whose log
// reader runs, with nothing to remember, and has read entry 1, the
// revocation of token (made through other, a second store on srv); src
// is the checker's own store, which a test may pause.
func readerAfterOneRevocation(t *testing.T, token string) (srv *redistest.Server, src *pausableSource, other *store.Store, c *Checker) {
	t.Helper()
	srv = redistest.Start(t)
	src = &pausableSource{Store: newStore(t, srv.Addr)}
	other = newStore(t, srv.Addr)
	c = newChecker(t, src, Options{ReplicaSize: -1})
	if _, err := other.RevokeToken(context.Background(), store.TokenDigest(token), time.Now().Add(time.Hour)); err != nil { // seq 1
		t.Fatal(err)
	}
	c.startOnce.Do(c.start)
	waitFresh(t, c)
	return srv, src, other, c
}

// A reader that skipped ahead (nothing remembered for the entries to
// change) still knows which entry it skipped to: a verdict read at that
// entry is remembered, and if a failover then reuses the entry's number
// for a new revocation, the reader must not take the new entry for the
// one it skipped to.
func TestLostEntrySkippedToIsNotTrusted(t *testing.T) {
	srv, src, other, c := readerAfterOneRevocation(t, "a.a.a")
	now := time.Now()
	ctx := context.Background()
	if _, err := other.RevokeToken(ctx, store.TokenDigest("x.x.x"), now.Add(time.Hour)); err != nil { // seq 2
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		c.mu.RLock()
		applied, kept := c.applied, len(c.verdicts)
		c.mu.RUnlock()
		if kept != 0 {
			t.Fatal("a verdict was kept before the skip")
		}
		if applied == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reader never reached entry 2")
		}
		time.Sleep(2 * time.Millisecond)
	}

	src.paused.Store(true) // the reader sees nothing from here to the failover's end
	b := tok("b.b.b", "ub", "", now)
	if mustRevoked(t, c, b) { // read at entry 2, remembered
		t.Fatal("b is revoked before its revocation")
	}
	base := "authedge:{" + testEnv + "}:"
	for _, cmd := range [][]string{
		{"XDEL", base + "rx", "2-1"},
		{"XSETID", base + "rx", "1-1"},
		{"SET", base + "rs", "1"},
		{"DEL", base + "rt:" + store.TokenDigest("x.x.x")},
	} {
		if _, err := redistest.Command(srv.Addr, cmd...); err != nil {
			t.Fatal(err)
		}
	}
	if seq, err := other.RevokeUser(ctx, "ub", now); err != nil || seq != 2 { // seq 2 again
		t.Fatalf("RevokeUser after the lost entry = %d, %v; want 2", seq, err)
	}
	src.paused.Store(false)
	refusedWithin(t, c, b, 2*time.Second)
}

// A reader with nothing to remember that finds more new entries than one
// read takes (a burst of revocations between two reads) skips to the
// log's last entry without reading it, so it does not know that entry's
// nonce. A verdict read there must not be remembered until it does: if a
// failover then reuses the entry's number for a new revocation, the reader
// would take the new entry's nonce for the one it skipped to, and the
// remembered verdict would never turn.
func TestLostEntrySkippedToUnreadIsNotTrusted(t *testing.T) {
	srv, src, other, c := readerAfterOneRevocation(t, "t0.x.x")
	now := time.Now()
	ctx := context.Background()

	src.paused.Store(true) // the burst lands between two reads
	const burst = readBatch + 88
	for i := 1; i < burst; i++ {
		if _, err := other.RevokeToken(ctx, store.TokenDigest(fmt.Sprintf("t%d.x.x", i)), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	src.paused.Store(false)
	deadline := time.Now().Add(2 * time.Second)
	for {
		c.mu.RLock()
		applied := c.applied
		c.mu.RUnlock()
		if applied == burst {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reader never reached entry %d (at %d)", burst, applied)
		}
		time.Sleep(time.Millisecond)
	}

	src.paused.Store(true) // the reader sees nothing from here to the failover's end
	b := tok("b.b.b", "ub", "", now)
	if mustRevoked(t, c, b) { // read at the last entry
		t.Fatal("b is revoked before its revocation")
	}
	base := "authedge:{" + testEnv + "}:"
	last := fmt.Sprint(burst)
	for _, cmd := range [][]string{
		{"XDEL", base + "rx", last + "-1"},
		{"XSETID", base + "rx", fmt.Sprint(burst-1) + "-1"},
		{"SET", base + "rs", fmt.Sprint(burst - 1)},
		{"DEL", base + "rt:" + store.TokenDigest(fmt.Sprintf("t%d.x.x", burst-1))},
	} {
		if _, err := redistest.Command(srv.Addr, cmd...); err != nil {
			t.Fatal(err)
		}
	}
	if seq, err := other.RevokeUser(ctx, "ub", now); err != nil || seq != burst { // the last number again
		t.Fatalf("RevokeUser after the lost entry = %d, %v; want %d", seq, err, burst)
	}
	src.paused.Store(false)
	refusedWithin(t, c, b, 2*time.Second)
}
