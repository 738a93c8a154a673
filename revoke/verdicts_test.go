package revoke

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/store"
)

// subjectVerdicts walks sub's list of verdicts, checking its links.
// Called without mu held.
func (c *Checker) subjectVerdicts(sub string) []*verdict {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*verdict
	var prev *verdict
	for v := c.bySubject[sub]; v != nil; v = v.next {
		if v.prev != prev || v.subject != sub || c.verdicts[v.key] != v {
			panic(fmt.Sprintf("%s's list of verdicts is broken at %v", sub, v.key))
		}
		out = append(out, v)
		prev = v
	}
	return out
}

// Verdicts dropped from anywhere in a user's list (the cache full, a token
// remembered again) leave the list whole: a cutoff still turns every
// remembered verdict of the user, and no other.
func TestSubjectListsSurviveEviction(t *testing.T) {
	srv := redistest.Start(t)
	src := &countingSource{Store: newStore(t, srv.Addr), watch: true}
	cut := time.Now().Truncate(time.Second)
	c := newChecker(t, src, Options{CacheSize: 20, ReplicaSize: -1})
	var tokens []Token
	for i := range 60 {
		tokens = append(tokens, tok(fmt.Sprintf("list-%d", i), fmt.Sprintf("u%d", i%4), "", cut))
	}
	for round := range 3 {
		for i, tk := range tokens {
			if (i+round)%3 != 0 {
				mustRevoked(t, c, tk)
			}
		}
		waitFresh(t, c)
	}
	total := 0
	for u := range 4 {
		total += len(c.subjectVerdicts(fmt.Sprintf("u%d", u)))
	}
	c.mu.RLock()
	n, digests, subjects := len(c.verdicts), len(c.byDigest), len(c.bySubject)
	c.mu.RUnlock()
	if n != 20 || digests != 20 || total != 20 || subjects > 4 {
		t.Fatalf("%d verdicts, %d digests, %d in users' lists over %d users; want 20, 20, 20 over at most 4", n, digests, total, subjects)
	}
	if _, err := src.RevokeUser(context.Background(), "u1", cut); err != nil {
		t.Fatal(err)
	}
	// Read the log now: a check of a token not remembered would ask
	// Redis, and say nothing of whether the entry was applied.
	if err := c.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := src.reads.Load()
	remembered := 0
	for _, tk := range tokens {
		key := c.tokenKey(store.TokenContent(tk.Raw))
		c.mu.RLock()
		v := c.verdicts[key]
		c.mu.RUnlock()
		if v == nil {
			continue
		}
		remembered++
		if got, want := mustRevoked(t, c, tk), tk.Subject == "u1"; got != want {
			t.Errorf("%s of %s: revoked %v, want %v", tk.Raw, tk.Subject, got, want)
		}
	}
	if remembered == 0 || src.reads.Load() != before {
		t.Fatalf("%d remembered verdicts checked with %d Redis reads; want some, and none", remembered, src.reads.Load()-before)
	}
}

// With the replica loaded and fresh, tokens are judged from it and
// nothing is remembered per token, however many are checked; a token
// revoked since, checked again, is refused within the bound, as is one
// given with the digest its verifier computed.
func TestReplicaRemembersNoVerdicts(t *testing.T) {
	srv := redistest.Start(t)
	src := &countingSource{Store: newStore(t, srv.Addr), watch: false}
	other := newStore(t, srv.Addr)
	now := time.Now()
	ctx := context.Background()
	c := newChecker(t, src, Options{})
	mustRevoked(t, c, tok("warm.up.x", "w", "", now))
	waitReplica(t, c)
	before := src.reads.Load()
	var tokens []Token
	for i := range 200 {
		tk := tok(fmt.Sprintf("h.p%d.s", i), fmt.Sprintf("u%d", i), "", now)
		if i%2 == 0 {
			tk.ContentDigest = sha256.Sum256([]byte(store.TokenContent(tk.Raw)))
		}
		tokens = append(tokens, tk)
		if mustRevoked(t, c, tk) {
			t.Fatalf("%s revoked before any revocation", tk.Raw)
		}
	}
	c.mu.RLock()
	n, subjects := len(c.verdicts), len(c.bySubject)
	c.mu.RUnlock()
	if n != 0 || subjects != 0 || src.reads.Load() != before {
		t.Fatalf("with a replica: %d verdicts, %d users remembered, %d Redis reads; want none", n, subjects, src.reads.Load()-before)
	}
	for _, i := range []int{10, 11} { // one with a given digest, one without
		if _, err := other.RevokeToken(ctx, store.TokenDigest(tokens[i].Raw), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		// Polling only: about PollInterval, never past StaleAfter.
		took := refusedWithin(t, c, tokens[i], DefaultStaleAfter+DefaultPollInterval)
		t.Logf("%s refused %v after its revocation", tokens[i].Raw, took)
		twin := tokens[i]
		twin.Raw += "twin" // the same content, another signature
		if !mustRevoked(t, c, twin) {
			t.Errorf("%s: another signature of the revoked content is accepted", tokens[i].Raw)
		}
	}
	if _, err := other.RevokeUser(ctx, "u20", now); err != nil {
		t.Fatal(err)
	}
	refusedWithin(t, c, tokens[20], DefaultStaleAfter+DefaultPollInterval)
	if mustRevoked(t, c, tokens[21]) {
		t.Error("another user's token is refused")
	}
	if n := src.reads.Load() - before; n != 0 || !c.Replicated() {
		t.Errorf("%d Redis reads, replica loaded %v: the checks were not all judged from the replica", n, c.Replicated())
	}
}
