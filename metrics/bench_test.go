package metrics

import (
	"testing"
	"time"
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
