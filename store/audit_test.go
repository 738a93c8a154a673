package store

import (
	"strings"
	"testing"
)

// TestAuditFindsOrphans: each kind of inconsistency, planted behind the
// store's back, is reported, without the value in the clear.
func TestAuditFindsOrphans(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Username: ptr("alice"), Phone: ptr("+86 13000000000"), Email: ptr("alice@example.com")})
	f.set(t, "u2", Changes{Username: ptr("bob")})
	f.audit(t)
	ctx := ctxT(t)

	// An index entry for a profile that does not hold the value.
	f.raw.HSet(ctx, f.keys.index(fieldUsername, "ghostname"), "ghostname", "u2")
	// A profile value with no index entry.
	f.raw.HDel(ctx, f.keys.index(fieldEmail, "alice@example.com"), "alice@example.com")
	// An entry in the wrong bucket.
	wrong := (bucketOf("+8613000000000") + 1) % indexBuckets
	f.raw.HSet(ctx, f.keys.indexBucket(fieldPhone, wrong), "+8613000000000", "u1")
	// An entry pointing at the wrong user.
	f.raw.HSet(ctx, f.keys.index(fieldUsername, "bob"), "bob", "u1")
	// Two profiles holding one value.
	f.raw.HSet(ctx, f.keys.profile("u3"), fieldUsername, "Alice", fieldCreated, "1", fieldUpdated, "1")

	problems, err := f.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(problems, "\n")
	for _, want := range []string{
		"username index entry gh*** → u2: that profile does not hold it",
		"email al*** of u1 has no index entry pointing back",
		"phone index entry +8*** → u1 is in the wrong bucket",
		"username index entry bo*** → u1: that profile does not hold it",
		"username bo*** of u2 has no index entry pointing back",
		"username al*** is held by the profiles of both",
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
	f.raw.HDel(ctxT(t), f.keys.profile("user"+itoa3(auditBatch+5)), fieldEmail)
	problems, err := f.Audit(ctxT(t))
	if err != nil || len(problems) != 1 {
		t.Fatalf("problems = %v, %v; want the one orphaned email entry", problems, err)
	}
}

func itoa3(i int) string {
	return string([]byte{byte('0' + i/100), byte('0' + i/10%10), byte('0' + i%10)})
}
