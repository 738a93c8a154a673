package revoke

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/store"
)

// lateSnapshotSource is the real store, whose first snapshot is handed
// over only after afterSnapshot has run, and whose next log read then
// waits for hold: the reader is caught between installing a replica and
// reading the log after it.
type lateSnapshotSource struct {
	*store.Store
	afterSnapshot func()
	once          sync.Once
	holding       atomic.Bool
	hold          chan struct{}
}

func (s *lateSnapshotSource) RevocationSnapshot(ctx context.Context, fn func(store.Revocation)) (string, uint64, error) {
	epoch, seq, err := s.Store.RevocationSnapshot(ctx, fn)
	s.once.Do(func() {
		s.afterSnapshot()
		s.holding.Store(true)
	})
	return epoch, seq, err
}

func (s *lateSnapshotSource) RevocationsSince(ctx context.Context, after uint64, limit int) (string, uint64, string, []store.Revocation, error) {
	if s.holding.CompareAndSwap(true, false) {
		<-s.hold
	}
	return s.Store.RevocationsSince(ctx, after, limit)
}

// A revocation written while the reader loads its replica, and applied by
// this instance's CatchUp before the load finishes, is missing from the
// snapshot: the replica installed must not be trusted until the log after
// it has been read, or the token this instance has just revoked passes.
func TestReplicaLoadedBehindTheLogIsNotTrusted(t *testing.T) {
	srv := redistest.Start(t)
	now := time.Now()
	revoked := tok("r.r.r", "u1", "", now)
	src := &lateSnapshotSource{Store: newStore(t, srv.Addr), hold: make(chan struct{})}
	released := false
	release := func() {
		if !released {
			released = true
			close(src.hold)
		}
	}
	defer release()
	var c *Checker
	src.afterSnapshot = func() {
		ctx := context.Background()
		if _, err := src.RevokeToken(ctx, store.TokenDigest(revoked.Raw), now.Add(time.Hour)); err != nil {
			t.Error(err)
		}
		if err := c.CatchUp(ctx); err != nil {
			t.Error(err)
		}
	}
	c = newChecker(t, src, Options{StaleAfter: time.Minute})
	if mustRevoked(t, c, tok("w.w.w", "u0", "", now)) { // starts the reader
		t.Fatal("an unrevoked token is revoked")
	}
	for deadline := time.Now().Add(5 * time.Second); !c.Replicated(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no replica loaded within 5s")
		}
	}
	if !mustRevoked(t, c, revoked) {
		t.Error("the token revoked during the replica's load passes")
	}
	release()
	if err := c.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !mustRevoked(t, c, revoked) {
		t.Error("the token revoked during the replica's load passes once the log is read")
	}
}

