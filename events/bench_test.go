package events

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BenchmarkDelivery measures one worker's delivery throughput to a local
// receiver that verifies nothing and answers 204 at once: b.N events over
// 1,000 users, all appended before the worker starts; events/s is the figure.
//
//	go test -run x -bench Delivery -benchtime 20000x ./events
func BenchmarkDelivery(b *testing.B) {
	f := newFixture(b)
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	// The group first, from the stream's start, so that the worker,
	// started after the appends, finds them all waiting.
	if err := f.client.XGroupCreateMkStream(b.Context(), f.keys.Stream, Group, "0").Err(); err != nil {
		b.Fatal(err)
	}
	pipe := f.client.Pipeline()
	for i := range b.N {
		user := fmt.Sprintf("user-%d", i%1000)
		ev := fmt.Sprintf(`{"type":"user.updated","user_id":%q,"actor":%q,"changes":{"nickname":{"old":"n%d","new":"n%d"}},`+
			`"client_id":"web","device_id":"d1","ip":"203.0.113.9","at":"2026-12-03T08:00:00Z"}`, user, user, i-1, i)
		pipe.XAdd(b.Context(), &redis.XAddArgs{Stream: f.keys.Stream, Values: []string{"event", ev}})
		if pipe.Len() == 1000 {
			if _, err := pipe.Exec(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(b.Context()); err != nil && pipe.Len() > 0 {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	f.worker(b, srv.URL, nil)
	for got.Load() < int64(b.N) {
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("%d of %d delivered", got.Load(), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
