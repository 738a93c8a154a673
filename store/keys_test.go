package store

import (
	"hash/fnv"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hashTag is the part of a key Redis Cluster hashes: the first {...} with
// something inside, else the whole key.
func hashTag(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return key
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return key
	}
	return key[open+1 : open+1+end]
}

func TestEveryKeyHasTheEnvironmentTag(t *testing.T) {
	k := newKeys("authedge", "env-1")
	all := []string{
		k.profile("u1"), k.profile("{weird}"), k.editRate("u}1"), k.verification("id{"),
		k.verificationToken("t"), k.sudoToken("t"), k.unused(),
		k.lastSend("email", "a@b"), k.dailySends("phone", "+1"),
		k.index(fieldUsername, "x"), k.index(fieldPhone, "x"), k.index(fieldEmail, "x"),
		k.indexBucket(fieldEmail, indexBuckets-1),
	}
	for _, key := range all {
		if !strings.HasPrefix(key, "authedge:{env-1}:") || hashTag(key) != "env-1" {
			t.Errorf("key %q: tag %q", key, hashTag(key))
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"no address":       {EnvironmentID: "e"},
		"no environment":   {Addresses: []string{"127.0.0.1:1"}},
		"brace in env":     {Addresses: []string{"127.0.0.1:1"}, EnvironmentID: "}e"},
		"brace in prefix":  {Addresses: []string{"127.0.0.1:1"}, EnvironmentID: "e", Prefix: "a{b"},
		"db with cluster":  {Addresses: []string{"127.0.0.1:1", "127.0.0.1:2"}, EnvironmentID: "e", DB: 1},
		"negative db":      {Addresses: []string{"127.0.0.1:1"}, EnvironmentID: "e", DB: -1},
		"negative timeout": {Addresses: []string{"127.0.0.1:1"}, EnvironmentID: "e", Timeout: -time.Second},
	} {
		if s, err := New(o); err == nil {
			s.Close()
			t.Errorf("%s: accepted", name)
		}
	}
	s, err := New(Options{Addresses: []string{"127.0.0.1:1"}, EnvironmentID: "e"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.timeout != defaultTimeout || !strings.HasPrefix(s.keys.profile("u"), defaultPrefix+":{e}:") {
		t.Errorf("defaults: timeout %v, key %q", s.timeout, s.keys.profile("u"))
	}
}

// TestUniqueKeyMatchesLua: the scripts recompute the keys of stored values
// with lib.lua's key_of; Go's uniqueKey must agree on every byte.
func TestUniqueKeyMatchesLua(t *testing.T) {
	f := newFixture(t)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	inputs := []string{
		string(all), "ZhangSan@Example.COM", "+86 13000000000", "+8613000000000", "+1 650 253 0000",
		" lead", "ÄÖÜ İSTANBUL \u212a ǅ", "",
	}
	for _, field := range []string{fieldUsername, fieldPhone, fieldEmail, fieldNickname} {
		for _, in := range inputs {
			got, err := f.raw.Eval(ctxT(t), scriptLib()+"return key_of(ARGV[1], ARGV[2])", nil, field, in).Text()
			if err != nil {
				t.Fatal(err)
			}
			if want := uniqueKey(field, in); got != want {
				t.Errorf("%s: Lua key_of(%q) = %q, Go = %q", field, in, got, want)
			}
		}
	}
}

func FuzzUniqueKeyMatchesLua(f *testing.F) {
	fx := newFixture(f)
	f.Add("u", "MiXeD")
	f.Add("p", "+44 7911 123456")
	f.Add("e", "A@B.C")
	f.Fuzz(func(t *testing.T, field, in string) {
		got, err := fx.raw.Eval(ctxT(t), scriptLib()+"return key_of(ARGV[1], ARGV[2])", nil, field, in).Text()
		if err != nil {
			t.Fatal(err)
		}
		if want := uniqueKey(field, in); got != want {
			t.Errorf("%s: Lua key_of(%q) = %q, Go = %q", field, in, got, want)
		}
	})
}

func scriptLib() string {
	lib, err := scriptFiles.ReadFile("scripts/lib.lua")
	if err != nil {
		panic(err)
	}
	return string(lib) + "\n"
}

func TestBucketOfIsFNV1a(t *testing.T) {
	h := fnv.New32a()
	for _, s := range []string{"", "a", "alice", "+8613000000000", "zhang@example.com"} {
		h.Reset()
		h.Write([]byte(s))
		if got, want := bucketOf(s), h.Sum32()%indexBuckets; got != want {
			t.Errorf("bucketOf(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestBucketsSpread(t *testing.T) {
	counts := make(map[uint32]int)
	for i := range 20 * indexBuckets {
		counts[bucketOf("user"+strconv.Itoa(i))]++
	}
	if len(counts) != indexBuckets {
		t.Fatalf("%d of %d buckets used", len(counts), indexBuckets)
	}
	for b, n := range counts {
		// 20 expected, as at 330k users; a bucket past 50 would mean
		// clustering that fills some past listpack's 128 at a million.
		if n > 50 {
			t.Fatalf("bucket %x holds %d", b, n)
		}
	}
}