// A snapshot of a log that Redis then lost (flushed while the replica
// loaded, and a new log begun), handed over after this instance's CatchUp
// forgot the old log, must not be trusted until the log after it has been
// read: it lacks the new log's revocations, its number is the old log's,
// and the token this instance has just revoked in the new log would pass.
func TestReplicaOfALostLogIsNotTrusted(t *testing.T) {
	srv := redistest.Start(t)
	now := time.Now()
	revoked := tok("r.r.r", "u1", "", now)
	src := &lateSnapshotSource{Store: newStore(t, srv.Addr), hold: make(chan struct{})}
	ctx := context.Background()
	for _, raw := range []string{"x.x.x", "y.y.y", "z.z.z"} { // the old log: 1 to 3
		if _, err := src.RevokeToken(ctx, store.TokenDigest(raw), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	released := false
	release := func() {
		if !released {
			released = true
			close(src.hold)
		}
	}
	defer release()
	var c *Checker
	src.afterSnapshot = func() {
		if _, err := redistest.Command(srv.Addr, "FLUSHALL"); err != nil {
			t.Error(err)
		}
		if _, err := src.RevokeToken(ctx, store.TokenDigest(revoked.Raw), now.Add(time.Hour)); err != nil { // the new log's 1
			t.Error(err)
		}
		if err := c.CatchUp(ctx); err != nil {
			t.Error(err)
		}
	}
	c = newChecker(t, src, Options{StaleAfter: time.Minute})
	if mustRevoked(t, c, tok("w.w.w", "u0", "", now)) { // starts the reader
		t.Fatal("an unrevoked token is revoked")
	}
	for deadline := time.Now().Add(5 * time.Second); !c.Replicated(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no replica loaded within 5s")
		}
	}
	if !mustRevoked(t, c, revoked) {
		t.Error("the token revoked in the new log passes on a replica of the lost one")
	}
	release()
	if err := c.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if !mustRevoked(t, c, revoked) {
		t.Error("the token revoked in the new log passes once the log is read")
	}
}

// armedSnapshotSource is the real store whose next snapshot, once armed,
// runs afterSnapshot before it is handed over, and whose log read after
// that waits for hold, as lateSnapshotSource's.
type armedSnapshotSource struct {
	*store.Store
	afterSnapshot func()
	armed         atomic.Bool
	holding       atomic.Bool
	hold          chan struct{}
}

func (s *armedSnapshotSource) RevocationSnapshot(ctx context.Context, fn func(store.Revocation)) (string, uint64, error) {
	epoch, seq, err := s.Store.RevocationSnapshot(ctx, fn)
	if s.armed.CompareAndSwap(true, false) {
		s.afterSnapshot()
		s.holding.Store(true)
	}
	return epoch, seq, err
}

func (s *armedSnapshotSource) RevocationsSince(ctx context.Context, after uint64, limit int) (string, uint64, string, []store.Revocation, error) {
	if s.holding.CompareAndSwap(true, false) {
		<-s.hold
	}
	return s.Store.RevocationsSince(ctx, after, limit)
}

// A snapshot taken before Redis's log went back (a failover to a replica
// that missed the last entries, an older file restored), handed over
// after this instance's CatchUp saw it go back and forgot what it knew,
// must not be trusted until the log after it has been read: its number
// is not behind the log's, but it lacks the entries written since under
// the same numbers, the token this instance has just revoked among them.
func TestReplicaOfALogThatWentBackIsNotTrusted(t *testing.T) {
	srv := redistest.Start(t)
	now := time.Now()
	revoked := tok("r.r.r", "u1", "", now)
	src := &armedSnapshotSource{Store: newStore(t, srv.Addr), hold: make(chan struct{})}
	defer close(src.hold)
	ctx := context.Background()
	for _, raw := range []string{"x.x.x", "y.y.y", "z.z.z"} { // entries 1 to 3
		if _, err := src.RevokeToken(ctx, store.TokenDigest(raw), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	c := newChecker(t, src, Options{StaleAfter: time.Minute})
	mustRevoked(t, c, tok("w.w.w", "u0", "", now)) // starts the reader
	waitReplica(t, c)
	if err := c.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}

	src.afterSnapshot = func() {
		// The log goes back to entry 1, keeping its epoch; the next
		// revocation is numbered 2 again.
		for _, cmd := range [][]string{{"SET", "authedge:{" + testEnv + "}:rs", "1"}, {"DEL", "authedge:{" + testEnv + "}:rx"}} {
			if _, err := redistest.Command(srv.Addr, cmd...); err != nil {
				t.Error(err)
			}
		}
		if seq, err := src.RevokeToken(ctx, store.TokenDigest(revoked.Raw), now.Add(time.Hour)); err != nil || seq != 2 {
			t.Errorf("the revocation after the log went back: %d, %v; want 2", seq, err)
		}
		if err := c.CatchUp(ctx); err != nil {
			t.Error(err)
		}
	}
	src.armed.Store(true)
	c.mu.Lock()
	c.reset(c.applied) // the next read of the log loads a replica again
	c.mu.Unlock()
	for deadline := time.Now().Add(5 * time.Second); src.armed.Load() || !c.Replicated(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no replica loaded again within 5s")
		}
	}
	if !mustRevoked(t, c, revoked) {
		t.Error("the token revoked after the log went back passes on a replica of before")
	}
}

// A failover right after a snapshot, to a replica that missed the log's
// last entry, gives that entry's number to the next revocation. The log
// read after the snapshot then finds the new entry where the snapshot's
// last one was, and nothing tells them apart (the snapshot carries no
// nonce): unless the snapshot's last entries are read again, the new
// revocation never reaches the replica, and its token passes on this
// instance for as long as the replica lives.
func TestReplicaOfALostLastEntryIsNotTrusted(t *testing.T) {
	srv := redistest.Start(t)
	now := time.Now()
	victim := tok("v.v.v", "uv", "", now)
	hold := make(chan struct{})
	close(hold) // no log read waits
	src := &armedSnapshotSource{Store: newStore(t, srv.Addr), hold: hold}
	ctx := context.Background()
	for _, raw := range []string{"x.x.x", "y.y.y", "z.z.z"} { // entries 1 to 3
		if _, err := src.RevokeToken(ctx, store.TokenDigest(raw), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	base := "authedge:{" + testEnv + "}:"
	src.afterSnapshot = func() {
		// The promoted replica lacks entry 3; the next revocation is 3.
		for _, cmd := range [][]string{
			{"XDEL", base + "rx", "3-1"},
			{"XSETID", base + "rx", "2-1"},
			{"SET", base + "rs", "2"},
			{"DEL", base + "rt:" + store.TokenDigest("z.z.z")},
		} {
			if _, err := redistest.Command(srv.Addr, cmd...); err != nil {
				t.Error(err)
			}
		}
		if seq, err := src.RevokeToken(ctx, store.TokenDigest(victim.Raw), now.Add(time.Hour)); err != nil || seq != 3 {
			t.Errorf("the revocation after the failover: %d, %v; want 3", seq, err)
		}
	}
	src.armed.Store(true)
	c := newChecker(t, src, Options{})
	mustRevoked(t, c, tok("w.w.w", "u0", "", now)) // starts the reader
	waitReplica(t, c)
	refusedWithin(t, c, victim, 2*time.Second)
}
