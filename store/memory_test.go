package store

import (
	"testing"
)

// TestMemoryPolicy: the policy and limit are read from the node, and only
// a policy other than noeviction with a limit set evicts.
func TestMemoryPolicy(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	for _, c := range []struct {
		policy, max       string
		evicts, evictsAny bool
	}{
		{"noeviction", "0", false, false},
		{"noeviction", "100mb", false, false},
		{"allkeys-lru", "0", false, false},
		{"allkeys-lru", "100mb", true, true},
		{"allkeys-random", "100mb", true, true},
		{"volatile-ttl", "100mb", true, false},
		{"volatile-lfu", "100mb", true, false},
	} {
		if err := f.raw.ConfigSet(ctx, "maxmemory-policy", c.policy).Err(); err != nil {
			t.Fatal(err)
		}
		if err := f.raw.ConfigSet(ctx, "maxmemory", c.max).Err(); err != nil {
			t.Fatal(err)
		}
		p, err := f.MemoryPolicy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if p.Policy != c.policy || (p.MaxMemory == 0) != (c.max == "0") {
			t.Errorf("%s %s: read %+v", c.policy, c.max, p)
		}
		if p.Evicts() != c.evicts || p.EvictsAny() != c.evictsAny {
			t.Errorf("%s %s: Evicts %v, EvictsAny %v; want %v, %v", c.policy, c.max, p.Evicts(), p.EvictsAny(), c.evicts, c.evictsAny)
		}
	}
}

// TestReadsAtMaxMemory: a Redis full under noeviction refuses writes
// (TestOutOfMemoryIsUnavailable) but still answers what only reads, as
// docs/storage.md says: an existing profile, user/query, a token check.
func TestReadsAtMaxMemory(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	f.set(t, "u1", Changes{Username: ptr("alice")})
	if err := f.raw.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if p, err := f.EnsureProfile(ctx, "u1"); err != nil || p.Username != "alice" {
		t.Errorf("EnsureProfile of an existing user = %+v, %v", p, err)
	}
	if _, ok, err := f.ProfileByValue(ctx, "username", "alice"); err != nil || !ok {
		t.Errorf("ProfileByValue = %v, %v", ok, err)
	}
	if _, err := f.ProfilesByID(ctx, []string{"u1"}); err != nil {
		t.Errorf("ProfilesByID: %v", err)
	}
	if _, err := f.RevocationState(ctx, TokenDigest("t"), "u1", ""); err != nil {
		t.Errorf("RevocationState: %v", err)
	}
	if _, err := f.EnsureProfile(ctx, "u2"); err == nil {
		t.Error("a new profile was written at maxmemory")
	}
}
