package tests

import (
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestRedisOutage stops Redis under a running Caddy: requests that need the
// store answer 503 with Retry-After within the configured timeout (300ms in
// the fixture), and once a new, empty Redis is up on the same address
// (no scripts loaded) authedge serves again within about a second.
func TestRedisOutage(t *testing.T) {
	f := newFixture(t, offPolicies)
	tok := f.token("user-1", nil)
	f.do("POST", editPath, tok, `{"nickname":"Before"}`).wantOK(t)

	f.redis.Stop()
	for _, c := range []struct{ method, path, body string }{
		{"GET", mePath, ""},
		{"POST", editPath, `{"nickname":"During"}`},
	} {
		start := time.Now()
		r := f.do(c.method, c.path, tok, c.body)
		took := time.Since(start)
		r.wantError(t, http.StatusServiceUnavailable, "unavailable")
		if n, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || n < 1 {
			t.Errorf("%s %s: Retry-After = %q, want whole seconds", c.method, c.path, r.Header.Get("Retry-After"))
		}
		if took > 2*time.Second {
			t.Errorf("%s %s: 503 took %v with a 300ms timeout", c.method, c.path, took)
		}
	}
	// Requests that need no store keep working meanwhile.
	f.do("GET", mePath, "", "").wantError(t, http.StatusUnauthorized, "unauthenticated")

	f.redis.Restart()
	start := time.Now()
	for {
		r := f.do("POST", editPath, tok, `{"nickname":"After"}`)
		if r.Status == http.StatusOK {
			break
		}
		if r.Status != http.StatusServiceUnavailable {
			t.Fatalf("after restart: %s", r)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("still 503 %v after Redis came back: %s", time.Since(start), r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("authedge took %v to serve again, want about a second", d)
	}
	// The new Redis is empty: the edit above created the profile afresh.
	wantFields(t, f.do("GET", mePath, tok, "").wantOK(t), map[string]string{"name": "After"})
}

// TestStopDuringRedisOutage: Caddy stops at once while Redis is away. The
// revocation reader, started by the first request during the outage, used
// to wait inside its subscription's dial for Redis to come back, and the
// unload waited for the reader: Caddy ignored SIGINT (a reload changing
// the redis block hung the same way) until it was killed.
func TestStopDuringRedisOutage(t *testing.T) {
	f := newFixture(t, offPolicies)
	f.redis.Stop()
	f.do("GET", mePath, f.token("user-1", nil), "").wantError(t, http.StatusServiceUnavailable, "unavailable")
	if err := f.caddy.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.caddy.done:
	case <-time.After(5 * time.Second):
		t.Fatal("caddy still running 5 s after SIGINT, with Redis away")
	}
}
