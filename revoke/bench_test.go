package revoke

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// BenchmarkRevokedRemembered is the hot path: a token checked again while
// the log reader keeps up costs a map lookup, no round trip.
func BenchmarkRevokedRemembered(b *testing.B) {
	srv := redistest.Start(b)
	src := &countingSource{Store: newStore(b, srv.Addr), watch: true}
	c := newChecker(b, src, Options{})
	tk := tok("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl", "u1", "", time.Now())
	mustRevoked(b, c, tk)
	waitFresh(b, c)
	mustRevoked(b, c, tk)
	before := src.reads.Load()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r, err := c.Revoked(ctx, tk); r || err != nil {
				b.Fatal(r, err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(src.reads.Load()-before)/float64(b.N), "redis-reads/op")
}

// BenchmarkRevokedNewToken: a token never seen before, judged from the
// replica (SHA-256 of a typical 800-byte token, three lookups, and
// remembering the verdict).
func BenchmarkRevokedNewToken(b *testing.B) {
	srv := redistest.Start(b)
	src := &countingSource{Store: newStore(b, srv.Addr), watch: true}
	c := newChecker(b, src, Options{})
	mustRevoked(b, c, tok("warm-up", "u0", "", time.Now()))
	waitReplica(b, c)
	pad := strings.Repeat("x", 800)
	raws := make([]string, b.N)
	for i := range raws {
		raws[i] = pad + strconv.Itoa(i)
	}
	before := src.reads.Load()
	ctx := context.Background()
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if r, err := c.Revoked(ctx, tok(raws[i], "u1", "", now)); r || err != nil {
			b.Fatal(r, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(src.reads.Load()-before)/float64(b.N), "redis-reads/op")
}
