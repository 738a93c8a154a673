package store

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

func TestRevokeTokenLivesUntilItsEnd(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	d := TokenDigest("a.b.c")
	seq, err := f.RevokeToken(ctx, d, f.clock.Now().Add(90*time.Second))
	if err != nil || seq != 1 {
		t.Fatalf("RevokeToken = %d, %v; want 1", seq, err)
	}
	key := "authedge:{" + testEnv + "}:rt:" + d
	ttl := f.raw.PTTL(ctx, key).Val()
	if ttl <= 85*time.Second || ttl > 90*time.Second {
		t.Errorf("revoked token key TTL %v, want about 90s", ttl)
	}
	st, err := f.RevocationState(ctx, d, "u1", "")
	if err != nil || !st.TokenRevoked || st.Seq != 1 {
		t.Fatalf("RevocationState = %+v, %v; want revoked at seq 1", st, err)
	}
	other, err := f.RevocationState(ctx, TokenDigest("x.y.z"), "u1", "dev")
	if err != nil || other.TokenRevoked || !other.UserCutoff.IsZero() || !other.DeviceCutoff.IsZero() {
		t.Fatalf("another token's state = %+v, %v; want nothing revoked", other, err)
	}

	// Revoking it again adds no entry.
	if seq, err := f.RevokeToken(ctx, d, f.clock.Now().Add(time.Hour)); err != nil || seq != 1 {
		t.Fatalf("RevokeToken again = %d, %v; want the current seq 1", seq, err)
	}

	// A token already past its end needs no key and no log entry.
	seq, err = f.RevokeToken(ctx, TokenDigest("old"), f.clock.Now().Add(-time.Second))
	if err != nil || seq != 0 {
		t.Fatalf("RevokeToken of an ended token = %d, %v; want 0, nil", seq, err)
	}
	if _, err := f.RevokeToken(ctx, "not-a-digest", f.clock.Now().Add(time.Hour)); err == nil {
		t.Fatal("RevokeToken took a malformed digest")
	}
}

func TestRevokeUserCutoffOnlyMovesForward(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	later := time.Unix(1_700_000_500, 0)
	earlier := time.Unix(1_700_000_100, 0)
	if _, err := f.RevokeUser(ctx, "u1", later); err != nil {
		t.Fatal(err)
	}
	// An earlier or equal cutoff revokes nothing more: no log entry.
	for _, cut := range []time.Time{earlier, later} {
		if seq, err := f.RevokeUser(ctx, "u1", cut); err != nil || seq != 1 {
			t.Fatalf("RevokeUser(%v) = %d, %v; want the current seq 1", cut, seq, err)
		}
	}
	st, err := f.RevocationState(ctx, TokenDigest("t"), "u1", "")
	if err != nil || !st.UserCutoff.Equal(later) || st.Seq != 1 {
		t.Fatalf("state = %+v, %v; want the later cutoff at seq 1", st, err)
	}
	if seq, err := f.RevokeUser(ctx, "u1", later.Add(time.Second)); err != nil || seq != 2 {
		t.Fatalf("a later cutoff = %d, %v; want a new entry 2", seq, err)
	}
	ttl := f.raw.PTTL(ctx, "authedge:{"+testEnv+"}:ru:u1").Val()
	if ttl < RevocationHorizon-time.Minute {
		t.Errorf("user cutoff TTL %v, want about %v", ttl, RevocationHorizon)
	}
	if _, err := f.RevokeUser(ctx, "", later); err == nil {
		t.Fatal("RevokeUser took an empty user")
	}
}

