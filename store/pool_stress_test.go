package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// Pooled requests (batch.go) are reused from caller to caller: one
// returned while a worker still writes its answer would hand a user
// another's profile. Many users read and edit at once while their callers
// leave at random moments (cancelled contexts, short deadlines) and Redis
// stalls now and then, so that answers land for callers who have gone;
// every answer a caller does get must be its own.
func TestPooledRequestsNeverCrossUsers(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Timeout = 300 * time.Millisecond })
	const users = 24
	name := func(i int) string { return fmt.Sprintf("pool-user-%02d", i) }
	for i := range users {
		f.set(t, name(i), Changes{Nickname: ptr("nick " + name(i)), Description: ptr("desc " + name(i))})
	}
	// Stalls make callers time out while their commands are queued or
	// in flight.
	stopStalls := redistest.Stalls(t, f.raw, 280*time.Millisecond, 100*time.Millisecond)
	var wg sync.WaitGroup
	var ends redistest.Outcomes
	deadline := time.Now().Add(3 * time.Second)
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for time.Now().Before(deadline) {
				i := rng.IntN(users)
				user := name(i)
				ctx, cancel := context.WithCancel(context.Background())
				if rng.IntN(3) == 0 {
					d := time.Duration(rng.IntN(300)) * time.Microsecond
					go func() { time.Sleep(d); cancel() }()
				}
				var err error
				switch rng.IntN(4) {
				case 0:
					var p Profile
					var ok bool
					p, ok, err = f.Profile(ctx, user)
					if err == nil && (!ok || p.UserID != user || p.Nickname != "nick "+user || p.Description != "desc "+user) {
						ends.Report(fmt.Errorf("Profile(%s) = %+v, %v", user, p, ok))
					}
				case 1:
					var p Profile
					p, err = f.EnsureProfile(ctx, user)
					if err == nil && (p.UserID != user || p.Nickname != "nick "+user) {
						ends.Report(fmt.Errorf("EnsureProfile(%s) = %+v", user, p))
					}
				case 2:
					var ps []Profile
					ps, err = f.ProfilesByID(ctx, []string{user, name((i + 1) % users)})
					if err == nil && (len(ps) != 2 || ps[0].UserID != user || ps[0].Nickname != "nick "+user) {
						ends.Report(fmt.Errorf("ProfilesByID(%s) = %+v", user, ps))
					}
				case 3:
					// The same value again: the profile stays as the
					// readers expect it, and the edit's answer is checked.
					_, err = f.Edit(ctx, Edit{Actor: user, Target: user, CreateIfMissing: true,
						Changes: Changes{Nickname: ptr("nick " + user)}, SudoSatisfied: true})
					var conflict *ConflictError
					if errors.As(err, &conflict) {
						ends.Report(fmt.Errorf("Edit(%s): %v", user, err))
					}
				}
				if err != nil && !errors.Is(err, context.Canceled) {
					ends.TimedOut.Add(1)
				}
				if err != nil {
					ends.Failed.Add(1)
				} else {
					ends.Answered.Add(1)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	paused := stopStalls()
	ends.Require(t, paused)
}
