package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// slack is what a failing call may take beyond the timeout: scheduling on a
// busy two-core machine under -race.
const slack = 400 * time.Millisecond

// calls are one of each kind of store operation, for outage tests.
func calls(s *Store, i int) []func(context.Context) error {
	user := fmt.Sprint("out", i)
	return []func(context.Context) error{
		func(ctx context.Context) error {
			_, err := s.Edit(ctx, Edit{Actor: user, Target: user, CreateIfMissing: true, Changes: Changes{Username: ptr(user)}})
			return err
		},
		func(ctx context.Context) error { _, _, err := s.Profile(ctx, user); return err },
		func(ctx context.Context) error { _, err := s.EnsureProfile(ctx, user); return err },
		func(ctx context.Context) error {
			_, err := s.StartVerification(ctx, newVerification(user, user, "email", user+"@example.com"))
			return err
		},
		func(ctx context.Context) error { _, err := s.SudoValid(ctx, user, "x"); return err },
		func(ctx context.Context) error { return s.Ping(ctx) },
	}
}

// wantUnavailable runs call and checks it fails as unavailable within the
// timeout.
func wantUnavailable(t testing.TB, timeout time.Duration, call func(context.Context) error) {
	t.Helper()
	start := time.Now()
	err := call(context.Background())
	took := time.Since(start)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("err = %v, want unavailable", err)
	}
	if took > timeout+slack {
		t.Errorf("failing took %v, timeout %v", took, timeout)
	}
}

// TestOutageAndRecovery stops Redis under load, then brings back an empty
// one (no data, no scripts): every call meanwhile is unavailable within the
// timeout, and the store serves again at once, reloading its scripts.
func TestOutageAndRecovery(t *testing.T) {
	const timeout = 300 * time.Millisecond
	f := newFixture(t, func(o *Options) { o.Timeout = timeout })
	f.set(t, "warm", Changes{Nickname: ptr("Warm")})

	f.srv.Stop()
	// Far more failing calls than go-redis's pool has connections
	// (10 per CPU), so that a pool counting failed dials would have given
	// up dialing and fallen back to probing once a second.
	n := 3 * 10 * runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ops := calls(f.Store, i)
			wantUnavailable(t, timeout, ops[i%len(ops)])
		}()
	}
	wg.Wait()
	// And failing calls one after another.
	for _, call := range calls(f.Store, 0) {
		wantUnavailable(t, timeout, call)
	}

	f.srv.Restart()
	back := time.Now()
	// The first call is a script, so NOSCRIPT is on its path.
	for {
		_, err := f.Edit(context.Background(), Edit{Actor: "u1", Target: "u1", CreateIfMissing: true, Changes: Changes{Username: ptr("Back")}})
		if err == nil {
			break
		}
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("after restart: %v", err)
		}
		// Retry-After: 1 (docs/api.md#when-redis-is-unreachable) asks for
		// about a second; the dialer's polling makes it redialEvery, and
		// plain go-redis (probing once a second once its dials failed) would
		// take up to a second.
		if time.Since(back) > 500*time.Millisecond {
			t.Fatalf("still unavailable %v after Redis came back: %v", time.Since(back), err)
		}
	}
	t.Logf("served again %v after Redis came back", time.Since(back))
	for i, call := range calls(f.Store, 0) {
		if err := call(context.Background()); err != nil {
			t.Errorf("call %d after recovery: %v", i, err)
		}
	}
	f.audit(t)
}

