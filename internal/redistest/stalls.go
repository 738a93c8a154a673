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
