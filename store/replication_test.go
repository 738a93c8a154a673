package store

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestWaitReplicas: with WaitReplicas, an edit is acknowledged once a
// replica has it; when fewer replicas than asked confirm in time, the edit
// is unavailable (503), answered within the timeouts, and stands on the
// master. Without the WAIT the second half would acknowledge the edit.
func TestWaitReplicas(t *testing.T) {
	master := redistest.Start(t)
	replica := redistest.StartReplica(t, master)
	ctx := ctxT(t)
	const waitTimeout = 200 * time.Millisecond
	open := func(replicas int, waitTimeout time.Duration) *Store {
		s, err := New(Options{Addresses: []string{master.Addr}, EnvironmentID: testEnv,
			Timeout: 500 * time.Millisecond, WaitReplicas: replicas, WaitTimeout: waitTimeout})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}

	// Generous: on a loaded machine a replica's acknowledgement can be slow.
	one := open(1, 2*time.Second)
	// Concurrent edits share pipelines; each batch's WAIT covers them all.
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprint("w", i)
			if _, err := one.Edit(ctx, Edit{Actor: user, Target: user, CreateIfMissing: true,
				Changes: Changes{Username: ptr(user)}}); err != nil {
				t.Errorf("edit with one replica in sync: %v", err)
			}
		}()
	}
	wg.Wait()
	// What was acknowledged is on the replica.
	if got, err := redistest.Command(replica.Addr, "GET", one.keys.profile("w7")); err != nil || got == "" {
		t.Fatalf("replica lacks an acknowledged edit: %q, %v", got, err)
	}

	two := open(2, waitTimeout)
	start := time.Now()
	_, err := two.Edit(ctx, Edit{Actor: "u2", Target: "u2", CreateIfMissing: true, Changes: Changes{Nickname: ptr("Two")}})
	took := time.Since(start)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, errNotReplicated) {
		t.Fatalf("edit with too few replicas = %v, want unavailable (not replicated)", err)
	}
	if took < waitTimeout || took > waitTimeout+500*time.Millisecond+slack {
		t.Errorf("the unconfirmed edit took %v (wait timeout %v)", took, waitTimeout)
	}
	// The write stands on the master: a 503 that may have been applied.
	if p, ok, err := two.Profile(ctx, "u2"); err != nil || !ok || p.Nickname != "Two" {
		t.Fatalf("Profile after the unconfirmed edit = %+v, %v, %v", p, ok, err)
	}
	// Reads are not held up by WAIT.
	start = time.Now()
	if _, _, err := two.Profile(ctx, "w1"); err != nil || time.Since(start) > waitTimeout {
		t.Fatalf("read with wait on: %v after %v", err, time.Since(start))
	}
}

