package revoke

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/store"
)

// waitReplica waits for the checker to hold a replica and be fresh.
func waitReplica(t testing.TB, c *Checker) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.RLock()
		loaded := c.rep != nil
		c.mu.RUnlock()
		if loaded && c.fresh() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no replica loaded within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Tokens never checked before are judged from the replica, with no
// Redis read: revocations made before the checker started (the snapshot)
// and after (the log) alike.
func TestNeverSeenTokensAreJudgedWithoutRedis(t *testing.T) {
	srv := redistest.Start(t)
	src := &countingSource{Store: newStore(t, srv.Addr), watch: true}
	ctx := context.Background()
	now := time.Now()
	cut := now.Truncate(time.Second)
	src.RevokeToken(ctx, store.TokenDigest("old-revoked"), now.Add(time.Hour))
	src.RevokeUser(ctx, "u2", cut)
	src.RevokeDevice(ctx, "u3", "d3", cut)

	c := newChecker(t, src, Options{})
	mustRevoked(t, c, tok("warm-up", "u0", "", now))
	waitReplica(t, c)
	before := src.reads.Load()

	cases := []struct {
		tk   Token
		want bool
	}{
		{tok("old-revoked", "u1", "", now), true},
		{tok("fresh", "u1", "", now), false},
		{tok("u2-before", "u2", "", cut), true},
		{tok("u2-no-iat", "u2", "", time.Time{}), true},
		{tok("u2-after", "u2", "", cut.Add(time.Second)), false},
		{tok("u3-on-d3", "u3", "d3", cut), true},
		{tok("u3-on-d4", "u3", "d4", cut), false},
		{tok("u3-unbound", "u3", "", cut), false},
	}
	for _, tc := range cases {
		if got := mustRevoked(t, c, tc.tk); got != tc.want {
			t.Errorf("%s: revoked %v, want %v", tc.tk.Raw, got, tc.want)
		}
	}

	// Revocations after the load reach the replica through the log.
	src.RevokeToken(ctx, store.TokenDigest("new-revoked"), now.Add(time.Hour))
	src.RevokeUser(ctx, "u5", cut)
	time.Sleep(DefaultStaleAfter) // the log has been read since
	waitReplica(t, c)
	if !mustRevoked(t, c, tok("new-revoked", "u1", "", now)) || !mustRevoked(t, c, tok("u5-before", "u5", "", cut)) {
		t.Error("a revocation made after the replica was loaded did not reach it")
	}
	if n := src.reads.Load() - before; n != 0 {
		t.Errorf("judging %d never-seen tokens made %d Redis reads, want 0", len(cases)+2, n)
	}
}

// Past its budget the replica is not kept, and new tokens go to Redis.
func TestReplicaOverBudgetFallsBackToRedis(t *testing.T) {
	srv := redistest.Start(t)
	src := &countingSource{Store: newStore(t, srv.Addr), watch: true}
	ctx := context.Background()
	now := time.Now()
	for _, u := range []string{"a", "b", "c"} {
		src.RevokeUser(ctx, u, now)
	}
	c := newChecker(t, src, Options{ReplicaSize: 2})
	mustRevoked(t, c, tok("warm-up", "u0", "", now))
	waitFresh(t, c)
	// Until a load has ended (replicaAt set), no replica proves nothing.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		c.mu.RLock()
		tried, loaded := !c.replicaAt.IsZero(), c.rep != nil
		c.mu.RUnlock()
		if loaded {
			t.Fatal("a replica over its budget was kept")
		}
		if tried {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no replica load ended in 10 s")
		}
	}
	before := src.reads.Load()
	if !mustRevoked(t, c, tok("b-token", "b", "", now)) {
		t.Error("b's token accepted")
	}
	if src.reads.Load()-before != 1 {
		t.Error("a new token was not read from Redis without a replica")
	}
}

