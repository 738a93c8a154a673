package store

import (
	"hash/fnv"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
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
		// This round's keys, with user IDs holding braces.
		k.history("{u}"), k.events(), k.lookups("ip:203.0.113.1"), k.callerMinuteSends("u{"),
		k.revokedToken("d"), k.revokedUser("}u{"), k.revokedDevice("u{", "d}"), k.revocationRate("{"),
		k.revocationSeq(), k.revocationLog(), k.revocationEpoch(),
	}
	p, r, h := k.editKeys("{t}", "a}", true, true)
	all = append(all, p, r, h)
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

// TestUniqueKeyOfEmail: the store keys emails as the profile package does,
// so the spellings of one address share one index entry.
func TestUniqueKeyOfEmail(t *testing.T) {
	for _, in := range []string{"a@bücher.example", "a@BÜCHER.example", "a@xn--bcher-kva.example", "A@Bücher.Example"} {
		if k := uniqueKey(fieldEmail, in); k != "a@xn--bcher-kva.example" {
			t.Errorf("uniqueKey(email, %q) = %q", in, k)
		}
	}
	if k := uniqueKey(fieldUsername, "ZhangSan"); k != "zhangsan" {
		t.Errorf("username key %q", k)
	}
	if k := uniqueKey(fieldPhone, "+86 13000000000"); k != "+8613000000000" {
		t.Errorf("phone key %q", k)
	}
}

// TestScriptsComputeNoKeys: no script folds or reformats a value to make
// a key (Lua cannot apply IDNA): Go computes every key and the scripts
// compare. A script that did would drift from uniqueKey.
func TestScriptsComputeNoKeys(t *testing.T) {
	entries, err := scriptFiles.ReadDir("scripts")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		src, err := scriptFiles.ReadFile("scripts/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, banned := range []string{"string.lower", "string.upper", "key_of", "string.gsub"} {
			if strings.Contains(string(src), banned) {
				t.Errorf("%s uses %s", e.Name(), banned)
			}
		}
	}
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

// TestEditKeysAsApart: editKeys builds in one allocation the keys profile,
// editRate and history build apart, and unused() for those not asked.
func TestEditKeysAsApart(t *testing.T) {
	k := newKeys("authedge", "env-1")
	for _, c := range []struct {
		target, actor string
		rate, history bool
	}{
		{"u1", "u1", true, true}, {"u1", "admin", true, false}, {"u2", "", false, true}, {"u3", "x", false, false},
	} {
		p, r, h := k.editKeys(c.target, c.actor, c.rate, c.history)
		wantR, wantH := k.unused(), k.unused()
		if c.rate {
			wantR = k.editRate(c.actor)
		}
		if c.history {
			wantH = k.history(c.target)
		}
		if p != k.profile(c.target) || r != wantR || h != wantH {
			t.Errorf("editKeys(%+v) = %q %q %q, want %q %q %q", c, p, r, h, k.profile(c.target), wantR, wantH)
		}
	}
	if k.events() != k.base+"events" {
		t.Errorf("events() = %q", k.events())
	}
}

// TestPatternsMatchOnlyTheirEnvironment: every SCAN pattern the store uses
// (Audit's, the revocation snapshot's) escapes the environment ID, so that
// an ID with glob characters never reaches another environment's keys.
func TestPatternsMatchOnlyTheirEnvironment(t *testing.T) {
	srv := redistest.Start(t)
	envs := []string{`prod[1`, `p*`, `px`, `a?b`, `x\y]`}
	for _, env := range envs {
		k := newKeys("ae", env)
		for _, key := range []string{k.profile("u"), k.history("u"), k.revokedUser("u")} {
			if _, err := redistest.Command(srv.Addr, "SET", key, "1"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, env := range envs {
		k := newKeys("ae", env)
		for want, pattern := range map[string]string{
			k.profile("u"): k.profilePattern(), k.history("u"): k.historyPattern(), k.revokedUser("u"): k.revocationPattern(),
		} {
			got, err := redistest.Command(srv.Addr, "KEYS", pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("environment %q: KEYS %s = %q, want only %q", env, pattern, got, want)
			}
		}
	}
}