// TestOutageMessageNamesCause: a Redis that was never there is
// unavailable, and the error says why.
func TestOutageMessageNamesCause(t *testing.T) {
	s, err := New(Options{Addresses: []string{fmt.Sprintf("127.0.0.1:%d", redistest.FreePort(t))}, EnvironmentID: testEnv, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantUnavailable(t, 200*time.Millisecond, s.Ping)
	err = s.Ping(context.Background())
	if !strings.Contains(err.Error(), "refused") {
		t.Errorf("message does not name the cause: %v", err)
	}
}

// TestScriptsReloadedAfterFlush: SCRIPT FLUSH (or a restart) empties the
// script cache; every script is sent again.
func TestScriptsReloadedAfterFlush(t *testing.T) {
	f := newFixture(t)
	f.set(t, "u1", Changes{Email: ptr("a@example.com")})
	if err := f.raw.ScriptFlush(ctxT(t)).Err(); err != nil {
		t.Fatal(err)
	}
	f.set(t, "u1", Changes{Nickname: ptr("N")})
	if _, err := f.EnsureProfile(ctxT(t), "u2"); err != nil {
		t.Fatal(err)
	}
	// The fallback EVAL caches the script again, so EVALSHA works next time.
	for _, sc := range []*script{scriptEdit, scriptEnsureProfile} {
		ok, err := f.raw.ScriptExists(ctxT(t), sc.sha).Result()
		if err != nil || !ok[0] {
			t.Errorf("%s not cached after its run: %v %v", sc.name, ok, err)
		}
	}
	tok := f.curUserVerified(t, "u1", "email", "a@example.com", "a@example.com")
	f.raw.ScriptFlush(ctxT(t))
	if err := f.IssueSudo(ctxT(t), "u1", tok, "sudo", time.Minute, bothContacts); err != nil {
		t.Fatal(err)
	}
}

// fakeRedis answers every command with reply, or with nothing at all when
// reply is empty. It stands for a Redis in a state a real one is hard to
// hold still in.
func fakeRedis(t testing.TB, reply string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				rd := bufio.NewReader(c)
				for {
					if err := readCommand(rd); err != nil {
						return
					}
					if reply != "" {
						if _, err := io.WriteString(c, reply); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// readCommand reads one RESP command (an array of bulk strings).
func readCommand(rd *bufio.Reader) error {
	line, err := rd.ReadString('\n')
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil {
		return err
	}
	for range n {
		line, err := rd.ReadString('\n')
		if err != nil {
			return err
		}
		size, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "$")))
		if err != nil {
			return err
		}
		if _, err := rd.Discard(size + 2); err != nil {
			return err
		}
	}
	return nil
}

func storeAt(t testing.TB, addr string, timeout time.Duration) *Store {
	t.Helper()
	s, err := New(Options{Addresses: []string{addr}, EnvironmentID: testEnv, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestLoadingIsUnavailable: Redis loading its data after a restart answers
// LOADING to everything; that is unavailable, not an internal error.
func TestLoadingIsUnavailable(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s := storeAt(t, fakeRedis(t, "-LOADING Redis is loading the dataset in memory\r\n"), timeout)
	for _, call := range calls(s, 0) {
		wantUnavailable(t, timeout, call)
	}
	if err := s.Ping(context.Background()); !strings.Contains(err.Error(), "LOADING") {
		t.Errorf("err = %v, want it to say LOADING", err)
	}
}

// TestSilentRedisIsUnavailable: a Redis that accepts and never answers
// (stopped, or partitioned after the handshake) is unavailable at the
// timeout.
func TestSilentRedisIsUnavailable(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s := storeAt(t, fakeRedis(t, ""), timeout)
	for _, call := range calls(s, 0) {
		wantUnavailable(t, timeout, call)
	}
}

// TestBusyIsUnavailable: a real Redis stuck in a long script answers BUSY.
func TestBusyIsUnavailable(t *testing.T) {
	srv := redistest.Start(t, "--lua-time-limit", "50")
	const timeout = 500 * time.Millisecond
	s := storeAt(t, srv.Addr, timeout)
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr, ReadTimeout: -1})
	defer raw.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		raw.Eval(context.Background(), "local i = 0 while true do i = i + 1 end", nil)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := redistest.Command(srv.Addr, "PING")
		if err != nil && strings.HasPrefix(err.Error(), "BUSY") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis never got busy: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantUnavailable(t, timeout, s.Ping)
	if _, err := redistest.Command(srv.Addr, "SCRIPT", "KILL"); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("after SCRIPT KILL: %v", err)
	}
}

// TestRedisErrorsAreNotUnavailable: a reply that means a bug or a
// misconfiguration is an internal error, not a reason to retry.
func TestRedisErrorsAreNotUnavailable(t *testing.T) {
	f := newFixture(t)
	if err := f.raw.HSet(ctxT(t), f.keys.profile("u1"), "not", "a string").Err(); err != nil {
		t.Fatal(err)
	}
	for i, call := range []func() error{
		func() error { _, err := f.EnsureProfile(ctxT(t), "u1"); return err },
		func() error {
			_, err := f.Edit(ctxT(t), Edit{Actor: "u1", Target: "u1", Changes: Changes{Nickname: ptr("x")}})
			return err
		},
	} {
		err := call()
		if err == nil || errors.Is(err, ErrUnavailable) {
			t.Errorf("call %d: err = %v, want an internal error", i, err)
		}
	}

	srv := redistest.Start(t, "--requirepass", "right")
	s, err := New(Options{Addresses: []string{srv.Addr}, EnvironmentID: testEnv, Password: "wrong", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(context.Background()); err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("wrong password: err = %v, want an internal error", err)
	}
	s2, err := New(Options{Addresses: []string{srv.Addr}, EnvironmentID: testEnv, Password: "right", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.Ping(context.Background()); err != nil {
		t.Errorf("right password: %v", err)
	}
}

// TestOutOfMemoryIsUnavailable: a Redis at its maxmemory under noeviction
// refuses a script's first write with OOM (and lets a script that has
// written go on: no half change). Every write answers unavailable, not an
// internal error, with nothing written, and writes again once memory is
// freed. The revocation and the edit below make their event the first
// write (no rate limit), which must not hide Redis's refusal.
func TestOutOfMemoryIsUnavailable(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	revoke := func() error {
		_, err := f.Revoke(ctx, Revoke{Kind: RevokedToken, TokenDigest: TokenDigest("oom"), Until: f.clock.Now().Add(time.Hour),
			UserID: "u1", Actor: "u1", Origin: testOrigin("d1"), Events: eventsOn})
		return err
	}
	edit := func(rate int) func() error {
		return func() error {
			e := Edit{Actor: "u1", Target: "u1", CreateIfMissing: true, SudoSatisfied: true,
				Changes: Changes{Nickname: ptr("Zhang San")}, Origin: testOrigin("d1"), Events: eventsOn}
			if rate > 0 {
				e.RateLimit = Limit{Count: rate, Window: time.Minute}
			}
			_, err := f.Edit(ctx, e)
			return err
		}
	}
	ensure := func() error { _, err := f.EnsureProfile(ctx, "u2"); return err }
	writes := map[string]func() error{"revoke": revoke, "edit": edit(0), "limited edit": edit(30), "ensure": ensure}

	if err := f.raw.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := f.raw.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	for name, write := range writes {
		if err := write(); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s at maxmemory: err = %v, want ErrUnavailable", name, err)
		}
	}
	if n, err := f.raw.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Errorf("at maxmemory: %d keys written (%v), want none", n, err)
	}
	if err := f.raw.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	for name, write := range writes {
		if err := write(); err != nil {
			t.Errorf("%s after memory was freed: %v", name, err)
		}
	}
	f.audit(t)
}

// TestDemotedMasterIsUnavailable: the node the store talks to becomes a
// replica (a failover it was not told of): every write, the revocation
// whose first write is its event included, is unavailable, not an
// internal error, and writes work again once it is a master, with no
// restart of the store.
func TestDemotedMasterIsUnavailable(t *testing.T) {
	f := newFixture(t)
	other := redistest.Start(t)
	ctx := ctxT(t)
	writes := map[string]func() error{
		"revoke": func() error {
			_, err := f.Revoke(ctx, Revoke{Kind: RevokedToken, TokenDigest: TokenDigest("ro"), Until: f.clock.Now().Add(time.Hour),
				UserID: "u1", Actor: "u1", Origin: testOrigin("d1"), Events: eventsOn})
			return err
		},
		"edit": func() error {
			_, err := f.Edit(ctx, Edit{Actor: "u1", Target: "u1", CreateIfMissing: true, SudoSatisfied: true,
				RateLimit: Limit{Count: 30, Window: time.Minute}, Changes: Changes{Nickname: ptr("Zhang San")},
				Origin: testOrigin("d1"), Events: eventsOn})
			return err
		},
	}
	if err := f.raw.SlaveOf(ctx, "127.0.0.1", strconv.Itoa(other.Port)).Err(); err != nil {
		t.Fatal(err)
	}
	for name, write := range writes {
		if err := write(); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "READONLY") {
			t.Errorf("%s on a replica: err = %v, want ErrUnavailable saying READONLY", name, err)
		}
	}
	if err := f.raw.SlaveOf(ctx, "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	for name, write := range writes {
		if err := write(); err != nil {
			t.Errorf("%s once a master again: %v", name, err)
		}
	}
	f.audit(t)
}
