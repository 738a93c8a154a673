package events

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// TestSentinelFailoverLosesNoEvent: the worker follows the master the
// Sentinels elect when the old one is SIGKILLed mid-delivery. Every event
// appended and confirmed by a replica (WAIT 1, as `wait 1` confirms the
// store's scripts) before, during and after the failover arrives, in
// order per user, and Stop still returns: no goroutine stays stuck on the
// dead master.
func TestSentinelFailoverLosesNoEvent(t *testing.T) {
	fast := []string{"--repl-diskless-sync-delay", "0"}
	master := redistest.Start(t, fast...)
	replicas := []*redistest.Server{redistest.StartReplica(t, master, fast...), redistest.StartReplica(t, master, fast...)}
	sentinels := redistest.StartSentinels(t, master, len(replicas),
		redistest.SentinelConfig{MasterName: "events", Count: 3, Quorum: 2, DownAfter: 500 * time.Millisecond})
	var addrs []string
	for _, s := range sentinels {
		addrs = append(addrs, s.Addr)
	}
	// As caddymodule's newEventsClient makes it.
	newClient := func() redis.UniversalClient {
		return redis.NewUniversalClient(&redis.UniversalOptions{
			MasterName: "events", Addrs: addrs, Protocol: 2, ReadTimeout: 500 * time.Millisecond,
			WriteTimeout: 500 * time.Millisecond, ContextTimeoutEnabled: true, MaxRetries: -1, DisableIdentity: true,
		})
	}
	client, writer := newClient(), newClient()
	t.Cleanup(func() { client.Close(); writer.Close() })
	f := &fixture{client: client, keys: NewKeys("authedge", "env-1")}
	rcv := newReceiver(t, nil)
	w := f.worker(t, rcv.srv.URL, func(o *Options) { o.ClaimIdle = 2 * time.Second })

	// Writers append events for a few users, each confirmed by a replica;
	// only confirmed ones count (the others may die with the master).
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for u := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("u%d", u)
			for seq := 1; ; {
				select {
				case <-stop:
					return
				default:
				}
				ev := fmt.Sprintf(`{"type":"user.updated","user_id":%q,"actor":%q,"changes":{"nickname":{"old":"n%d","new":"n%d"}},"at":"2026-01-01T00:00:00Z"}`,
					user, user, seq-1, seq)
				ctx := t.Context()
				var id *redis.StringCmd
				var wait *redis.IntCmd
				_, err := writer.Pipelined(ctx, func(p redis.Pipeliner) error {
					id = p.XAdd(ctx, &redis.XAddArgs{Stream: f.keys.Stream, Values: []string{"event", ev}})
					wait = redis.NewIntCmd(ctx, "wait", 1, 1000)
					return p.Process(ctx, wait)
				})
				if err == nil && wait.Val() >= 1 {
					mu.Lock()
					acked = append(acked, id.Val())
					mu.Unlock()
					seq++ // the next event follows only a confirmed one
				} else if err == nil {
					// Appended but not confirmed: it may or may not stay.
					// Its seq is not reused, so order is still checkable.
					seq++
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	master.Stop() // SIGKILL
	deadline := time.Now().Add(20 * time.Second)
	for promoted := false; !promoted; {
		for _, r := range replicas {
			if role, err := redistest.Role(r.Addr); err == nil && role == "master" {
				promoted = true
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replica promoted:\n%s", sentinels[0].Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Second) // events appended on the new master
	close(stop)
	wg.Wait()
	mu.Lock()
	ids := append([]string(nil), acked...)
	mu.Unlock()
	waitAll(t, rcv, ids, 15*time.Second)
	rcv.checkOrderLoose(ids)
	done := make(chan struct{})
	go func() { w.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return after the failover: a goroutine is stuck")
	}
}

// waitAll waits until every event in ids has arrived.
func waitAll(t *testing.T, r *receiver, ids []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r.mu.Lock()
		missing := 0
		for _, id := range ids {
			if !r.seen[id] {
				missing++
			}
		}
		r.mu.Unlock()
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d confirmed events never arrived", missing, len(ids))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkOrderLoose checks per-user order of first arrivals, seq rising (an
// unconfirmed event lost with the master leaves a gap, which is allowed).
func (r *receiver) checkOrderLoose(ids []string) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bad > 0 {
		r.t.Errorf("%d requests failed verification", r.bad)
	}
	first := map[string]bool{}
	last := map[string]int{}
	for _, d := range r.got {
		if first[d.id] {
			continue
		}
		first[d.id] = true
		if prev, ok := last[d.user]; ok && d.seq <= prev {
			r.t.Errorf("user %s: event seq %d arrived after %d", d.user, d.seq, prev)
		}
		last[d.user] = d.seq
	}
	r.t.Logf("%d confirmed events, %d deliveries", len(ids), len(r.got))
}
