package metrics

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// TestRedisHook runs commands against a real Redis through a client with
// the hook: each command is timed under its label, pipelined ones each
// once, a missing key is no error, an error reply is one.
func TestRedisHook(t *testing.T) {
	srv := redistest.Start(t)
	s := New()
	reg := prometheus.NewPedanticRegistry()
	if err := s.Register(reg); err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = client.Close() })
	client.AddHook(s.RedisHook())
	ctx := context.Background()

	if err := client.Get(ctx, "missing").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET of a missing key: %v", err)
	}
	if err := client.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// HGET on a string key: WRONGTYPE, an error reply.
	if err := client.HGet(ctx, "k", "f").Err(); err == nil {
		t.Fatal("HGET on a string succeeded")
	}
	pipe := client.Pipeline()
	pipe.Get(ctx, "k")
	pipe.Get(ctx, "k")
	pipe.Do(ctx, "flushdb")
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	// NOSCRIPT: the store's cue to send the script, not a failure.
	if err := client.EvalSha(ctx, "0000000000000000000000000000000000000000", nil).Err(); err == nil {
		t.Fatal("EVALSHA of an unknown script succeeded")
	}
	// The store's MGET and WAIT and the events worker's TIME have their
	// own labels (docs/metrics.md).
	if err := client.MGet(ctx, "k", "missing").Err(); err != nil {
		t.Fatal(err)
	}
	if err := client.Wait(ctx, 0, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := client.Time(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := client.Do(ctx, "xread", "count", "1", "streams", "s", "0").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("XREAD of a missing stream: %v", err)
	}

	for _, c := range []struct {
		name, command string
		want          float64
	}{
		{"authedge_redis_command_duration_seconds", "get", 3},
		{"authedge_redis_command_errors_total", "get", 0},
		{"authedge_redis_command_duration_seconds", "hget", 1},
		{"authedge_redis_command_errors_total", "hget", 1},
		{"authedge_redis_command_duration_seconds", "evalsha", 1},
		{"authedge_redis_command_errors_total", "evalsha", 0},
		{"authedge_redis_command_duration_seconds", "mget", 1},
		{"authedge_redis_command_duration_seconds", "wait", 1},
		{"authedge_redis_command_duration_seconds", "time", 1},
		// SET and FLUSHDB are not in the fixed set.
		{"authedge_redis_command_duration_seconds", "other", 2},
		// XREAD may block by design: counted for errors, never timed.
		{"authedge_redis_command_duration_seconds", "xread", 0},
		{"authedge_redis_command_errors_total", "xread", 0},
	} {
		if got := value(t, reg, c.name, "command", c.command); got != c.want {
			t.Errorf("%s{command=%q} = %v, want %v", c.name, c.command, got, c.want)
		}
	}

	// go-redis's handshake on each new connection has its own label.
	if got := value(t, reg, "authedge_redis_command_duration_seconds", "command", "hello"); got < 1 {
		t.Errorf("HELLO timed %v times", got)
	}

	// A command to a Redis that is gone fails, and is counted.
	srv.Stop()
	_ = client.Get(ctx, "k").Err()
	if got := value(t, reg, "authedge_redis_command_errors_total", "command", "get"); got != 1 {
		t.Errorf("a GET to a stopped Redis: errors %v, want 1", got)
	}
}

// hotCommandOf's shortcut labels its commands as redisCommandOf does.
func TestHotCommandOfAgrees(t *testing.T) {
	for _, name := range append(redisCommandNames[:], "set", "GET", "") {
		if got, want := hotCommandOf(name), redisCommandOf(name); got != want {
			t.Errorf("%q: %v, want %v", name, got, want)
		}
	}
}
