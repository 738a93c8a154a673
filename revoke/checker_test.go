package revoke

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/store"
)

const testEnv = "env-revoke"

// countingSource is the real store, counting the state reads a check
// makes; watch false hides the Pub/Sub channel, as a lost subscription.
type countingSource struct {
	*store.Store
	reads     atomic.Int64
	snapshots atomic.Int64
	watch     bool
}

func (s *countingSource) RevocationState(ctx context.Context, d, u, dev string) (store.RevocationState, error) {
	s.reads.Add(1)
	return s.Store.RevocationState(ctx, d, u, dev)
}

func (s *countingSource) RevocationSnapshot(ctx context.Context, fn func(store.Revocation)) (string, uint64, error) {
	s.snapshots.Add(1)
	return s.Store.RevocationSnapshot(ctx, fn)
}

func (s *countingSource) WatchRevocations(refused func(error)) (<-chan struct{}, func() error) {
	if !s.watch {
		return nil, func() error { return nil }
	}
	return s.Store.WatchRevocations(refused)
}

func newStore(t testing.TB, addr string) *store.Store {
	t.Helper()
	st, err := store.New(store.Options{Addresses: []string{addr}, EnvironmentID: testEnv, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newChecker(t testing.TB, src Source, opts Options) *Checker {
	t.Helper()
	c, err := New(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func tok(raw, sub, device string, iat time.Time) Token {
	return Token{Raw: raw, Subject: sub, DeviceID: device, IssuedAt: iat}
}

// waitFresh waits for the checker's first complete read of the log.
func waitFresh(t testing.TB, c *Checker) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !c.fresh() {
		if time.Now().After(deadline) {
			t.Fatal("the checker never read the revocation log")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustRevoked(t testing.TB, c *Checker, tk Token) bool {
	t.Helper()
	r, err := c.Revoked(context.Background(), tk)
	if err != nil {
		t.Fatalf("Revoked: %v", err)
	}
	return r
}

// refusedWithin polls until c calls tk revoked, and fails past limit.
func refusedWithin(t testing.TB, c *Checker, tk Token, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for !mustRevoked(t, c, tk) {
		if time.Since(start) > limit {
			t.Fatalf("token still accepted %v after its revocation", limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// A valid token checked again costs no round trip while the log is read;
// a revocation written by another instance's store turns it within a
// second, with the Pub/Sub channel and without it.
func TestRevocationReachesAnotherInstanceWithinASecond(t *testing.T) {
	for _, watch := range []bool{true, false} {
		name := "pubsub"
		if !watch {
			name = "polling only"
		}
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t)
			src := &countingSource{Store: newStore(t, srv.Addr), watch: watch}
			other := newStore(t, srv.Addr) // the instance that revokes
			c := newChecker(t, src, Options{})
			now := time.Now()
			tk := tok("header.payload.sig-"+name, "u1", "", now)

			if mustRevoked(t, c, tk) {
				t.Fatal("a fresh token is revoked")
			}
			waitFresh(t, c)
			mustRevoked(t, c, tk) // remembered from here on
			before := src.reads.Load()
			for range 1000 {
				if mustRevoked(t, c, tk) {
					t.Fatal("the token turned revoked with no revocation")
				}
			}
			if n := src.reads.Load() - before; n != 0 {
				t.Fatalf("1000 checks of a remembered token made %d Redis reads, want 0", n)
			}

			if _, err := other.RevokeToken(context.Background(), store.TokenDigest(tk.Raw), now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			took := refusedWithin(t, c, tk, time.Second)
			t.Logf("refused %v after the revocation", took)
		})
	}
}

func TestCutoffsTurnRememberedVerdicts(t *testing.T) {
	srv := redistest.Start(t)
	src := &countingSource{Store: newStore(t, srv.Addr), watch: true}
	c := newChecker(t, src, Options{})
	ctx := context.Background()
	cut := time.Now().Truncate(time.Second)

	before := tok("t-before", "u1", "", cut)
	noIat := tok("t-noiat", "u1", "", time.Time{})
	after := tok("t-after", "u1", "", cut.Add(time.Second))
	otherUser := tok("t-other", "u2", "", cut)
	devA := tok("t-dev-a", "u3", "dev-a", cut)
	devB := tok("t-dev-b", "u3", "dev-b", cut)
	devALater := tok("t-dev-a-later", "u3", "dev-a", cut.Add(time.Second))
	unbound := tok("t-unbound", "u3", "", cut)
	all := []Token{before, noIat, after, otherUser, devA, devB, devALater, unbound}
	for _, tk := range all {
		if mustRevoked(t, c, tk) {
			t.Fatalf("%s revoked before any revocation", tk.Raw)
		}
	}
	waitFresh(t, c)

	if _, err := src.RevokeUser(ctx, "u1", cut); err != nil {
		t.Fatal(err)
	}
	if _, err := src.RevokeDevice(ctx, "u3", "dev-a", cut); err != nil {
		t.Fatal(err)
	}
	refusedWithin(t, c, devA, time.Second) // both entries applied by now
	want := map[string]bool{
		before.Raw: true, noIat.Raw: true, after.Raw: false, otherUser.Raw: false,
		devA.Raw: true, devB.Raw: false, devALater.Raw: false, unbound.Raw: false,
	}
	for _, tk := range all {
		if got := mustRevoked(t, c, tk); got != want[tk.Raw] {
			t.Errorf("%s: revoked %v, want %v", tk.Raw, got, want[tk.Raw])
		}
	}
	// A checker that never saw them reads the same from Redis.
	cold := newChecker(t, src, Options{CacheSize: -1, ReplicaSize: -1})
	for _, tk := range all {
		if got := mustRevoked(t, cold, tk); got != want[tk.Raw] {
			t.Errorf("from Redis, %s: revoked %v, want %v", tk.Raw, got, want[tk.Raw])
		}
	}
}

// With Redis gone, remembered verdicts are trusted no longer than
// StaleAfter: then every check fails, and never answers "not revoked".
func TestRedisDownFailsChecksOnceStale(t *testing.T) {
	srv := redistest.Start(t)
	src := &countingSource{Store: newStore(t, srv.Addr)}
	c := newChecker(t, src, Options{})
	tk := tok("t1", "u1", "", time.Now())
	mustRevoked(t, c, tk)
	waitFresh(t, c)
	srv.Stop()
	time.Sleep(DefaultStaleAfter + 100*time.Millisecond)
	_, err := c.Revoked(context.Background(), tk)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Revoked with Redis down = %v, want ErrUnavailable", err)
	}
}

// A reader started by a check made while Redis is away subscribed to the
// revocation channel before its first read of the log, in a dial that
// lasted until Redis came back or the store was closed. Close waits for
// the reader, and the store is closed after the checker that reads it
// (caddymodule's backend): a config reload or a shutdown during the
// outage hung for as long as the outage lasted. Close must be prompt.
func TestCloseDuringAnOutageIsPrompt(t *testing.T) {
	srv := redistest.Start(t)
	st := newStore(t, srv.Addr)
	srv.Stop()
	c, err := New(st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Revoked(context.Background(), tok("t1", "u1", "", time.Now())); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Revoked with Redis down = %v, want ErrUnavailable", err)
	}
	time.Sleep(200 * time.Millisecond) // the reader is started, and into its dial
	closed := make(chan struct{})
	go func() {
		_ = c.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("Close still waiting 3 s into the outage") // the store's Cleanup ends it
	}
}

// A log trimmed past what a checker had read makes it forget everything
// rather than keep a verdict an unseen entry changed.
func TestTrimmedLogForgetsVerdicts(t *testing.T) {
	srv := redistest.Start(t)
	src := &countingSource{Store: newStore(t, srv.Addr)}
	c := newChecker(t, src, Options{})
	tk := tok("t1", "u1", "", time.Now())
	mustRevoked(t, c, tk)
	waitFresh(t, c)
	c.Close() // hold the reader still while the log is changed behind it

	ctx := context.Background()
	if _, err := src.RevokeToken(ctx, store.TokenDigest(tk.Raw), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := src.RevokeUser(ctx, "someone", time.Now()); err != nil {
		t.Fatal(err)
	}
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer raw.Close()
	// The token's entry is gone: a trim that did nothing would leave no gap.
	if n, err := raw.XTrimMaxLen(ctx, "authedge:{"+testEnv+"}:rx", 1).Result(); err != nil || n != 1 {
		t.Fatalf("XTRIM: %d trimmed, %v; want the token's entry trimmed", n, err)
	}

	if err := c.sync(ctx); err != nil {
		t.Fatal(err)
	}
	c.mu.RLock()
	n := len(c.verdicts)
	c.mu.RUnlock()
	if n != 0 {
		t.Fatalf("%d verdicts kept across a gap in the log", n)
	}
	if !mustRevoked(t, c, tk) {
		t.Fatal("the token revoked in the lost entry is accepted")
	}
}

// A verdict read before an entry was applied is not remembered: the entry
// may have been about it.
func TestVerdictOlderThanTheLogIsNotRemembered(t *testing.T) {
	srv := redistest.Start(t)
	src := &countingSource{Store: newStore(t, srv.Addr)}
	c := newChecker(t, src, Options{})
	c.remember("t1", [32]byte{1}, tok("t1", "u1", "", time.Time{}), false, 0, 0)
	c.mu.Lock()
	c.applied = 5
	c.mu.Unlock()
	c.remember("t2", [32]byte{2}, tok("t2", "u1", "", time.Time{}), false, 4, 0)
	c.remember("t3", [32]byte{3}, tok("t3", "u1", "", time.Time{}), false, 5, 0)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if _, ok := c.verdicts[c.tokenKey("t2")]; ok {
		t.Error("a verdict read at entry 4 was remembered after entry 5 was applied")
	}
	if _, ok := c.verdicts[c.tokenKey("t3")]; !ok {
		t.Error("a verdict read at the applied entry was not remembered")
	}
}

func TestCacheIsBounded(t *testing.T) {
	srv := redistest.Start(t)
	src := &countingSource{Store: newStore(t, srv.Addr)}
	c := newChecker(t, src, Options{CacheSize: 3, ReplicaSize: -1}) // verdicts are kept only without a replica
	for i := range 10 {
		mustRevoked(t, c, tok(string(rune('a'+i)), "u1", "", time.Now()))
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if n := len(c.subjectVerdicts("u1")); len(c.verdicts) != 3 || len(c.byDigest) != 3 || n != 3 {
		t.Fatalf("%d verdicts, %d digests, %d of u1's; want 3 of each", len(c.verdicts), len(c.byDigest), n)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New took no source")
	}
	srv := redistest.Start(t)
	src := newStore(t, srv.Addr)
	if _, err := New(src, Options{PollInterval: time.Second, StaleAfter: time.Second}); err == nil {
		t.Error("New took StaleAfter not above PollInterval")
	}
}

// Checks racing with revocations, the log reader and the replica: once a
// second has passed after the last revocation, every revoked token is
// refused, whatever was remembered meanwhile.
func TestChecksRacingRevocations(t *testing.T) {
	srv := redistest.Start(t)
	src := &countingSource{Store: newStore(t, srv.Addr), watch: true}
	other := newStore(t, srv.Addr)
	c := newChecker(t, src, Options{CacheSize: 40})
	now := time.Now()
	tokens := make([]Token, 60)
	for i := range tokens {
		tokens[i] = tok(fmt.Sprintf("race-%d", i), fmt.Sprintf("u%d", i%7), fmt.Sprintf("d%d", i%3), now)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; ctx.Err() == nil; i++ {
				_, _ = c.Revoked(ctx, tokens[i%len(tokens)])
			}
		}()
	}
	for i, tk := range tokens {
		switch i % 3 {
		case 0:
			other.RevokeToken(context.Background(), store.TokenDigest(tk.Raw), now.Add(time.Hour))
		case 1:
			other.RevokeDevice(context.Background(), tk.Subject, tk.DeviceID, now)
		}
		time.Sleep(time.Millisecond)
	}
	other.RevokeUser(context.Background(), "u0", now)
	time.Sleep(time.Second)
	for i, tk := range tokens {
		// Revoked: u0's tokens, every third token itself, and every token
		// of a user on a device some token of which had it revoked.
		want := tk.Subject == "u0" || i%3 == 0
		for j, o := range tokens {
			if j%3 == 1 && o.Subject == tk.Subject && o.DeviceID == tk.DeviceID {
				want = true
			}
		}
		if got := mustRevoked(t, c, tk); got != want {
			t.Errorf("%s (%s on %s): revoked %v, want %v", tk.Raw, tk.Subject, tk.DeviceID, got, want)
		}
	}
	cancel()
	wg.Wait()
}

// A Redis user without the revocation channel (Redis 7 gives a new user
// none) leaves the instance to polling: it must say so once, at warn, or
// the operator never learns why revocations reach it late.
func TestRefusedChannelIsLogged(t *testing.T) {
	c, logs := checkerAsUser(t, "resetchannels", "~*", "+@all")
	if _, err := c.Revoked(t.Context(), tok("t1", "u1", "", time.Now())); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); logs.FilterMessageSnippet("only by polling").Len() == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no warning of the refused channel; logged %v", logs.All())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := logs.Len(); n != 1 {
		t.Errorf("%d warnings, want 1: %v", n, logs.All())
	}
}

// A Redis user without a command the reader needs (SCAN for the snapshot,
// XRANGE in the log's script) leaves every check to Redis: that must be
// said once, at warn, not only at debug as an outage is.
func TestRefusedReaderCommandIsLogged(t *testing.T) {
	for _, tc := range []struct{ cmd, msg string }{
		{"scan", "revocations not loaded"},
		{"xrange", "revocation log not read"},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			c, logs := checkerAsUser(t, "~*", "&*", "+@all", "-"+tc.cmd)
			_, _ = c.Revoked(t.Context(), tok("t1", "u1", "", time.Now()))
			for deadline := time.Now().Add(5 * time.Second); logs.FilterMessageSnippet(tc.msg).Len() == 0; {
				if time.Now().After(deadline) {
					t.Fatalf("no warning %q; logged %v", tc.msg, logs.All())
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(600 * time.Millisecond) // a few more reads of the log
			if n := logs.FilterMessageSnippet(tc.msg).Len(); n != 1 {
				t.Errorf("%d warnings, want 1: %v", n, logs.All())
			}
		})
	}
}

// checkerAsUser starts a Redis, gives it an ACL user with rules, and
// returns a Checker on a store logged in as that user, with the warnings
// it logs.
func checkerAsUser(t *testing.T, rules ...any) (*Checker, *observer.ObservedLogs) {
	t.Helper()
	srv := redistest.Start(t)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer admin.Close()
	args := append([]any{"acl", "setuser", "limited", "reset", "on", ">pw"}, rules...)
	if err := admin.Do(t.Context(), args...).Err(); err != nil {
		t.Fatal(err)
	}
	st, err := store.New(store.Options{Addresses: []string{srv.Addr}, EnvironmentID: testEnv, Username: "limited", Password: "pw", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	core, logs := observer.New(zap.WarnLevel)
	c, err := New(st, Options{Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, logs
}

// RevokedItself answers for the token's own revocation only, from the
// replica and from Redis alike: a cutoff that covers the token does not
// count (it may end before the token does).
func TestRevokedItselfLeavesCutoffsAside(t *testing.T) {
	srv := redistest.Start(t)
	src := &countingSource{Store: newStore(t, srv.Addr), watch: true}
	ctx := context.Background()
	own := tok("t-own", "u1", "dev-a", time.Time{})
	covered := tok("t-covered", "u1", "dev-a", time.Time{})
	if _, err := src.RevokeToken(ctx, store.TokenDigest(own.Raw), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := src.RevokeUser(ctx, "u1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := src.RevokeDevice(ctx, "u1", "dev-a", time.Now()); err != nil {
		t.Fatal(err)
	}
	replicated := newChecker(t, src, Options{})
	mustRevoked(t, replicated, own) // starts the reader
	waitFresh(t, replicated)
	deadline := time.Now().Add(5 * time.Second)
	for !replicated.Replicated() {
		if time.Now().After(deadline) {
			t.Fatal("no replica loaded")
		}
		time.Sleep(5 * time.Millisecond)
	}
	fromRedis := newChecker(t, src, Options{CacheSize: -1, ReplicaSize: -1})
	for name, c := range map[string]*Checker{"replica": replicated, "Redis": fromRedis} {
		for _, tc := range []struct {
			tk   Token
			want bool
		}{{own, true}, {covered, false}} {
			got, err := c.RevokedItself(ctx, tc.tk)
			if err != nil || got != tc.want {
				t.Errorf("%s: RevokedItself(%s) = %v, %v; want %v", name, tc.tk.Raw, got, err, tc.want)
			}
			if !mustRevoked(t, c, tc.tk) {
				t.Errorf("%s: Revoked(%s) = false, want true", name, tc.tk.Raw)
			}
		}
	}
}
