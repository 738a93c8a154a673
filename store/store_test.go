package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

const testEnv = "env1"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a Store on a fresh redis-server, with a raw client to look
// behind its back.
type fixture struct {
	*Store
	srv   *redistest.Server
	raw   *redis.Client
	clock *clock
}

func newFixture(t testing.TB, tweak ...func(*Options)) *fixture {
	t.Helper()
	srv := redistest.Start(t)
	clk := &clock{t: time.UnixMilli(1_700_000_000_000)}
	opts := Options{
		Addresses:     []string{srv.Addr},
		EnvironmentID: testEnv,
		// Generous: -race on two cores is slow, and no test here is about
		// the timeout but the outage ones, which set their own.
		Timeout: 2 * time.Second,
		Now:     clk.Now,
	}
	for _, f := range tweak {
		f(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = raw.Close() })
	return &fixture{Store: s, srv: srv, raw: raw, clock: clk}
}

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ptr(s string) *string { return &s }

func fieldSet(t testing.TB, names ...string) FieldSet {
	t.Helper()
	s, err := NewFieldSet(names...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func contactSet(t testing.TB, names ...string) FieldSet {
	t.Helper()
	s, err := NewContactSet(names...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mustEdit applies e and fails the test on any error.
func (f *fixture) mustEdit(t testing.TB, e Edit) EditResult {
	t.Helper()
	res, err := f.Edit(ctxT(t), e)
	if err != nil {
		t.Fatalf("Edit(%s): %v", e.Target, err)
	}
	return res
}

// set creates or edits user's own profile with no policy in the way.
func (f *fixture) set(t testing.TB, user string, c Changes) EditResult {
	t.Helper()
	return f.mustEdit(t, Edit{Actor: user, Target: user, CreateIfMissing: true, Changes: c, SudoSatisfied: true})
}

func (f *fixture) profile(t testing.TB, user string) Profile {
	t.Helper()
	p, ok, err := f.Profile(ctxT(t), user)
	if err != nil || !ok {
		t.Fatalf("Profile(%s) = %v, %v", user, ok, err)
	}
	return p
}

// audit fails the test if anything is orphaned.
func (f *fixture) audit(t testing.TB) {
	t.Helper()
	problems, err := f.Audit(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error("audit:", p)
	}
}

// owner is the user the index names as a unique value's owner: "" if the
// index has no entry for it, "<nobody>" if it has one but no profile holds
// the value. An entry naming another user than the profile holding the
// value fails the test.
func (f *fixture) owner(t testing.TB, field, key string) string {
	t.Helper()
	named, err := f.raw.HGet(ctxT(t), f.keys.index(field, key), key).Result()
	if errors.Is(err, redis.Nil) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := f.raw.Keys(ctxT(t), f.keys.profilePattern()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range profiles {
		stored, err := f.raw.Get(ctxT(t), k).Result()
		if err != nil {
			t.Fatal(err)
		}
		values := splitProfile(stored)
		if v := values.of(field); v != "" && uniqueKey(field, v) == key {
			if holder := f.keys.profileUser(k); holder != named {
				t.Fatalf("the %s index names %q as the owner of %q, but %q's profile holds it", field, named, key, holder)
			}
			return named
		}
	}
	return "<nobody>"
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func wantConflict(t testing.TB, err error, field string) {
	t.Helper()
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Field != field {
		t.Fatalf("err = %v, want a conflict on %s", err, field)
	}
	if errors.Is(err, ErrUnavailable) {
		t.Fatalf("a conflict is not unavailability: %v", err)
	}
}

func wantRateLimited(t testing.TB, err error, min, max time.Duration) {
	t.Helper()
	var rl *RateLimitedError
	if !errors.As(err, &rl) {
		t.Fatalf("err = %v, want rate limited", err)
	}
	if rl.RetryAfter < min || rl.RetryAfter > max {
		t.Fatalf("RetryAfter = %v, want within [%v, %v]", rl.RetryAfter, min, max)
	}
}
