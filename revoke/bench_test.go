package revoke

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/store"
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

// BenchmarkRevokedNewToken is bench/run.sh's edit scenario: every check
// brings a token never seen before, of another user, judged from the
// replica, with the verdict cache already full (as it is after the first
// 100,000 requests of such a load). Tokens are RS256-sized (about 700
// bytes) and made in batches with the timer stopped.
func BenchmarkRevokedNewToken(b *testing.B) { benchmarkNewToken(b, false, "") }

// BenchmarkRevokedNewTokenGivenDigest: the same, with the digest the
// verifier computed for the signature handed over (token.Claims).
func BenchmarkRevokedNewTokenGivenDigest(b *testing.B) { benchmarkNewToken(b, true, "") }

// BenchmarkRevokedNewTokenOnDevice: the same, with tokens bound to a
// device (the device claim), none of whose devices is revoked.
func BenchmarkRevokedNewTokenOnDevice(b *testing.B) { benchmarkNewToken(b, true, "device-0123456789") }

func benchmarkNewToken(b *testing.B, given bool, device string) {
	srv := redistest.Start(b)
	src := &countingSource{Store: newStore(b, srv.Addr), watch: true}
	c := newChecker(b, src, Options{})
	mustRevoked(b, c, tok("warm-up", "u0", "", time.Now()))
	waitReplica(b, c)
	ctx := context.Background()
	now := time.Now()
	next := 0
	batch := make([]Token, 4096)
	fill := func() {
		for i := range batch {
			batch[i] = benchToken(next, now, given)
			batch[i].DeviceID = device
			next++
		}
	}
	for range DefaultCacheSize / len(batch) {
		fill()
		for _, tk := range batch {
			mustRevoked(b, c, tk)
		}
	}
	waitReplica(b, c)
	before := src.reads.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%len(batch) == 0 {
			b.StopTimer()
			fill()
			b.StartTimer()
		}
		if r, err := c.Revoked(ctx, batch[i%len(batch)]); r || err != nil {
			b.Fatal(r, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(src.reads.Load()-before)/float64(b.N), "redis-reads/op")
}

// BenchmarkRevokedRepeated: 1,000 users each sending their token again
// and again (an app's clients polling), judged with the replica loaded.
func BenchmarkRevokedRepeated(b *testing.B) { benchmarkRepeated(b, false) }

// BenchmarkRevokedRepeatedGivenDigest: the same, with the digest the
// verifier keeps with a cached token handed over.
func BenchmarkRevokedRepeatedGivenDigest(b *testing.B) { benchmarkRepeated(b, true) }

func benchmarkRepeated(b *testing.B, given bool) {
	srv := redistest.Start(b)
	src := &countingSource{Store: newStore(b, srv.Addr), watch: true}
	c := newChecker(b, src, Options{})
	mustRevoked(b, c, tok("warm-up", "u0", "", time.Now()))
	waitReplica(b, c)
	ctx := context.Background()
	now := time.Now()
	tokens := make([]Token, 1000)
	for i := range tokens {
		tokens[i] = benchToken(i, now, given)
		mustRevoked(b, c, tokens[i])
	}
	waitReplica(b, c)
	before := src.reads.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if r, err := c.Revoked(ctx, tokens[i%len(tokens)]); r || err != nil {
			b.Fatal(r, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(src.reads.Load()-before)/float64(b.N), "redis-reads/op")
}

// benchToken is the n-th of a series of distinct RS256-shaped tokens, each
// of its own user; given: with its ContentDigest.
func benchToken(n int, iat time.Time, given bool) Token {
	sub := "bench-user-" + strconv.Itoa(n)
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"https://auth.example.com","sub":"` + sub +
		`","aud":["bench-client"],"exp":` + strconv.FormatInt(iat.Add(time.Hour).Unix(), 10) +
		`,"iat":` + strconv.FormatInt(iat.Unix(), 10) + `,"scope":"user","jti":"` + strconv.Itoa(n) + `"}`))
	raw := "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJlbmNoIiwidHlwIjoiSldUIn0." + payload + "." + benchSignature
	t := tok(raw, sub, "", iat)
	if given {
		t.ContentDigest = sha256.Sum256([]byte(store.TokenContent(raw)))
	}
	return t
}

// benchSignature stands for a 2048-bit RSA signature: the check never
// looks at it, only at its length.
var benchSignature = strings.Repeat("s", 342)
