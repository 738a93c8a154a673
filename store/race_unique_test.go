package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// TestEditRaceManyUsersManyValues: 50 users at once take, swap, respell
// and give up a few usernames, emails and phones, several fields per
// edit. Whatever interleaving happens, every edit either applies whole
// or is refused by a conflict, and afterwards the index and the profiles
// agree exactly (Audit).
func TestEditRaceManyUsersManyValues(t *testing.T) {
	f := newFixture(t)
	usernames := []string{"Shared", "SHARED", "shared", "Other", "other"}
	emails := []string{"a@bücher.example", "A@BÜCHER.example", "a@xn--bcher-kva.example", "b@example.com", "B@Example.COM", ""}
	phones := []string{"+86 13000000000", "+86 13000000001", ""}
	const users, rounds = 50, 20
	var wg sync.WaitGroup
	errs := make(chan error, users*rounds)
	for u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("racer%02d", u)
			rng := rand.New(rand.NewPCG(uint64(u), 1))
			for range rounds {
				c := Changes{}
				if rng.IntN(2) == 0 {
					c.Username = ptr(usernames[rng.IntN(len(usernames))])
				}
				if rng.IntN(2) == 0 {
					c.Email = ptr(emails[rng.IntN(len(emails))])
				}
				if rng.IntN(2) == 0 {
					c.Phone = ptr(phones[rng.IntN(len(phones))])
				}
				_, err := f.Edit(ctxT(t), Edit{Actor: user, Target: user, CreateIfMissing: true, SudoSatisfied: true, Changes: c,
					Origin: testOrigin("d"), Events: eventsOn})
				var ce *ConflictError
				if err != nil && !errors.As(err, &ce) {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	f.audit(t)
}