func TestReplicaPrune(t *testing.T) {
	r := newReplica()
	now := time.Now()
	r.add(store.Revocation{Kind: store.RevokedToken, TokenDigest: store.TokenDigest("ended"), Until: now.Add(-time.Second)})
	r.add(store.Revocation{Kind: store.RevokedToken, TokenDigest: store.TokenDigest("live"), Until: now.Add(time.Hour)})
	r.add(store.Revocation{Kind: store.RevokedUser, UserID: "old", Cutoff: now.Add(-store.RevocationHorizon - time.Hour)})
	r.add(store.Revocation{Kind: store.RevokedUser, UserID: "recent", Cutoff: now})
	r.add(store.Revocation{Kind: store.RevokedUser, UserID: "recent", Cutoff: now.Add(-time.Hour)}) // never moves back
	r.prune(now)
	if r.size() != 2 || r.users["recent"] != now.Unix() {
		t.Fatalf("after prune: %d revocations, recent's cutoff %d", r.size(), r.users["recent"])
	}
	if r.add(store.Revocation{Kind: store.RevokedToken, TokenDigest: "not-hex"}) {
		t.Error("a malformed digest was added")
	}
}

// The replica of an environment whose ID has glob characters holds that
// environment's revocations: a never-checked revoked token is refused.
func TestReplicaOfEnvironmentWithGlobCharacters(t *testing.T) {
	srv := redistest.Start(t)
	open := func() *store.Store {
		st, err := store.New(store.Options{Addresses: []string{srv.Addr}, EnvironmentID: `prod[1`, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	now := time.Now()
	revoked := tok("a.a.a", "ua", "", now)
	if _, err := open().RevokeToken(context.Background(), store.TokenDigest(revoked.Raw), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c := newChecker(t, &countingSource{Store: open()}, Options{})
	mustRevoked(t, c, tok("warm.up.x", "w", "", now))
	waitReplica(t, c)
	if !mustRevoked(t, c, revoked) {
		t.Error("a revoked token is accepted: the replica's snapshot found none of the environment's keys")
	}
}

// TestReplicaLoadedOnce: an instance that starts with revocations already
// logged, or that sees the log's first entry after it started, keeps the
// replica it loaded: the snapshot names its log, and a log that begins
// where the reader knew none is adopted, not taken for another one.
func TestReplicaLoadedOnce(t *testing.T) {
	for _, logged := range []bool{true, false} {
		srv := redistest.Start(t)
		src := &countingSource{Store: newStore(t, srv.Addr)}
		other := newStore(t, srv.Addr)
		ctx := context.Background()
		now := time.Now()
		if logged {
			if _, err := other.RevokeUser(ctx, "before", now); err != nil {
				t.Fatal(err)
			}
		}
		c := newChecker(t, src, Options{})
		mustRevoked(t, c, tok("warm.up.x", "w", "", now))
		waitReplica(t, c)
		if _, err := other.RevokeUser(ctx, "after", now); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * DefaultPollInterval) // the reader applies the entry
		waitReplica(t, c)
		if n := src.snapshots.Load(); n != 1 {
			t.Errorf("revocations logged before start %v: %d snapshots loaded, want 1", logged, n)
		}
	}
}

// snapshotCountingSource counts the revocations its snapshots hand over.
type snapshotCountingSource struct {
	*store.Store
	handed atomic.Int64
}

func (s *snapshotCountingSource) RevocationSnapshot(ctx context.Context, fn func(store.Revocation)) (string, uint64, error) {
	return s.Store.RevocationSnapshot(ctx, func(e store.Revocation) {
		s.handed.Add(1)
		fn(e)
	})
}

// Once a snapshot is over the replica's budget its load is given up:
// scanning on through the rest of Redis's keys (a whole master's, in a
// Cluster) would load it for nothing, again at every retry.
func TestReplicaOverBudgetStopsTheScan(t *testing.T) {
	srv := redistest.Start(t)
	src := &snapshotCountingSource{Store: newStore(t, srv.Addr)}
	ctx := context.Background()
	now := time.Now()
	const revocations = 3000
	for i := range revocations {
		if _, err := src.RevokeUser(ctx, fmt.Sprintf("user-%d", i), now); err != nil {
			t.Fatal(err)
		}
	}
	c := newChecker(t, src, Options{ReplicaSize: 10})
	mustRevoked(t, c, tok("warm-up", "u0", "", now))
	waitFresh(t, c)
	if c.Replicated() {
		t.Fatal("a replica over its budget was kept")
	}
	if n := src.handed.Load(); n >= revocations/2 {
		t.Errorf("the snapshot read %d of %d revocations for a replica of 10", n, revocations)
	}
}

// A replica found over its budget is not tried again as soon as one that
// failed to load: the revocations end only with their tokens, and each
// try scans Redis's keys.
func TestReplicaOverBudgetIsRetriedLater(t *testing.T) {
	srv := redistest.Start(t)
	src := &countingSource{Store: newStore(t, srv.Addr)}
	ctx := context.Background()
	now := time.Now()
	for _, u := range []string{"a", "b", "c"} {
		if _, err := src.RevokeUser(ctx, u, now); err != nil {
			t.Fatal(err)
		}
	}
	c := newChecker(t, src, Options{ReplicaSize: 2})
	mustRevoked(t, c, tok("warm-up", "u0", "", now))
	waitFresh(t, c)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replicaAt = time.Now().Add(-replicaRetry - time.Second)
	if c.wantReplica() {
		t.Errorf("a replica over its budget is tried again after %v", replicaRetry)
	}
	c.replicaAt = time.Now().Add(-replicaOverBudgetRetry)
	if !c.wantReplica() {
		t.Errorf("a replica over its budget is not tried again after %v", replicaOverBudgetRetry)
	}
}

// The budget holds after the load too: revocations that reach a loaded
// replica through the log (a flood of them) past its budget drop it, and
// new tokens go to Redis again, as they would had the load found as many.
func TestReplicaGrownOverBudgetIsDropped(t *testing.T) {
	srv := redistest.Start(t)
	src := &countingSource{Store: newStore(t, srv.Addr)}
	ctx := context.Background()
	now := time.Now()
	const budget = 3
	c := newChecker(t, src, Options{ReplicaSize: budget, StaleAfter: time.Minute})
	mustRevoked(t, c, tok("warm-up", "u0", "", now))
	waitReplica(t, c)
	for i := range budget + 2 {
		if _, err := src.RevokeUser(ctx, fmt.Sprintf("user-%d", i), now); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	c.mu.RLock()
	held := 0
	if c.rep != nil {
		held = c.rep.size()
	}
	c.mu.RUnlock()
	if held > budget {
		t.Errorf("the replica holds %d revocations, over its budget of %d", held, budget)
	}
	for i := range budget + 2 {
		if !mustRevoked(t, c, tok(fmt.Sprintf("t-%d", i), fmt.Sprintf("user-%d", i), "", now)) {
			t.Errorf("user-%d's token accepted", i)
		}
	}
	if mustRevoked(t, c, tok("t-other", "other", "", now)) {
		t.Error("an unrevoked user's token refused")
	}
	// And it is not loaded again at once: the snapshot would be over
	// the budget as well.
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.wantReplica() {
		t.Error("a replica dropped over its budget is loaded again at once")
	}
}

// The entries a load reads again (replayAfterLoad) may start with a hole
// (entries deleted from the log's head): the snapshot holds what they
// revoked, so the hole is no gap, and the replica stays.
func TestReplicaReplayOverAHoleKeepsTheReplica(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv.Addr)
	now := time.Now()
	ctx := context.Background()
	for _, raw := range []string{"x.x.x", "y.y.y", "z.z.z"} { // entries 1 to 3
		if _, err := s.RevokeToken(ctx, store.TokenDigest(raw), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := redistest.Command(srv.Addr, "XDEL", "authedge:{"+testEnv+"}:rx", "1-1"); err != nil {
		t.Fatal(err)
	}
	c := newChecker(t, s, Options{})
	mustRevoked(t, c, tok("w.w.w", "u0", "", now)) // starts the reader
	waitReplica(t, c)
	// The read after the load replays entries 2 and 3; whatever it made
	// of the hole, it is done once entry 3 is applied.
	var resets uint64
	var loaded bool
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		c.mu.RLock()
		applied := c.applied
		resets, loaded = c.resets, c.rep != nil
		c.mu.RUnlock()
		if applied >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry 3 not applied after the load (applied %d)", applied)
		}
	}
	if !loaded || resets > 1 {
		t.Fatalf("replica loaded %v after %d resets; want it kept", loaded, resets)
	}
	if !mustRevoked(t, c, tok("x.x.x", "ux", "", now)) {
		t.Error("the snapshot's revocation before the hole is lost")
	}
}
