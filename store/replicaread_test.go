package store

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// TestReadFromReplicasWhileMasterPaused: with ReadFromReplicas, user/me's
// read (EnsureProfile) and user/query's by ID (ProfilesByID) are served by
// the replica while the master is paused
// (CLIENT PAUSE ALL); an edit meanwhile is unavailable, and runs at most
// once (its rate-limit counter, which every run of the script counts,
// grows by one at most). A store reading from the master fails the same
// read, so the test would fail without the replica reads.
func TestReadFromReplicasWhileMasterPaused(t *testing.T) {
	const timeout = 300 * time.Millisecond
	fast := []string{"--repl-diskless-sync-delay", "0"}
	t.Run("sentinel", func(t *testing.T) {
		// A long down-after: the pause must not look like a dead master.
		master, replica, sentinel := sentinelWithReplica(t, fast...)
		open := func(fromReplicas bool) *Store {
			return openStore(t, Options{SentinelMaster: "authedge", SentinelAddresses: []string{sentinel},
				EnvironmentID: testEnv, Timeout: timeout, ReadFromReplicas: fromReplicas})
		}
		readFromPausedMaster(t, open(true), open(false), master, replica)
	})
	t.Run("cluster", func(t *testing.T) {
		// A paused master still answers on the cluster bus: no failover.
		// A short node timeout makes the nodes gossip the replicas' offsets
		// soon (see WaitSlotsListReplicas).
		c := redistest.StartClusterWith(t, redistest.ClusterConfig{Masters: 3, ReplicasPerMaster: 1, NodeTimeout: time.Second})
		open := func(fromReplicas bool) *Store {
			return openStore(t, Options{Addresses: c.Addrs(), EnvironmentID: testEnv, Timeout: timeout, ReadFromReplicas: fromReplicas})
		}
		s := open(true)
		master, replicas := c.MasterFor(t, c.Nodes[0], s.keys.profile("x"))
		// Only a replica that has replicated something is in CLUSTER
		// SLOTS: write, then have the replica client load its slot map.
		if _, err := s.EnsureProfile(ctxT(t), "u0"); err != nil {
			t.Fatal(err)
		}
		c.WaitSlotsListReplicas(t, replicas, 10*time.Second)
		s.reloadTopology()
		waitClusterKnowsReplica(t, s, replicas[0], 10*time.Second) // the reload runs in the background
		readFromPausedMaster(t, s, open(false), master, replicas[0])
	})
}

