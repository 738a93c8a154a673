package redistest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Stalls holds every other client of c's server for pause (CLIENT PAUSE),
// again and again with gap between pauses, until the returned stop is
// called; stop reports how many pauses were made. Tests use it to make
// callers time out while their commands are queued or in flight.
func Stalls(t testing.TB, c redis.Cmdable, pause, gap time.Duration) (stop func() int64) {
	t.Helper()
	var paused atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(pause + gap):
			}
			if err := c.ClientPause(context.Background(), pause).Err(); err != nil {
				t.Errorf("client pause: %v", err)
				return
			}
			paused.Add(1)
		}
	}()
	var once sync.Once
	return func() int64 {
		once.Do(func() { close(done); wg.Wait() })
		return paused.Load()
	}
}

// Outcomes counts how the calls of a stress test under Stalls ended:
// answered, failed, and of the failed those that ran out of time (a 503,
// a deadline) rather than being given up by their caller.
type Outcomes struct {
	Answered, Failed, TimedOut atomic.Int64

	mu   sync.Mutex
	errs []error // the first maxReported Report was given
}

// maxReported bounds the errors an Outcomes keeps: a broken run reports
// one per call.
const maxReported = 32

// Report records a wrong answer, from any goroutine; Require fails the
// test with it.
func (o *Outcomes) Report(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.errs) < maxReported {
		o.errs = append(o.errs, err)
	}
}

// Require fails t with each wrong answer reported, and unless every kind
// of ending happened and Redis was paused at least twice: without them
// the test would mean nothing. Call it once the calls have ended.
func (o *Outcomes) Require(t testing.TB, paused int64) {
	t.Helper()
	if paused < 2 {
		t.Errorf("Redis was paused %d times", paused)
	}
	answered, failed, timedOut := o.Answered.Load(), o.Failed.Load(), o.TimedOut.Load()
	if answered == 0 || failed == timedOut || timedOut == 0 {
		t.Errorf("%d answered, %d failed, %d of them timed out: the callers did not get answers, leave and time out",
			answered, failed, timedOut)
	}
	t.Logf("%d answered, %d failed, %d of them timed out", answered, failed, timedOut)
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, err := range o.errs {
		t.Error(err)
	}
}