func TestRevokeDeviceIsPerUserAndDevice(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	cut := time.Unix(1_700_000_000, 0)
	if _, err := f.RevokeDevice(ctx, "u1", "a:b", cut); err != nil {
		t.Fatal(err)
	}
	st, _ := f.RevocationState(ctx, TokenDigest("t"), "u1", "a:b")
	if !st.DeviceCutoff.Equal(cut) || !st.UserCutoff.IsZero() {
		t.Fatalf("state = %+v; want the device cutoff only", st)
	}
	// "u1" + "a:b" and "u1:a" + "b" must not share a key.
	for _, pair := range [][2]string{{"u1:a", "b"}, {"u2", "a:b"}, {"u1", "a"}} {
		st, _ := f.RevocationState(ctx, TokenDigest("t"), pair[0], pair[1])
		if !st.DeviceCutoff.IsZero() {
			t.Errorf("user %q device %q shares the revocation of u1/a:b", pair[0], pair[1])
		}
	}
	if _, err := f.RevokeDevice(ctx, "u1", "", cut); err == nil {
		t.Fatal("RevokeDevice took an empty device")
	}
}

func TestRevocationLog(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	d := TokenDigest("tok")
	cut := time.Unix(1_700_000_000, 0)
	f.RevokeToken(ctx, d, f.clock.Now().Add(time.Hour))
	f.RevokeUser(ctx, "u1", cut)
	f.RevokeDevice(ctx, "u2", "dev-1", cut)

	_, seq, _, entries, err := f.RevocationsSince(ctx, 0, 10)
	if err != nil || seq != 3 || len(entries) != 3 {
		t.Fatalf("RevocationsSince(0) = %d, %d entries, %v", seq, len(entries), err)
	}
	want := []Revocation{
		{Seq: 1, Kind: RevokedToken, TokenDigest: d},
		{Seq: 2, Kind: RevokedUser, UserID: "u1", Cutoff: cut},
		{Seq: 3, Kind: RevokedDevice, UserID: "u2", DeviceID: "dev-1", Cutoff: cut},
	}
	for i, w := range want {
		g := entries[i]
		if g.Seq != w.Seq || g.Kind != w.Kind || g.TokenDigest != w.TokenDigest || g.UserID != w.UserID ||
			g.DeviceID != w.DeviceID || !g.Cutoff.Equal(w.Cutoff) {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
	}
	first := entries
	if first[0].Nonce == "" || first[0].Nonce == first[1].Nonce {
		t.Errorf("entry nonces %q and %q: want set and distinct", first[0].Nonce, first[1].Nonce)
	}
	_, seq, at, entries, err := f.RevocationsSince(ctx, 2, 10)
	if err != nil || seq != 3 || len(entries) != 1 || entries[0].Seq != 3 {
		t.Fatalf("RevocationsSince(2) = %d, %+v, %v", seq, entries, err)
	}
	if at != first[1].Nonce {
		t.Errorf("RevocationsSince(2) names entry 2's nonce %q, want %q", at, first[1].Nonce)
	}
	_, _, _, entries, _ = f.RevocationsSince(ctx, 0, 2)
	if len(entries) != 2 {
		t.Fatalf("limit 2 gave %d entries", len(entries))
	}
}

// A sequence counter lost on its own (evicted, or from an older save)
// must not make the script fail after writing the revocation: the next
// entry numbers on from the log.
func TestRevocationSequenceSurvivesALostCounter(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	f.RevokeUser(ctx, "u1", time.Unix(1_700_000_000, 0))
	f.RevokeUser(ctx, "u1", time.Unix(1_700_000_001, 0))
	f.raw.Del(ctx, "authedge:{"+testEnv+"}:rs")
	seq, err := f.RevokeToken(ctx, TokenDigest("t"), f.clock.Now().Add(time.Hour))
	if err != nil || seq != 3 {
		t.Fatalf("RevokeToken after the counter was lost = %d, %v; want 3", seq, err)
	}
	_, _, _, entries, _ := f.RevocationsSince(ctx, 2, 10)
	if len(entries) != 1 || entries[0].Seq != 3 {
		t.Fatalf("log after the counter was lost: %+v", entries)
	}
}

func TestRevocationKeysShareTheHashTag(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	f.RevokeToken(ctx, TokenDigest("t"), f.clock.Now().Add(time.Hour))
	f.RevokeUser(ctx, "u1", time.Unix(1, 0))
	f.RevokeDevice(ctx, "u1", "d", time.Unix(1, 0))
	keys := f.raw.Keys(ctx, "*").Val()
	if len(keys) != 6 { // rt, ru, rd, rs, re, rx
		t.Errorf("keys = %v, want 6", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "authedge:{"+testEnv+"}:") {
			t.Errorf("key %q is outside the environment's hash tag", k)
		}
	}
}

func TestWatchRevocationsNudges(t *testing.T) {
	f := newFixture(t)
	nudges, stop := f.WatchRevocations(nil)
	defer stop()
	revokeUntilNudged(t, f.Store, nudges)
}

// revokeUntilNudged revokes user u1's tokens, a later cutoff each time
// (so each is a new log entry), until nudges hears of one: the
// subscription is set up asynchronously. It fails t after 5 s.
func revokeUntilNudged(t *testing.T, s *Store, nudges <-chan struct{}) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for i := int64(1); ; i++ {
		if _, err := s.RevokeUser(ctxT(t), "u1", time.Unix(i, 0)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-nudges:
			return
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatal("no nudge within 5s of revocations")
		}
	}
}

