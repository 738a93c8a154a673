package caddymodule

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/store"
)

// A Redis that may evict authedge's keys is said once, at warn, naming
// its policy; noeviction, or no maxmemory, says nothing. A Redis away at
// start is checked once it is back.
func TestMemoryPolicyWarning(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // a snippet of the warning, "" for none
	}{
		{[]string{"--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"}, "may evict any key"},
		{[]string{"--maxmemory", "100mb", "--maxmemory-policy", "allkeys-random"}, "may evict any key"},
		{[]string{"--maxmemory", "100mb", "--maxmemory-policy", "volatile-lru"}, "keys with a time to live"},
		{[]string{"--maxmemory", "100mb", "--maxmemory-policy", "noeviction"}, ""},
		{[]string{"--maxmemory-policy", "allkeys-lru"}, ""},
	} {
		srv := redistest.Start(t, c.args...)
		logs := checkedPolicy(t, srv.Addr, func() {})
		if c.want == "" {
			if logs.Len() != 0 {
				t.Errorf("%v: logged %v, want nothing", c.args, messages(logs))
			}
			continue
		}
		if got := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet(c.want).Len(); got != 1 || logs.Len() != 1 {
			t.Errorf("%v: logged %q, want one warning saying %q", c.args, messages(logs), c.want)
		}
	}

	// A Redis user without +info: said once, pointing at the recipe.
	srv := redistest.Start(t, "--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lfu")
	if _, err := redistest.Command(srv.Addr, "ACL", "SETUSER", "default", "-info"); err != nil {
		t.Fatal(err)
	}
	logs := checkedPolicy(t, srv.Addr, func() {})
	if logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("A Redis ACL user").Len() != 1 || logs.Len() != 1 {
		t.Errorf("INFO refused: logged %q, want one warning naming the ACL recipe", messages(logs))
	}

	srv = redistest.Start(t, "--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lfu")
	srv.Stop()
	logs = checkedPolicy(t, srv.Addr, func() {
		time.Sleep(100 * time.Millisecond)
		srv.Restart()
	})
	if logs.FilterMessageSnippet("may evict any key").Len() != 1 {
		t.Errorf("Redis back after start: logged %q, want the warning", messages(logs))
	}
}

// checkedPolicy runs checkMemoryPolicy against addr, with meanwhile run
// beside it, and returns what it logged.
func checkedPolicy(t *testing.T, addr string, meanwhile func()) *observer.ObservedLogs {
	t.Helper()
	st, err := store.New(store.Options{Addresses: []string{addr}, EnvironmentID: "dev-env", Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	core, logs := observer.New(zapcore.DebugLevel)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		checkMemoryPolicy(ctx, st, zap.New(core), 50*time.Millisecond)
	}()
	meanwhile()
	<-done
	if ctx.Err() != nil {
		t.Fatalf("the check ran until the test gave up: %q", messages(logs))
	}
	return logs
}
