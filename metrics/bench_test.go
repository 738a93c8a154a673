package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BenchmarkRecordMe is what metrics add to one GET /auth/v1/user/me: the
// request, the token check, the cache lookup and one Redis GET. It must not
// allocate.
func BenchmarkRecordMe(b *testing.B) {
	s := New()
	me := s.Endpoint("user.me")
	h := s.redisHook
	b.ReportAllocs()
	for b.Loop() {
		s.CacheLookup(true)
		s.TokenChecked(TokenValid)
		h.observe("get", 150*time.Microsecond, nil)
		me.Answered(200)
	}
}

func TestRecordMeDoesNotAllocate(t *testing.T) {
	s := New()
	me := s.Endpoint("user.me")
	h := s.redisHook
	if n := testing.AllocsPerRun(100, func() {
		s.CacheLookup(true)
		s.TokenChecked(TokenValid)
		h.observe("get", 150*time.Microsecond, nil)
		me.Answered(200)
	}); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

// BenchmarkRedisHookPipeline is what the hook adds to one pipeline of
// eight profile reads, the store's batch under load: per command (ns/op is
// per pipeline).
func BenchmarkRedisHookPipeline(b *testing.B) {
	s := New()
	ctx := context.Background()
	cmds := make([]redis.Cmder, 8)
	for i := range cmds {
		cmds[i] = redis.NewStringCmd(ctx, "get", "key")
	}
	process := s.redisHook.ProcessPipelineHook(func(context.Context, []redis.Cmder) error { return nil })
	b.ReportAllocs()
	for b.Loop() {
		_ = process(ctx, cmds)
	}
}
