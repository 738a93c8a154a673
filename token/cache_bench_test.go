package token

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"
)

// BenchmarkCachePutFull: a new token into a full cache, as every request of
// distinct tokens does (bench/run.sh's scenarios 2 and 3): each put evicts.
func BenchmarkCachePutFull(b *testing.B) {
	c := newVerifiedCache(DefaultCacheSize)
	v := &verified{notAfter: time.Now().Add(time.Hour)}
	var key [sha256.Size]byte
	for i := 0; i < DefaultCacheSize*2; i++ {
		binary.LittleEndian.PutUint64(key[:], uint64(i))
		key = sha256.Sum256(key[:])
		c.put(&key, 0, v)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		binary.LittleEndian.PutUint64(key[:], uint64(i+1<<40))
		key = sha256.Sum256(key[:])
		c.put(&key, 0, v)
	}
}
