package store

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestAuditFindsOrphans: each kind of inconsistency, planted behind the
// store's back, is reported, without the value in the clear.
func TestAuditFindsOrphans(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Username: ptr("alice"), Phone: ptr("+86 13000000000"), Email: ptr("alice@example.com")})
	f.set(t, "u2", Changes{Username: ptr("bob")})
	f.audit(t)
	ctx := ctxT(t)

	// An index entry no profile holds.
	f.raw.HSet(ctx, f.keys.index(fieldUsername, "ghostname"), "ghostname", "1")
	// A profile value with no index entry.
	f.raw.HDel(ctx, f.keys.index(fieldEmail, "alice@example.com"), "alice@example.com")
	// An entry in the wrong bucket (and so none in the right one).
	f.raw.HDel(ctx, f.keys.index(fieldPhone, "+8613000000000"), "+8613000000000")
	wrong := (bucketOf("+8613000000000") + 1) % indexBuckets
	f.raw.HSet(ctx, f.keys.indexBucket(fieldPhone, wrong), "+8613000000000", "1")
	// An entry naming another user than the one holding the value, and
	// one left by a layout without owners.
	f.raw.HSet(ctx, f.keys.index(fieldUsername, "bob"), "bob", "u1")
	f.set(t, "u5", Changes{Username: ptr("carol")})
	f.raw.HSet(ctx, f.keys.index(fieldUsername, "carol"), "carol", "1")
	// Two profiles holding one value.
	f.raw.Set(ctx, f.keys.profile("u3"), "1\x1f1\x1f\x1fAlice", 0)
	// A profile that does not decode.
	f.raw.Set(ctx, f.keys.profile("u4"), "garbage", 0)

	problems, err := f.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(problems, "\n")
	for _, want := range []string{
		"username index entry gh*** names \"1\": no profile holds it",
		"username index entry bo*** names \"u1\", but the profile of u2 holds it",
		"username index entry ca*** names \"1\", but the profile of u5 holds it",
		"email al*** of u1 has no index entry",
		"phone index entry +8*** is in the wrong bucket",
		"phone +8*** of u1 has no index entry",
		"username al*** is held by the profiles of both",
		"profile of u4: store: corrupt profile",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("audit misses %q in:\n%s", want, all)
		}
	}
	for _, secret := range []string{"alice@example.com", "13000000000", "ghostname"} {
		if strings.Contains(all, secret) {
			t.Errorf("audit shows %q in the clear", secret)
		}
	}
}

func TestAuditManyProfiles(t *testing.T) {
	f := newFixture(t)
	// More than a scan batch, to cross batch boundaries.
	for i := range auditBatch + 10 {
		u := "user" + itoa3(i)
		f.set(t, u, Changes{Username: ptr(u), Email: ptr(u + "@example.com")})
	}
	f.audit(t)
	// Drop an email from a profile behind the store's back.
	key := f.keys.profile("user" + itoa3(auditBatch+5))
	stored, err := f.raw.Get(ctxT(t), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(stored, profileSeparator)
	parts[slices.Index(profileLayout[:], fieldEmail)] = ""
	f.raw.Set(ctxT(t), key, strings.Join(parts, profileSeparator), 0)
	problems, err := f.Audit(ctxT(t))
	if err != nil || len(problems) != 1 {
		t.Fatalf("problems = %v, %v; want the one orphaned email entry", problems, err)
	}
}

func itoa3(i int) string {
	return string([]byte{byte('0' + i/100), byte('0' + i/10%10), byte('0' + i%10)})
}

// scanTwice is a go-redis hook that answers each SCAN step with its keys
// twice: what Redis may do (SCAN guarantees every key at least once, not
// once) while a database that is written to resizes during the walk.
type scanTwice struct{}

func (scanTwice) DialHook(next redis.DialHook) redis.DialHook { return next }

func (scanTwice) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if sc, ok := cmd.(*redis.ScanCmd); ok && err == nil {
			keys, cursor := sc.Val()
			sc.SetVal(append(keys, keys...), cursor)
		}
		return err
	}
}

func (scanTwice) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestAuditKeyScannedTwice: a profile that SCAN returns twice is one
// profile, not two holding the same values.
func TestAuditKeyScannedTwice(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Hooks = []redis.Hook{scanTwice{}} })
	f.set(t, "u1", Changes{Username: ptr("alice"), Email: ptr("alice@example.com")})
	f.audit(t)
}