func TestNewRefusesBadTopologyOptions(t *testing.T) {
	node := []string{"127.0.0.1:1"}
	for _, o := range []Options{
		{Addresses: node, WaitReplicas: -1},
		{Addresses: node, WaitReplicas: 1},
		{Addresses: node, WaitReplicas: 1, WaitTimeout: time.Microsecond},
		{Addresses: node, WaitReplicas: 1, WaitTimeout: -time.Second},
		{Addresses: node, SentinelMaster: "m", SentinelAddresses: node},
		{SentinelMaster: "m"},
		{Addresses: node, ReadFromReplicas: true},
	} {
		o.EnvironmentID = testEnv
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	for _, o := range []Options{
		{SentinelMaster: "m", SentinelAddresses: node, ReadFromReplicas: true, WaitReplicas: 1, WaitTimeout: time.Millisecond},
		{Addresses: []string{"127.0.0.1:1", "127.0.0.1:2"}, ReadFromReplicas: true},
	} {
		o.EnvironmentID = testEnv
		s, err := New(o)
		if err != nil {
			t.Errorf("New(%+v) = %v", o, err)
			continue
		}
		_ = s.Close()
	}
}

// TestSentinelWithACLUserAndPasswords: behind Sentinels that have their
// own password, the store reaches the master as an ACL user (the default
// user may not run scripts there), writes with WAIT and reads from the
// replica, as it would on a single node.
func TestSentinelWithACLUserAndPasswords(t *testing.T) {
	acl := []string{"--repl-diskless-sync-delay", "0",
		"--user", "default", "on", "nopass", "~*", "&*", "+@all", "-@scripting",
		"--user", "edge", "on", ">edge-secret", "~*", "&*", "+@all"}
	master := redistest.Start(t, acl...)
	replica := redistest.StartReplica(t, master, acl...)
	sentinels := redistest.StartSentinels(t, master, 1, redistest.SentinelConfig{MasterName: "authedge",
		Count: 1, Quorum: 1, DownAfter: 10 * time.Second, Password: "sentinel-secret"})
	ctx := ctxT(t)
	open := func(username, sentinelPassword string) *Store {
		return openStore(t, Options{SentinelMaster: "authedge", SentinelAddresses: []string{sentinels[0].Addr},
			SentinelPassword: sentinelPassword, Username: username, Password: "edge-secret",
			EnvironmentID: testEnv, Timeout: time.Second, ReadFromReplicas: true,
			WaitReplicas: 1, WaitTimeout: 2 * time.Second})
	}
	s := open("edge", "sentinel-secret")
	if _, err := s.Edit(ctx, Edit{Actor: "u1", Target: "u1", CreateIfMissing: true, Changes: Changes{Nickname: ptr("One")}}); err != nil {
		t.Fatalf("edit as the ACL user: %v", err)
	}
	if got, err := redistest.Command(replica.Addr, "GET", s.keys.profile("u1")); err != nil || got == "" {
		t.Fatalf("the replica lacks the acknowledged edit: %q, %v", got, err)
	}
	if p, err := s.EnsureProfile(ctx, "u1"); err != nil || p.Nickname != "One" {
		t.Fatalf("EnsureProfile = %+v, %v", p, err)
	}
	// The checks can fail: without the ACL user the script is refused,
	// without the Sentinels' password no master is found.
	if _, err := open("", "sentinel-secret").Edit(ctx, Edit{Actor: "u2", Target: "u2", CreateIfMissing: true,
		Changes: Changes{Nickname: ptr("Two")}}); err == nil {
		t.Error("the default user ran the edit script")
	}
	if err := open("edge", "").Ping(ctx); err == nil {
		t.Error("the store found the master without the Sentinels' password")
	}
}

// TestReadsNeverQueueBehindWait: with wait on and no replica to confirm,
// the write batches sit in WAIT for its whole timeout. The reads every
// request makes (RevocationState on each token check, Profile, Owner,
// ProfilesByID) have their own batcher and stay quick meanwhile, while
// the edits are unavailable. Sharing the write batcher, each read queued
// behind a WAIT (2 s here: long enough that half of it, the most a read
// may take, is no tight bound for a loaded machine under -race).
func TestReadsNeverQueueBehindWait(t *testing.T) {
	master := redistest.Start(t)
	ctx := ctxT(t)
	const waitTimeout = 2 * time.Second
	s, err := New(Options{Addresses: []string{master.Addr}, EnvironmentID: testEnv, Timeout: time.Second,
		WaitReplicas: 1, WaitTimeout: waitTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var editErrs []error
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := s.Edit(ctx, Edit{Actor: "w", Target: "w", CreateIfMissing: true, Changes: Changes{Nickname: ptr(fmt.Sprint("nick", i))}})
				mu.Lock()
				editErrs = append(editErrs, err)
				mu.Unlock()
			}
		}()
	}
	stopped := false
	defer func() {
		if !stopped {
			close(stop)
			wg.Wait()
		}
	}()
	// The reads start once a write is in WAIT: before, they prove nothing.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		info, err := redistest.Command(master.Addr, "INFO", "clients")
		if err == nil && !strings.Contains(info, "blocked_clients:0\r\n") && strings.Contains(info, "blocked_clients:") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write in WAIT after 10 s: %v\n%s", err, info)
		}
	}
	reads := map[string]func() error{
		"RevocationState": func() error { _, err := s.RevocationState(ctx, "d", "u1", "dev"); return err },
		"Profile":         func() error { _, _, err := s.Profile(ctx, "u1"); return err },
		"ProfileMayLag":   func() error { _, _, err := s.ProfileMayLag(ctx, "u1"); return err },
		"Owner":           func() error { _, _, err := s.Owner(ctx, "username", "alice"); return err },
		"ProfilesByID":    func() error { _, err := s.ProfilesByID(ctx, []string{"u1", "w"}); return err },
		"SudoValid":       func() error { _, err := s.SudoValid(ctx, "u1", "tok"); return err },
	}
	for name, read := range reads {
		var worst time.Duration
		for range 5 {
			start := time.Now()
			if err := read(); err != nil {
				t.Errorf("%s with a WAIT unconfirmed: %v", name, err)
			}
			worst = max(worst, time.Since(start))
		}
		if worst > waitTimeout/2 {
			t.Errorf("%s took up to %v while writes waited %v for WAIT", name, worst, waitTimeout)
		}
	}
	close(stop)
	wg.Wait()
	stopped = true
	if len(editErrs) == 0 {
		t.Fatal("no edit finished")
	}
	for _, err := range editErrs {
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("edit with no replica confirming = %v, want unavailable", err)
		}
	}
}

