package events

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// appendConfirmed appends one event and WAITs for a replica on the same
// connection, as the store's scripts are followed with `wait 1`.
type appendConfirmed func(ctx context.Context, stream, event string) (id string, confirmed bool, err error)

// The worker follows the master the Sentinels elect when the old one is
// SIGKILLed mid-delivery: every event appended and confirmed by a replica
// before, during and after the failover arrives, in order per user, and
// Stop still returns: no goroutine stays stuck on the dead master.
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
	client, writer := failoverClient(addrs, "events"), failoverClient(addrs, "events")
	t.Cleanup(func() { client.Close(); writer.Close() })
	appendOne := func(ctx context.Context, stream, ev string) (string, bool, error) {
		return appendAndWait(ctx, writer, stream, ev)
	}
	loseNoEventInFailover(t, client, appendOne, master, replicas)
}

// The same on a Redis Cluster, whose client finds the promoted replica
// only by a redirection or a reload of its slot map.
func TestClusterFailoverLosesNoEvent(t *testing.T) {
	c := redistest.StartClusterWith(t, redistest.ClusterConfig{Masters: 3, ReplicasPerMaster: 2, NodeTimeout: time.Second})
	client, writer := failoverClient(c.Addrs()[:3], ""), failoverClient(c.Addrs()[:3], "").(*redis.ClusterClient)
	t.Cleanup(func() { client.Close(); writer.Close() })
	keys := NewKeys("authedge", "env-1")
	master, replicas := c.MasterFor(t, c.Nodes[0], keys.Stream)
	appendOne := func(ctx context.Context, stream, ev string) (string, bool, error) {
		node, err := writer.MasterForKey(ctx, stream)
		if err == nil {
			var id string
			var ok bool
			if id, ok, err = appendAndWait(ctx, node, stream, ev); err == nil {
				return id, ok, nil
			}
		}
		writer.ReloadState(ctx)
		return "", false, err
	}
	loseNoEventInFailover(t, client, appendOne, master, replicas)
}

// failoverClient is a client as caddymodule's newEventsClient makes it.
func failoverClient(addrs []string, master string) redis.UniversalClient {
	return redis.NewUniversalClient(&redis.UniversalOptions{
		MasterName: master, Addrs: addrs, Protocol: 2, ReadTimeout: 500 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond, ContextTimeoutEnabled: true, MaxRetries: -1, DisableIdentity: true,
	})
}

func appendAndWait(ctx context.Context, c redis.Cmdable, stream, ev string) (string, bool, error) {
	var id *redis.StringCmd
	wait := redis.NewIntCmd(ctx, "wait", 1, 1000)
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		id = p.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"event", ev}})
		return p.Process(ctx, wait)
	})
	return id.Val(), err == nil && wait.Val() >= 1, err
}

func loseNoEventInFailover(t *testing.T, client redis.UniversalClient, appendOne appendConfirmed, master *redistest.Server, replicas []*redistest.Server) {
	f := &fixture{client: client, keys: NewKeys("authedge", "env-1")}
	rcv := newReceiver(t, nil)
	w := f.worker(t, rcv.srv.URL, func(o *Options) { o.ClaimIdle = 2 * time.Second; o.Logger = zaptest.NewLogger(t) })

	// Writers append events for a few users; only those a replica
	// confirmed count (the others may die with the master).
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
				ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
				id, confirmed, _ := appendOne(ctx, f.keys.Stream, ev)
				cancel()
				// An unconfirmed event (an error included) may or may
				// not stay; its seq is not reused, so order is still
				// checkable.
				seq++
				if confirmed {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	killed := time.Now()
	master.Stop() // SIGKILL
	deadline := time.Now().Add(20 * time.Second)
	for promoted := false; !promoted; {
		for _, r := range replicas {
			if role, err := redistest.Role(r.Addr); err == nil && role == "master" {
				promoted = true
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no replica promoted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("promoted %v after the kill", time.Since(killed).Round(time.Millisecond))
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
	start := time.Now()
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
			t.Logf("all %d confirmed events arrived %v after the writers stopped", len(ids), time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > within {
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