// TestRevocationOnCluster: the revocation keys share one slot, and the
// channel's messages reach a subscriber on a three-master Redis Cluster.
func TestRevocationOnCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	s, err := New(Options{Addresses: c.Addrs(), EnvironmentID: testEnv, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := ctxT(t)
	nudges, stop := s.WatchRevocations(nil)
	defer stop()
	d := TokenDigest("tok")
	if _, err := s.RevokeToken(ctx, d, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeDevice(ctx, "u1", "dev", time.Unix(1_700_000_000, 0)); err != nil {
		t.Fatal(err)
	}
	st, err := s.RevocationState(ctx, d, "u1", "dev")
	if err != nil || !st.TokenRevoked || st.DeviceCutoff.IsZero() || st.Seq != 2 {
		t.Fatalf("RevocationState = %+v, %v", st, err)
	}
	_, seq, _, entries, err := s.RevocationsSince(ctx, 0, 10)
	if err != nil || seq != 2 || len(entries) != 2 {
		t.Fatalf("RevocationsSince = %d, %+v, %v", seq, entries, err)
	}
	revokeUntilNudged(t, s, nudges)
}

func TestRevocationSnapshot(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	d := TokenDigest("tok")
	until := f.clock.Now().Add(time.Hour)
	cut := time.Unix(1_700_000_000, 0)
	f.RevokeToken(ctx, d, until)
	f.RevokeUser(ctx, "u:1", cut)
	f.RevokeDevice(ctx, "u2", "dev:1", cut)
	f.raw.Set(ctx, "authedge:{"+testEnv+"}:p:u:1", "x", 0) // not a revocation

	var got []Revocation
	epoch, seq, err := f.RevocationSnapshot(ctx, func(r Revocation) { got = append(got, r) })
	if err != nil || seq != 3 || len(got) != 3 {
		t.Fatalf("RevocationSnapshot = %d, %+v, %v; want 3 revocations at seq 3", seq, got, err)
	}
	// It names the log it is a snapshot of, as reading the log does.
	if logEpoch, _, _, _, err := f.RevocationsSince(ctx, seq, 10); err != nil || epoch == "" || epoch != logEpoch {
		t.Errorf("snapshot epoch %q, the log's %q (%v)", epoch, logEpoch, err)
	}
	for _, r := range got {
		switch r.Kind {
		case RevokedToken:
			if r.TokenDigest != d || r.Until.Sub(until).Abs() > 5*time.Second {
				t.Errorf("token %+v, want digest %s until %v", r, d, until)
			}
		case RevokedUser:
			if r.UserID != "u:1" || !r.Cutoff.Equal(cut) {
				t.Errorf("user %+v", r)
			}
		case RevokedDevice:
			if r.DeviceDigest != DeviceDigest("u2", "dev:1") || !r.Cutoff.Equal(cut) {
				t.Errorf("device %+v", r)
			}
		}
	}
	// The log says the same of the token's end and the device.
	_, _, _, entries, _ := f.RevocationsSince(ctx, 0, 10)
	if !entries[0].Until.Equal(until.Truncate(time.Millisecond)) || entries[2].DeviceDigest != DeviceDigest("u2", "dev:1") {
		t.Errorf("log entries %+v", entries)
	}
}

func TestRevocationSnapshotOnCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	s, err := New(Options{Addresses: c.Addrs(), EnvironmentID: testEnv, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := ctxT(t)
	s.RevokeUser(ctx, "u1", time.Unix(1_700_000_000, 0))
	s.RevokeToken(ctx, TokenDigest("t"), time.Now().Add(time.Hour))
	n := 0
	_, seq, err := s.RevocationSnapshot(ctx, func(Revocation) { n++ })
	if err != nil || seq != 2 || n != 2 {
		t.Fatalf("RevocationSnapshot on a cluster = %d, %d revocations, %v", seq, n, err)
	}
}

// The digest covers the signed content only, so every signature over the
// same header and payload is the same token; a different payload is not.
func TestTokenDigestIgnoresTheSignature(t *testing.T) {
	if TokenDigest("h.p.sig1") != TokenDigest("h.p.sig2") || TokenDigest("h.p.") != TokenDigest("h.p.x") {
		t.Error("two signatures over h.p have different digests")
	}
	if TokenDigest("h.p.sig") == TokenDigest("h.q.sig") || TokenDigest("h.p.sig") == TokenDigest("g.p.sig") {
		t.Error("different content, same digest")
	}
	if TokenContent("h.p.s") != "h.p" || TokenContent("nodot") != "nodot" {
		t.Errorf("TokenContent: %q %q", TokenContent("h.p.s"), TokenContent("nodot"))
	}
}

// The log's epoch is set with its first entry, stays while the log does,
// and is another one for a log begun after Redis lost the first.
func TestRevocationLogEpoch(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	if epoch, _, _, _, err := f.RevocationsSince(ctx, 0, 10); err != nil || epoch != "" {
		t.Fatalf("epoch of no log = %q, %v", epoch, err)
	}
	epochAfter := func(user string) string {
		t.Helper()
		if _, err := f.RevokeUser(ctx, user, time.Unix(1_700_000_000, 0)); err != nil {
			t.Fatal(err)
		}
		epoch, _, _, _, err := f.RevocationsSince(ctx, 0, 10)
		if err != nil || epoch == "" {
			t.Fatalf("epoch = %q, %v", epoch, err)
		}
		return epoch
	}
	first := epochAfter("u1")
	if again := epochAfter("u2"); again != first {
		t.Errorf("the epoch changed from %q to %q with the log kept", first, again)
	}
	f.srv.Restart()
	var renewed string
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, err := f.RevokeUser(ctx, "u1", time.Unix(1_700_000_000, 0))
		if err == nil {
			renewed, _, _, _, err = f.RevocationsSince(ctx, 0, 10)
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if renewed == "" || renewed == first {
		t.Errorf("a new log after the restart has epoch %q, the lost one had %q", renewed, first)
	}
}

// An environment ID with glob characters is matched as written by the
// snapshot's SCAN: "prod[1" finds its own keys, and "p*" not those of "px".
func TestRevocationSnapshotEscapesTheEnvironmentID(t *testing.T) {
	srv := redistest.Start(t)
	ctx := ctxT(t)
	open := func(env string) *Store {
		s, err := New(Options{Addresses: []string{srv.Addr}, EnvironmentID: env, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	envs := []string{`prod[1`, `p*`, `px`, `a?b`, `x\y]`}
	for _, env := range envs {
		if _, err := open(env).RevokeUser(ctx, "user-of-"+env, time.Unix(1_700_000_000, 0)); err != nil {
			t.Fatal(err)
		}
	}
	for _, env := range envs {
		var got []string
		if _, _, err := open(env).RevocationSnapshot(ctx, func(r Revocation) { got = append(got, r.UserID) }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != "user-of-"+env {
			t.Errorf("environment %q: snapshot = %q, want only its own revocation", env, got)
		}
	}
}

func TestGlobEscape(t *testing.T) {
	for in, want := range map[string]string{"prod": "prod", `a*b?c[d]e\f`: `a\*b\?c\[d\]e\\f`, "": ""} {
		if got := globEscape(in); got != want {
			t.Errorf("globEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRevocationEventOrNothing: with events on, a revocation appends its
// user.tokens_revoked event in its own script, only when it revokes
// something new; and a key of the wrong type (the event stream's, the
// log's, the counter's) fails it with nothing revoked and no event.
func TestRevocationEventOrNothing(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	r := Revoke{Kind: RevokedUser, UserID: "u1", Cutoff: time.Unix(1_700_000_000, 0), Actor: "admin",
		Origin: testOrigin("d1"), Events: eventsOn}
	if _, err := f.Revoke(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Revoke(ctx, r); err != nil { // nothing new
		t.Fatal(err)
	}
	if n := f.raw.XLen(ctx, f.keys.events()).Val(); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
	if _, err := f.Revoke(ctx, Revoke{Kind: RevokedUser, UserID: "u1", Cutoff: time.Unix(1, 0), Events: eventsOn}); err == nil {
		t.Fatal("events without an origin accepted")
	}
	for _, broken := range []string{f.keys.events(), f.keys.revocationLog(), f.keys.revocationSeq()} {
		f := newFixture(t)
		f.raw.HSet(ctx, broken, "x", "y")
		d := Revoke{Kind: RevokedDevice, UserID: "u1", DeviceID: "d1", Cutoff: time.Unix(1_700_000_000, 0), Actor: "u1",
			Origin: testOrigin("d1"), Events: eventsOn}
		if _, err := f.Revoke(ctx, d); err == nil {
			t.Fatalf("%s broken: the revocation succeeded", broken)
		}
		if keys := f.raw.Keys(ctx, "*").Val(); len(keys) != 1 {
			t.Errorf("%s broken: the failed revocation left %v", broken, keys)
		}
	}
}

// A key the snapshot's read could not read is an error, not a key to
// skip: a snapshot missing a revocation would be trusted as whole. A key
// gone since the scan (nil) is skipped, and must not hide the error of a
// key after it in the same read. (A wrong type stands in for the errors a
// read can meet half-way, such as MOVED from a node failed over.)
func TestRevocationSnapshotReadFailsOnAnUnreadableKey(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	base := "authedge:{" + testEnv + "}:"
	bad := base + "rt:" + TokenDigest("bad")
	f.raw.HSet(ctx, bad, "x", "1")
	keys := []string{base + "rt:" + TokenDigest("gone"), bad}
	var got []Revocation
	err := f.readRevocationKeys(ctx, f.raw, keys, func(r Revocation) { got = append(got, r) })
	if err == nil {
		t.Errorf("a key that could not be read was skipped (handed %+v)", got)
	}
}

// A revoked token's key outlives the token: the verifier accepts it until
// the very end (exp plus leeway), so the key's TTL is that end rounded up
// to Redis's milliseconds, never down (a key gone a fraction of a
// millisecond early would let the token pass that long). The TTL sent is
// measured as the key's PEXPIRETIME minus Redis's TIME, read before and
// after in the same millisecond.
func TestRevokedTokenKeyTTLIsRoundedUp(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	redisMillis := func() int64 {
		tm, err := f.raw.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixMilli()
	}
	for i := range 200 {
		d := TokenDigest(fmt.Sprintf("t%d", i))
		before := redisMillis()
		if _, err := f.RevokeToken(ctx, d, f.clock.Now().Add(10*time.Second+500*time.Microsecond)); err != nil {
			t.Fatal(err)
		}
		after := redisMillis()
		if before != after {
			continue // the TTL sent is not known exactly: again
		}
		at, err := f.raw.Do(ctx, "PEXPIRETIME", "authedge:{"+testEnv+"}:rt:"+d).Int64()
		if err != nil {
			t.Fatal(err)
		}
		if ttl := at - before; ttl < 10_001 {
			t.Fatalf("a token ending in 10000.5 ms got a key TTL of %d ms", ttl)
		}
		return
	}
	t.Skip("no revocation ran within one millisecond of Redis's clock")
}

// A token less than a millisecond from its end is still revoked: it is
// accepted until then.
func TestRevokeTokenInItsLastMillisecond(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	d := TokenDigest("last")
	seq, err := f.RevokeToken(ctx, d, f.clock.Now().Add(500*time.Microsecond))
	if err != nil || seq != 1 {
		t.Fatalf("RevokeToken = %d, %v; want 1", seq, err)
	}
}

// noChannelUser makes on f's Redis a user with every command and key but
// no Pub/Sub channel, as Redis 7 makes a user whose ACL names none
// (acl-pubsub-default resetchannels), and a store connecting as it.
func noChannelUser(t *testing.T, f *fixture) *Store {
	t.Helper()
	if err := f.raw.Do(ctxT(t), "acl", "setuser", "nochannel", "reset", "on", ">pw", "resetchannels", "~*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Addresses: []string{f.srv.Addr}, EnvironmentID: testEnv, Username: "nochannel", Password: "pw", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestRevokeWithoutChannelRights: a Redis user without the revocation
// channel cannot tell the other instances at once, but the revocation is
// recorded and logged, and they read it at their next poll: it is
// answered as done, not as a failure that leaves it standing.
func TestRevokeWithoutChannelRights(t *testing.T) {
	f := newFixture(t)
	s := noChannelUser(t, f)
	ctx := ctxT(t)
	d := TokenDigest("a.b.c")
	seq, err := s.RevokeToken(ctx, d, time.Now().Add(time.Hour))
	if err != nil || seq != 1 {
		t.Fatalf("RevokeToken = %d, %v; want 1, nil", seq, err)
	}
	if st, err := f.RevocationState(ctx, d, "u1", ""); err != nil || !st.TokenRevoked || st.Seq != 1 {
		t.Fatalf("RevocationState = %+v, %v", st, err)
	}
}

// TestWatchRevocationsReportsRefusal: a subscription Redis refuses (a
// user without the channel) is reported, not dropped without a word,
// and the nudges end: the caller is left to polling.
func TestWatchRevocationsReportsRefusal(t *testing.T) {
	f := newFixture(t)
	s := noChannelUser(t, f)
	refusals := make(chan error, 2)
	nudges, stop := s.WatchRevocations(func(err error) { refusals <- err })
	defer stop()
	wantRefused(t, refusals, nudges, "NOPERM", f.keys.revocationChannel())
	// A user allowed the channel (the fixture's) is reported by no one.
	nudges2, stop2 := f.WatchRevocations(func(err error) { t.Errorf("refused: %v", err) })
	defer stop2()
	revokeUntilNudged(t, f.Store, nudges2)
}

// TestWatchRevocationsReportsRefusalAfterAFailedFirstTry: a first
// subscription that does not reach Redis (here the user does not exist
// yet; in production, an outage longer than the dial's patience, which
// through Sentinel is one timeout) is tried again until Redis answers it,
// and a refusal then is reported too, not dropped by the reconnections of
// go-redis's PubSub channel.
func TestWatchRevocationsReportsRefusalAfterAFailedFirstTry(t *testing.T) {
	f := newFixture(t)
	s, err := New(Options{Addresses: []string{f.srv.Addr}, EnvironmentID: testEnv, Username: "latecomer", Password: "pw", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	refusals := make(chan error, 2)
	nudges, stop := s.WatchRevocations(func(err error) { refusals <- err })
	defer stop()
	time.Sleep(300 * time.Millisecond) // the first try fails: no such user
	if err := f.raw.Do(ctxT(t), "acl", "setuser", "latecomer", "reset", "on", ">pw", "resetchannels", "~*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, refusals, nudges, "NOPERM")
}

// wantRefused waits for WatchRevocations to report a refusal whose text
// holds each of want, then for its nudges to end without one.
func wantRefused(t *testing.T, refusals <-chan error, nudges <-chan struct{}, want ...string) {
	t.Helper()
	select {
	case err := <-refusals:
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("refusal = %v; want it to say %q", err, w)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a refused subscription was not reported")
	}
	select {
	case _, ok := <-nudges:
		if ok {
			t.Error("a nudge after the refusal")
		}
	case <-time.After(5 * time.Second):
		t.Error("the nudges did not end after the refusal")
	}
}