// TestNoWaitScriptsSkipWait: with wait on and no replica to confirm, the
// scripts that only read (query.lua: user/query by value) or write only a
// rate-limit counter (lookup.lua: checkIfUserExist, checkUsername) answer
// at once; ensure_profile creating a missing profile is a write and is
// unavailable, but reading an existing one is not. Before the scripts were
// marked, every one of them was 503 while a replica lagged.
func TestNoWaitScriptsSkipWait(t *testing.T) {
	master := redistest.Start(t)
	ctx := ctxT(t)
	plain, err := New(Options{Addresses: []string{master.Addr}, EnvironmentID: testEnv, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Edit(ctx, Edit{Actor: "u1", Target: "u1", CreateIfMissing: true, Changes: Changes{Username: ptr("alice")}}); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Addresses: []string{master.Addr}, EnvironmentID: testEnv, Timeout: 500 * time.Millisecond,
		WaitReplicas: 1, WaitTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if p, ok, err := s.ProfileByValue(ctx, "username", "alice"); err != nil || !ok || p.UserID != "u1" {
		t.Errorf("ProfileByValue = %+v, %v, %v", p, ok, err)
	}
	if held, err := s.Exists(ctx, "198.51.100.7", "username", "alice", Limit{Count: 5, Window: time.Minute}); err != nil || !held {
		t.Errorf("Exists (counted) = %v, %v", held, err)
	}
	if _, _, _, _, err := s.RevocationsSince(ctx, 0, 10); err != nil {
		t.Errorf("RevocationsSince = %v", err)
	}
	if p, err := s.EnsureProfile(ctx, "u1"); err != nil || p.Username != "alice" {
		t.Errorf("EnsureProfile of an existing profile = %+v, %v", p, err)
	}
	if _, err := s.EnsureProfile(ctx, "new"); !errors.Is(err, errNotReplicated) {
		t.Errorf("EnsureProfile creating a profile = %v, want not replicated", err)
	}
	// A revocation is a write that a failover must keep (docs/topologies.md).
	if _, err := s.RevokeUser(ctx, "u1", time.Now()); !errors.Is(err, errNotReplicated) {
		t.Errorf("RevokeUser = %v, want not replicated", err)
	}
}

// TestHoldsWriteSkipsNoWaitScripts: only a script not marked noWait makes
// a batch wait.
func TestHoldsWriteSkipsNoWaitScripts(t *testing.T) {
	ctx := ctxT(t)
	// As send marks each request it queues.
	req := func(cmd redis.Cmder) *batchRequest {
		return &batchRequest{ctx: ctx, cmd: cmd, write: isWaitingWrite(cmd)}
	}
	get := redis.NewStringCmd(ctx, "get", "k")
	read := &onceCmd{Cmd: redis.NewCmd(ctx, "evalsha", scriptQuery.sha, 0), noWait: true}
	write := &onceCmd{Cmd: redis.NewCmd(ctx, "evalsha", scriptEdit.sha, 0)}
	if holdsWrite([]*batchRequest{req(get), req(read)}) {
		t.Error("a GET and a read-only script hold a write")
	}
	if !holdsWrite([]*batchRequest{req(get), req(read), req(write)}) {
		t.Error("a batch with edit.lua holds no write")
	}
	for _, sc := range []*script{scriptEnsureProfile, scriptEdit, scriptStartVerification, scriptCancelVerification,
		scriptCheckCode, scriptIssueSudo, scriptRevoke} {
		if sc.noWait {
			t.Errorf("%s writes but is marked noWait", sc.name)
		}
	}
}

// TestClusterWaitRunsTheHooks: in a Cluster with WaitReplicas, a batch of
// writes and its WAIT go through the slot master's own client (one
// connection), which the hooks given in Options.Hooks were not added to:
// the metrics hook then never saw an edit (authedge_redis_command_*{command="evalsha"}
// and "wait" stayed at 0, their errors uncounted) on exactly the
// deployments that need it most.
func TestClusterWaitRunsTheHooks(t *testing.T) {
	c := redistest.StartClusterWith(t, redistest.ClusterConfig{Masters: 3, ReplicasPerMaster: 1})
	var mu sync.Mutex
	seen := map[string]int{}
	hook := redistest.CommandHook(func(cmd redis.Cmder) {
		mu.Lock()
		defer mu.Unlock()
		seen[cmd.Name()]++
	})
	s, err := New(Options{Addresses: c.Addrs(), EnvironmentID: testEnv, Timeout: 2 * time.Second,
		WaitReplicas: 1, WaitTimeout: 2 * time.Second, Hooks: []redis.Hook{hook}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Edit(ctxT(t), Edit{Actor: "u1", Target: "u1", CreateIfMissing: true,
		Changes: Changes{Nickname: ptr("One")}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["evalsha"]+seen["eval"] == 0 || seen["wait"] == 0 {
		t.Errorf("the hooks saw %v; want the edit's script and its wait", seen)
	}
}
