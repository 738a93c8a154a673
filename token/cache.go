package token

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
)

// verifiedCache remembers tokens whose signature and claims have been
// checked, so that a client sending the same token on every request pays
// for the signature once. Entries are keyed by the token's SHA-256, never
// the token, and belong to one key-set generation: when the keys change,
// everything is dropped, because a removed key must stop working at once.
// Time and audience are re-checked on every hit (settings.accept).
//
// It is sharded to keep the lock of one shard short and uncontended, and
// when a shard is full it evicts the soonest-expiring of a few entries
// sampled at random (Go's map iteration order), which costs O(1) and keeps
// the entries that stay useful longest.
type verifiedCache struct {
	shards []cacheShard
	gen    atomic.Uint64
}

type cacheShard struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]cacheEntry
	limit   int
}

// cacheEntry is held by value, and carries its expiry itself: eviction
// compares the expiries of entries sampled at random, and on a busy server
// following two pointers per sample to reach them cost more than the rest
// of the eviction.
type cacheEntry struct {
	gen      uint64
	notAfter int64 // Unix seconds: only compared, for eviction
	v        *verified
}

// evictionSample is how many entries a full shard looks at to pick one to
// evict.
const evictionSample = 8

func newVerifiedCache(size int) *verifiedCache {
	n := 16
	if size < 256 {
		n = 1
	}
	c := &verifiedCache{shards: make([]cacheShard, n)}
	for i := range c.shards {
		c.shards[i].entries = make(map[[sha256.Size]byte]cacheEntry)
		c.shards[i].limit = size / n
	}
	return c
}

func (c *verifiedCache) shard(key *[sha256.Size]byte) *cacheShard {
	return &c.shards[int(key[0])%len(c.shards)]
}

// observe drops every entry when the key set has moved on to generation
// gen. Generations only grow; a Verify still holding an older key set does
// not bring the cache back to it.
func (c *verifiedCache) observe(gen uint64) {
	for {
		old := c.gen.Load()
		if gen <= old {
			return
		}
		if c.gen.CompareAndSwap(old, gen) {
			break
		}
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.entries)
		s.mu.Unlock()
	}
}

// get returns the entry for key if it was verified with generation gen.
func (c *verifiedCache) get(key *[sha256.Size]byte, gen uint64) *verified {
	s := c.shard(key)
	s.mu.Lock()
	e, ok := s.entries[*key]
	s.mu.Unlock()
	if !ok || e.gen != gen {
		return nil
	}
	return e.v
}

// remove forgets key, once its token has expired.
func (c *verifiedCache) remove(key *[sha256.Size]byte) {
	s := c.shard(key)
	s.mu.Lock()
	delete(s.entries, *key)
	s.mu.Unlock()
}

// put remembers v, verified with generation gen, unless the cache has
// already moved past gen.
func (c *verifiedCache) put(key *[sha256.Size]byte, gen uint64, v *verified) {
	if gen != c.gen.Load() {
		return
	}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[*key]; !ok && len(s.entries) >= s.limit {
		s.evictOne()
	}
	s.entries[*key] = cacheEntry{gen: gen, notAfter: v.notAfter.Unix(), v: v}
}

// evictOne removes the soonest-expiring of a few random entries.
func (s *cacheShard) evictOne() {
	var (
		victim  [sha256.Size]byte
		soonest int64
		found   bool
		n       int
	)
	for k, e := range s.entries {
		if !found || e.notAfter < soonest {
			victim, soonest, found = k, e.notAfter, true
		}
		if n++; n == evictionSample {
			break
		}
	}
	if found {
		delete(s.entries, victim)
	}
}

// len is the number of entries, for tests.
func (c *verifiedCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.entries)
		s.mu.Unlock()
	}
	return n
}
