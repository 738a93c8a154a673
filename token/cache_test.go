package token

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

func TestCacheHitSkipsSignatureButRechecksTimeAndAudience(t *testing.T) {
	k := keys()
	c := newClock()
	v := newVerifier(t, baseConfig(t, c))
	cl := validClaims()
	cl["exp"] = testStart.Add(10 * time.Minute).Unix()
	cl["aud"] = []string{"env-1", "env-2"}
	cl["scope"] = "admin"
	raw := mint(t, jwa.RS256, k.rsa, cl, nil)
	first := mustVerify(t, v, raw)
	if v.cache.len() != 1 {
		t.Fatalf("cache holds %d entries", v.cache.len())
	}

	// Take the keys away: only a cache hit can still accept the token.
	v.static = newKeySet(nil)
	second := mustVerify(t, v, raw)
	if *second != *first || second == first {
		t.Fatalf("a hit must return an equal, separate copy: %+v vs %+v", second, first)
	}
	second.Admin = false
	if third := mustVerify(t, v, raw); !third.Admin {
		t.Fatal("a caller changing its claims changed the cache")
	}

	// The audience depends on the caller, hit or not.
	if _, err := v.Verify(t.Context(), raw, "env-2"); err != nil {
		t.Fatal(err)
	}
	refuseFor(t, v, raw, "env-3", "audience not accepted")

	// Within the leeway after exp it still passes; after, it is refused and
	// forgotten.
	c.Advance(10*time.Minute + 29*time.Second)
	mustVerify(t, v, raw)
	c.Advance(time.Second)
	mustRefuse(t, v, raw, "token expired")
	if v.cache.len() != 0 {
		t.Fatal("an expired token stays cached")
	}
	// And with the keys gone, it is now refused for what it is.
	c.Advance(-time.Hour)
	mustRefuse(t, v, raw, "no key for this token's algorithm")
}

func TestCacheRechecksNotBefore(t *testing.T) {
	k := keys()
	c := newClock()
	v := newVerifier(t, baseConfig(t, c))
	raw := mint(t, jwa.ES256, k.ec256, validClaims(), nil)
	mustVerify(t, v, raw)
	c.Advance(-time.Minute) // the clock steps back past nbf
	v.static = newKeySet(nil)
	mustRefuse(t, v, raw, "token not yet valid")
}

func TestCacheIsKeyedByHash(t *testing.T) {
	k := keys()
	v := newVerifier(t, baseConfig(t, newClock()))
	raw := mint(t, jwa.RS256, k.rsa, validClaims(), nil)
	mustVerify(t, v, raw)
	key := sha256.Sum256([]byte(raw))
	if v.cache.get(&key, 0) == nil {
		t.Fatal("the entry is not under the token's SHA-256")
	}
}

func TestCacheDoesNotKeepFailures(t *testing.T) {
	k := keys()
	v := newVerifier(t, baseConfig(t, newClock()))
	cl := validClaims()
	cl["aud"] = "env-2"
	mustRefuse(t, v, mint(t, jwa.RS256, k.rsa, cl, nil), "audience not accepted")
	mustRefuse(t, v, mint(t, jwa.RS256, k.rsa2, validClaims(), nil), "invalid signature")
	if n := v.cache.len(); n != 0 {
		t.Fatalf("cache holds %d refused tokens", n)
	}
}

func TestCacheIsBounded(t *testing.T) {
	k := keys()
	for _, size := range []int{1, 5, 300} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			cfg := baseConfig(t, newClock())
			cfg.CacheSize = size
			v := newVerifier(t, cfg)
			for i := 0; i < size+40; i++ {
				cl := validClaims()
				cl["jti"] = fmt.Sprint(i)
				cl["exp"] = testStart.Add(time.Duration(i+1) * time.Minute).Unix()
				mustVerify(t, v, mint(t, jwa.ES256, k.ec256, cl, nil))
			}
			if n := v.cache.len(); n > size || n == 0 {
				t.Fatalf("cache of size %d holds %d entries", size, n)
			}
		})
	}
}

func TestCacheEvictsSoonestExpiring(t *testing.T) {
	c := newVerifiedCache(3)
	put := func(id byte, exp time.Duration) {
		key := [sha256.Size]byte{id}
		c.put(&key, 0, &verified{notAfter: testStart.Add(exp)})
	}
	put(1, time.Hour)
	put(2, time.Minute) // expires first
	put(3, time.Hour)
	put(4, time.Hour)
	if c.get(&[sha256.Size]byte{2}, 0) != nil {
		t.Fatal("the soonest-expiring entry survived")
	}
	for _, id := range []byte{1, 3, 4} {
		if c.get(&[sha256.Size]byte{id}, 0) == nil {
			t.Fatalf("entry %d was evicted", id)
		}
	}
}

func TestCacheGenerations(t *testing.T) {
	c := newVerifiedCache(10)
	key := [sha256.Size]byte{1}
	v := &verified{notAfter: testStart}
	c.put(&key, 0, v)
	if c.get(&key, 1) != nil {
		t.Fatal("an entry of generation 0 served generation 1")
	}
	c.observe(1)
	if c.len() != 0 {
		t.Fatal("a new generation must drop every entry")
	}
	c.put(&key, 0, v) // a late Verify that used the old keys
	if c.len() != 0 {
		t.Fatal("an entry of an old generation was stored")
	}
	c.observe(0) // generations never go back
	c.put(&key, 1, v)
	if c.get(&key, 1) != v {
		t.Fatal("entry of the current generation lost")
	}
}

func TestCacheOff(t *testing.T) {
	k := keys()
	cfg := baseConfig(t, newClock())
	cfg.CacheSize = -1
	v := newVerifier(t, cfg)
	raw := mint(t, jwa.RS256, k.rsa, validClaims(), nil)
	mustVerify(t, v, raw)
	v.static = newKeySet(nil)
	mustRefuse(t, v, raw, "no key for this token's algorithm")
}