// waitClusterKnowsReplica waits until s's cluster client has loaded a
// slot map with replica in it: before, its reads go to the master.
func waitClusterKnowsReplica(t *testing.T, s *Store, replica *redistest.Server, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var mu sync.Mutex
		known := false
		err := s.clusters[0].ForEachSlave(ctxT(t), func(_ context.Context, c *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			known = known || c.Options().Addr == replica.Addr
			return nil
		})
		if err == nil && known {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster client does not know the replica %s after %v: %v", replica.Addr, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func openStore(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// readFromPausedMaster runs the test on s (reading from replicas) and
// fromMaster (reading from the master), both in front of master and its
// replica.
func readFromPausedMaster(t *testing.T, s, fromMaster *Store, master, replica *redistest.Server) {
	timeout := s.timeout
	ctx := ctxT(t)
	limit := Limit{Count: 100, Window: time.Minute}
	if _, err := s.Edit(ctx, Edit{Actor: "u1", Target: "u1", CreateIfMissing: true, RateLimit: limit,
		Changes: Changes{Nickname: ptr("Before")}}); err != nil {
		t.Fatal(err)
	}
	// The replica has it (replication is asynchronous; no wait here).
	redistest.WaitReplicated(t, master, replica, 5*time.Second)
	// Both stores have their connections: the pause must meet them, not
	// their first dial.
	if _, err := fromMaster.EnsureProfile(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnsureProfile(ctx, "u1"); err != nil {
		t.Fatal(err)
	}

	const pause = 2 * time.Second
	if _, err := redistest.Command(master.Addr, "CLIENT", "PAUSE", strconv.FormatInt(pause.Milliseconds(), 10), "ALL"); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()

	start := time.Now()
	p, err := s.EnsureProfile(ctx, "u1")
	if err != nil || p.Nickname != "Before" {
		t.Fatalf("user/me from a replica while the master is paused = %+v, %v", p, err)
	}
	if took := time.Since(start); took > timeout {
		t.Errorf("the replica read took %v", took)
	}
	// user/query by ID reads the replica too.
	if got, err := s.ProfilesByID(ctx, []string{"u1"}); err != nil || len(got) != 1 || got[0].Nickname != "Before" {
		t.Errorf("user/query by ID from a replica while the master is paused = %+v, %v", got, err)
	}
	if _, err := fromMaster.EnsureProfile(ctx, "u1"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("user/me from the paused master = %v, want unavailable", err)
	}
	_, err = s.Edit(ctx, Edit{Actor: "u1", Target: "u1", RateLimit: limit, Changes: Changes{Nickname: ptr("During")}})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("edit while the master is paused = %v, want unavailable", err)
	}
	if time.Since(paused) >= pause {
		t.Fatalf("the checks outlasted the pause (%v): they did not run paused", time.Since(paused))
	}

	// After the pause, and a moment more for anything queued to run.
	time.Sleep(time.Until(paused.Add(pause + 500*time.Millisecond)))
	runs, err := redistest.Command(master.Addr, "GET", s.keys.editRate("u1"))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(runs); n < 1 || n > 2 {
		t.Fatalf("the edit script ran %s times for one acknowledged edit and one unavailable one", runs)
	}
	p, _, err = s.Profile(ctx, "u1")
	if err != nil || (p.Nickname != "Before" && p.Nickname != "During") {
		t.Fatalf("Profile after the pause = %+v, %v", p, err)
	}
	t.Logf("edit script runs: %s; nickname after the pause: %s", runs, p.Nickname)
}

// TestReplicaReadsSurviveAStalledReplica: with ReadFromReplicas, a
// replica that stops answering (cut off, stalled) is still listed, by the
// Sentinels until down-after passes (30 s by default), by the Cluster
// until cluster-node-timeout and the next slot map, while the master
// serves on. The reads meant for it must not fail meanwhile: user/me, the
// identity edge's profile reads and user/query by ID are read from the
// master instead, each within the read's timeout.
func TestReplicaReadsSurviveAStalledReplica(t *testing.T) {
	const timeout = 300 * time.Millisecond
	fast := []string{"--repl-diskless-sync-delay", "0"}
	t.Run("sentinel", func(t *testing.T) {
		// A long down-after: the Sentinels go on listing the replica.
		master, replica, sentinel := sentinelWithReplica(t, fast...)
		s := openStore(t, Options{SentinelMaster: "authedge", SentinelAddresses: []string{sentinel},
			EnvironmentID: testEnv, Timeout: timeout, ReadFromReplicas: true})
		readsSurviveStalledReplica(t, s, master, replica)
	})
	t.Run("cluster", func(t *testing.T) {
		c := redistest.StartClusterWith(t, redistest.ClusterConfig{Masters: 3, ReplicasPerMaster: 1, NodeTimeout: 5 * time.Second})
		s := openStore(t, Options{Addresses: c.Addrs(), EnvironmentID: testEnv, Timeout: timeout, ReadFromReplicas: true})
		master, replicas := c.MasterFor(t, c.Nodes[0], s.keys.profile("x"))
		if _, err := s.EnsureProfile(ctxT(t), "u0"); err != nil {
			t.Fatal(err)
		}
		c.WaitSlotsListReplicas(t, replicas, 10*time.Second)
		s.reloadTopology()
		waitClusterKnowsReplica(t, s, replicas[0], 10*time.Second)
		readsSurviveStalledReplica(t, s, master, replicas[0])
	})
}

// sentinelWithReplica starts a master, its replica and one Sentinel that
// watches them as "authedge", with a down-after (10 s) that a paused or
// busy master does not reach; args are the master's and replica's flags.
func sentinelWithReplica(t *testing.T, args ...string) (master, replica *redistest.Server, sentinel string) {
	t.Helper()
	master = redistest.Start(t, args...)
	replica = redistest.StartReplica(t, master, args...)
	sentinels := redistest.StartSentinels(t, master, 1,
		redistest.SentinelConfig{MasterName: "authedge", Count: 1, Quorum: 1, DownAfter: 10 * time.Second})
	return master, replica, sentinels[0].Addr
}

func readsSurviveStalledReplica(t *testing.T, s *Store, master, replica *redistest.Server) {
	ctx := ctxT(t)
	if _, err := s.Edit(ctx, Edit{Actor: "u1", Target: "u1", CreateIfMissing: true,
		Changes: Changes{Nickname: ptr("One")}}); err != nil {
		t.Fatal(err)
	}
	redistest.WaitReplicated(t, master, replica, 5*time.Second)
	if p, err := s.EnsureProfile(ctx, "u1"); err != nil || p.Nickname != "One" {
		t.Fatalf("EnsureProfile = %+v, %v", p, err)
	}

	if _, err := redistest.Command(replica.Addr, "CLIENT", "PAUSE", "3000", "ALL"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		start := time.Now()
		if p, err := s.EnsureProfile(ctx, "u1"); err != nil || p.Nickname != "One" {
			t.Fatalf("user/me %d with the replica stalled = %+v, %v", i, p, err)
		}
		if p, ok, err := s.ProfileMayLag(ctx, "u1"); err != nil || !ok || p.Nickname != "One" {
			t.Fatalf("profile read %d with the replica stalled = %+v, %v, %v", i, p, ok, err)
		}
		if took := time.Since(start); took > s.readTimeout+slack {
			t.Errorf("reads %d took %v", i, took)
		}
	}
	s.replicaSkipUntil.Store(0) // as after replicaRetry: the replica is tried again
	if ps, err := s.ProfilesByID(ctx, []string{"u1"}); err != nil || len(ps) != 1 || ps[0].Nickname != "One" {
		t.Fatalf("user/query by ID with the replica stalled = %+v, %v", ps, err)
	}
}
