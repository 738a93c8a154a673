package handler

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// docs/api.md#edit-a-profile: all checks and writes of one edit happen in one
// script. 200 users claiming one username at once: exactly one wins, and no
// index is left without its profile or the reverse.

func TestConcurrentClaimsOfOneUsername(t *testing.T) {
	const n = 200
	// The timeout is generous here: this test is about atomicity, and 200
	// requests at once on a 2-core machine under -race queue for the pool.
	e := newEnv(t, verificationOff(), withStoreTimeout(10*time.Second))
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = e.token(fmt.Sprintf("racer-%03d", i))
	}
	statuses := make([]int, n)
	bodies := make([]string, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Each claims a different case variant: the same username.
			name := "Winner"
			if i%2 == 1 {
				name = "WINNER"
			}
			r := httptest.NewRequest(http.MethodPost, pathEdit,
				strings.NewReader(`{"username":"`+name+`","nickname":"Racer Number"}`))
			r.Header.Set("Authorization", "Bearer "+tokens[i])
			r.Header.Set("Content-Type", "text/plain;charset=UTF-8")
			w := httptest.NewRecorder()
			<-start
			e.api.ServeHTTP(w, r)
			statuses[i] = w.Code
			bodies[i] = w.Body.String()
		}(i)
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, s := range statuses {
		switch s {
		case 200:
			if winner >= 0 {
				t.Fatalf("both racer %d and racer %d got the username", winner, i)
			}
			winner = i
		case 409:
			if !strings.Contains(bodies[i], `"username_already_exists"`) {
				t.Errorf("racer %d: 409 %s", i, bodies[i])
			}
		default:
			t.Errorf("racer %d: %d %s", i, s, bodies[i])
		}
	}
	if winner < 0 {
		t.Fatal("nobody got the username")
	}

	// The winner has it; the losers have no profile at all, since their
	// edit (which would have created it) was refused whole.
	me := e.me(fmt.Sprintf("racer-%03d", winner))
	if got := me.str("username"); !strings.EqualFold(got, "winner") {
		t.Fatalf("winner's username = %q", got)
	}
	for i := 0; i < n; i++ {
		if i == winner {
			continue
		}
		if _, ok, err := e.store.Profile(t.Context(), fmt.Sprintf("racer-%03d", i)); err != nil || ok {
			t.Fatalf("loser %d has a profile (ok=%v err=%v): a refused edit left a write behind", i, ok, err)
		}
	}

	// Walk every key: no orphaned index, no value without its index.
	problems, err := e.store.Audit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("store audit after the race: %v", problems)
	}
}

func TestConcurrentEditsOfOneProfileStayConsistent(t *testing.T) {
	// One user switching username back and forth while another keeps
	// trying to take the released one: whatever interleaving happens, the
	// indexes and profiles agree afterwards.
	e := newEnv(t, verificationOff(), withStoreTimeout(10*time.Second), withEditLimit(1000, time.Minute))
	a, b := e.token("alice"), e.token("bob")
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[string]map[int]int{"alice": {}, "bob": {}}
	)
	edit := func(user, tok, name string) {
		defer wg.Done()
		r := httptest.NewRequest(http.MethodPost, pathEdit, strings.NewReader(`{"username":"`+name+`"}`))
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		e.api.ServeHTTP(w, r)
		mu.Lock()
		statuses[user][w.Code]++
		mu.Unlock()
	}
	for i := 0; i < 40; i++ {
		wg.Add(2)
		go edit("alice", a, []string{"first", "second"}[i%2])
		go edit("bob", b, []string{"FIRST", "SECOND"}[(i+1)%2])
	}
	wg.Wait()
	problems, err := e.store.Audit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("store audit: %v", problems)
	}
	// An audit of edits that all failed would be clean too: each user must
	// have got through, and nothing but a conflict may have refused them.
	for user, got := range statuses {
		if got[http.StatusOK] == 0 {
			t.Errorf("%s: no edit succeeded: %v", user, got)
		}
		for code := range got {
			if code != http.StatusOK && code != http.StatusConflict {
				t.Errorf("%s: status %d in %v", user, code, got)
			}
		}
	}
	ua, ub := e.me("alice").str("username"), e.me("bob").str("username")
	if ua != "" && strings.EqualFold(ua, ub) {
		t.Fatalf("alice and bob both hold %q / %q", ua, ub)
	}
}
