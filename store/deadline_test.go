package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestOpDeadlineFires: an operation's context ends at its deadline, as
// context.WithTimeout's does, and is not reused once it has.
func TestOpDeadlineFires(t *testing.T) {
	s := &Store{timeout: 20 * time.Millisecond}
	ctx, release := s.opDeadline(context.Background())
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > 20*time.Millisecond {
		t.Fatalf("deadline %v, %v", d, ok)
	}
	if ctx.Err() != nil {
		t.Fatal("done before its deadline")
	}
	waitEnded(t, ctx, context.DeadlineExceeded)
	release()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("after release, Err = %v: a fired context was reused", ctx.Err())
	}
}

// TestOpDeadlineFollowsItsParent: a parent's end ends it with the
// parent's error, and an earlier parent deadline is its own.
func TestOpDeadlineFollowsItsParent(t *testing.T) {
	s := &Store{timeout: time.Hour}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), testKey{}, "v"))
	ctx, release := s.opDeadline(parent)
	defer release()
	if ctx.Value(testKey{}) != "v" {
		t.Fatal("parent's values lost")
	}
	cancel()
	waitEnded(t, ctx, context.Canceled)

	soon, cancelSoon := context.WithTimeout(context.Background(), time.Minute)
	defer cancelSoon()
	ctx2, release2 := s.opDeadline(soon)
	defer release2()
	if d, _ := ctx2.Deadline(); d.After(time.Now().Add(time.Minute)) {
		t.Fatalf("deadline %v is past its parent's", d)
	}

	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	ctx3, release3 := s.opDeadline(done)
	defer release3()
	if !errors.Is(ctx3.Err(), context.Canceled) {
		t.Fatalf("under a done parent, Err = %v", ctx3.Err())
	}
}

type testKey struct{}

// waitEnded waits for ctx to end, and checks that it ended with want.
func waitEnded(t *testing.T, ctx context.Context, want error) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("not ended (%v) within 5 s", want)
	}
	if !errors.Is(ctx.Err(), want) {
		t.Fatalf("Err = %v, want %v", ctx.Err(), want)
	}
}

// TestOpDeadlineReuse: a context released before anything ended it comes
// back fresh, and one that ended stays ended, under concurrent use (run
// with -race).
func TestOpDeadlineReuse(t *testing.T) {
	s := &Store{timeout: 2 * time.Millisecond}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				parent, cancel := context.WithCancel(context.Background())
				ctx, release := s.opDeadline(parent)
				if err := ctx.Err(); err != nil {
					t.Errorf("a fresh context is done: %v", err)
					cancel()
					release()
					return
				}
				switch (g + i) % 3 {
				case 0: // ends before anything fires
				case 1:
					cancel()
					<-ctx.Done()
				case 2:
					<-ctx.Done()
				}
				err := ctx.Err()
				release()
				if err != nil && ctx.Err() == nil {
					t.Errorf("an ended context (%v) was reused", err)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
}
