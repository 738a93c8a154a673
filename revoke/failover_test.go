package revoke

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/store"
)

// The log reader follows a Sentinel failover: a revocation written on the
// promoted master (with `wait 1`) reaches a checker that read the old one,
// its copy and its remembered verdicts alike, within the usual bound once
// Redis answers again; the revocations made before the kill stay. Close
// then leaves no reader goroutine behind.
func TestReaderFollowsSentinelFailover(t *testing.T) {
	fast := []string{"--repl-diskless-sync-delay", "0"}
	master := redistest.Start(t, fast...)
	replicas := []*redistest.Server{redistest.StartReplica(t, master, fast...), redistest.StartReplica(t, master, fast...)}
	sentinels := redistest.StartSentinels(t, master, len(replicas),
		redistest.SentinelConfig{MasterName: "revoke", Count: 3, Quorum: 2, DownAfter: 500 * time.Millisecond})
	var addrs []string
	for _, s := range sentinels {
		addrs = append(addrs, s.Addr)
	}
	open := func() *store.Store {
		st, err := store.New(store.Options{SentinelMaster: "revoke", SentinelAddresses: addrs, EnvironmentID: testEnv,
			Timeout: 500 * time.Millisecond, WaitReplicas: 1, WaitTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	// Checked once the stores and the checker are closed (cleanups run
	// last first).
	goroutines := runtime.NumGoroutine()
	t.Cleanup(func() {
		for end := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > goroutines; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(end) {
				buf := make([]byte, 1<<16)
				t.Errorf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), goroutines, buf[:runtime.Stack(buf, true)])
				return
			}
		}
	})
	src, other := open(), open()
	c := newChecker(t, src, Options{})
	ctx := context.Background()
	now := time.Now()
	before, seen, never := tok("before.x.x", "u1", "", now), tok("seen.x.x", "u2", "", now), tok("never.x.x", "u3", "", now)
	if _, err := other.RevokeToken(ctx, store.TokenDigest(before.Raw), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if mustRevoked(t, c, seen) || !mustRevoked(t, c, before) {
		t.Fatal("wrong verdicts before the failover")
	}
	waitReplica(t, c)

	master.Stop() // SIGKILL
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := other.RevokeUser(ctx, "u2", now)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no revocation confirmed after the kill: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := other.RevokeUser(ctx, "u3", now); err != nil {
		t.Fatal(err)
	}
	// Checks fail while the reader has not read the new master; once it
	// has, both revocations are refused.
	limit := time.Now().Add(5 * time.Second)
	for {
		r1, err1 := c.Revoked(ctx, seen)
		r2, err2 := c.Revoked(ctx, never)
		if err1 == nil && err2 == nil && r1 && r2 {
			break
		}
		if time.Now().After(limit) {
			t.Fatalf("after the failover: %v %v, %v %v; want both revoked", r1, err1, r2, err2)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !mustRevoked(t, c, before) {
		t.Error("a revocation confirmed before the failover was forgotten")
	}
}
