package store

import (
	"errors"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// TestCluster runs the store against a real three-master Redis Cluster:
// every script's keys must be in one slot, and Audit must find the
// environment on whichever master serves it.
func TestCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	s, err := New(Options{Addresses: c.Addrs(), EnvironmentID: testEnv, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := ctxT(t)
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	res, err := s.Edit(ctx, Edit{Actor: "u1", Target: "u1", CreateIfMissing: true, SudoSatisfied: true,
		RateLimit: Limit{Count: 10, Window: time.Minute},
		Changes:   Changes{Nickname: ptr("One"), Username: ptr("Alice"), Phone: ptr("+86 13000000000"), Email: ptr("a@example.com")},
		// Recorded: the history and the event stream share the slot too.
		Origin: testOrigin(""), Events: eventsOn})
	if err != nil || !res.Created {
		t.Fatalf("Edit = %+v, %v", res, err)
	}
	_, err = s.Edit(ctx, Edit{Actor: "u2", Target: "u2", CreateIfMissing: true, Changes: Changes{Username: ptr("ALICE")}})
	wantConflict(t, err, "username")

	// The memory policy is read from the master of the environment's
	// slot, the one node whose policy matters.
	policies := []string{"allkeys-lru", "allkeys-lfu", "allkeys-random"}
	var want string
	for i, node := range c.Nodes {
		if _, err := redistest.Command(node.Addr, "CONFIG", "SET", "maxmemory-policy", policies[i]); err != nil {
			t.Fatal(err)
		}
		if n, err := redistest.Command(node.Addr, "EXISTS", s.keys.profile("u1")); err == nil && n == "1" {
			want = policies[i]
		}
	}
	if p, err := s.MemoryPolicy(ctx); err != nil || p.Policy != want || want == "" {
		t.Errorf("MemoryPolicy = %+v, %v; want the slot's master's %q", p, err, want)
	}

	// Verification, sudo and a verified, sudo-guarded contact change.
	v := newVerification("cv1", "u1", "email", "a@example.com")
	v.Owner = true // a CUR_USER code: the kind that buys sudo
	if isUser, err := s.StartVerification(ctx, v); err != nil || !isUser {
		t.Fatalf("StartVerification = %v, %v", isUser, err)
	}
	if err := s.CheckCode(ctx, "", "cv1", v.Code, "vt1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.IssueSudo(ctx, "u1", "vt1", "st1", time.Minute, bothContacts); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SudoValid(ctx, "u1", "st1"); !ok || err != nil {
		t.Fatalf("SudoValid = %v, %v", ok, err)
	}
	w := newVerification("cv2", "u1", "email", "b@example.com")
	// Counted against the client IP's lookups: that key shares the slot.
	w.ClientIP, w.Lookups = testIP, Limit{Count: 10, Window: time.Minute}
	if _, err := s.StartVerification(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := s.CancelVerification(ctx, w); err != nil {
		t.Fatal(err)
	}
	w.ID = "cv3"
	if _, err := s.StartVerification(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckCode(ctx, "", "cv3", w.Code, "vt2", time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err = s.Edit(ctx, Edit{Actor: "u1", Target: "u1", Sensitive: fieldSet(t, "email"), VerifyChannels: contactSet(t, "email"),
		VerificationToken: "vt2", Changes: Changes{Email: ptr("b@example.com")}})
	if !errors.Is(err, ErrSudoRequired) {
		t.Fatalf("without sudo: %v", err)
	}
	_, err = s.Edit(ctx, Edit{Actor: "u1", Target: "u1", SudoSatisfied: true, Sensitive: fieldSet(t, "email"), VerifyChannels: contactSet(t, "email"),
		VerificationToken: "vt2", Changes: Changes{Email: ptr("b@example.com")}, Origin: testOrigin(""), Events: eventsOn})
	if err != nil {
		t.Fatal(err)
	}

	p, err := s.EnsureProfile(ctx, "u1")
	if err != nil || p.Email != "b@example.com" || p.Username != "Alice" {
		t.Fatalf("EnsureProfile = %+v, %v", p, err)
	}
	if h, _, err := s.History(ctx, "u1", 0, 10); err != nil || len(h) != 2 || len(h[1].Fields) != 4 {
		t.Fatalf("History = %+v, %v", h, err)
	}
	if _, err := s.EnsureProfile(ctx, "u3"); err != nil {
		t.Fatal(err)
	}
	// user/query's script reads a profile key it finds in the index, under
	// the same hash tag: the cluster must serve it from the same slot.
	if q, ok, err := s.ProfileByValue(ctx, "username", "alice"); err != nil || !ok || q.UserID != "u1" {
		t.Fatalf("ProfileByValue = %+v, %v, %v", q, ok, err)
	}
	if ps, err := s.ProfilesByID(ctx, []string{"u3", "u1", "nobody"}); err != nil || len(ps) != 2 {
		t.Fatalf("ProfilesByID = %+v, %v", ps, err)
	}
	if held, err := s.Exists(ctx, "192.0.2.1", "username", "ALICE", Limit{Count: 5, Window: time.Minute}); err != nil || !held {
		t.Fatalf("Exists = %v, %v", held, err)
	}
	problems, err := s.Audit(ctx)
	if err != nil || len(problems) != 0 {
		t.Fatalf("Audit = %v, %v", problems, err)
	}
	// Audit really looks at the cluster's data.
	if _, err := s.client.HDel(ctx, s.keys.index(fieldEmail, "b@example.com"), "b@example.com").Result(); err != nil {
		t.Fatal(err)
	}
	if problems, err := s.Audit(ctx); err != nil || len(problems) != 1 {
		t.Fatalf("Audit after removing an entry = %v, %v", problems, err)
	}
}
