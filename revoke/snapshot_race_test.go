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
