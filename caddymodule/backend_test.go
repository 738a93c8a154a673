package caddymodule

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"

	"github.com/authedge/caddy-authedge/internal/redistest"
)

// The handlers of one environment share its store and revocation checker,
// also across a reload (the new config is provisioned before the old one
// is cleaned up), so a reload opens no connection and loads no copy of
// the revocations again. A changed redis block gets a backend of its own,
// and the last handler to go closes each.
func TestBackendSharedAcrossHandlersAndReloads(t *testing.T) {
	srv := redistest.Start(t)
	_, pub := devKeys(t, "rsa")
	cfg := baseConfig(pub, srv.Addr)
	refs := func(key string) int {
		n, _ := backendPool.References(key)
		return n
	}
	provision := func() *Handler {
		h := &Handler{Config: cfg}
		if err := h.Provision(caddyContext(t)); err != nil {
			t.Fatal(err)
		}
		return h
	}

	old, reloaded := provision(), provision()
	if old.store != reloaded.store || old.backendKey != reloaded.backendKey {
		t.Fatal("two handlers of one environment got two stores")
	}
	if n := refs(old.backendKey); n != 2 {
		t.Fatalf("%d references, want 2", n)
	}
	store, key := reloaded.store, reloaded.backendKey

	cfg.Redis.Timeout = caddy.Duration(time.Second)
	other := provision()
	if other.store == store || other.backendKey == key {
		t.Fatal("a changed redis block shares the old store")
	}

	// The revocation checker logs through the config loaded last.
	var shared *backend
	backendPool.Range(func(k, v any) bool {
		if k == key {
			shared = v.(*backend)
		}
		return true
	})
	if shared.log.current.Load() != reloaded.logger {
		t.Error("the shared backend does not log through the newest config's logger")
	}

	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if n := refs(key); n != 1 {
		t.Fatalf("after the old config's Cleanup: %d references, want 1", n)
	}
	if shared.log.current.Load() != reloaded.logger {
		t.Error("after the old config's Cleanup, the shared backend does not log through the loaded config's logger")
	}
	if _, _, err := store.Profile(t.Context(), "u1"); err != nil {
		t.Fatalf("the store of the config still loaded: %v", err)
	}
	if err := reloaded.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, ok := backendPool.References(key); ok {
		t.Error("the backend outlived its last handler")
	}
	if _, _, err := store.Profile(t.Context(), "u1"); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("the store after its last handler: %v, want it closed", err)
	}
	if err := other.Cleanup(); err != nil {
		t.Fatal(err)
	}
}

// A config unloaded (a reload, a shutdown) while its Redis is away lets go
// of its backend at once. The revocation reader, started by a request made
// during the outage, sat in a dial to subscribe to the revocations
// channel, and the backend waited for it before closing the store that
// would end the dial: Cleanup hung until Redis came back.
func TestCleanupDuringAnOutageIsPrompt(t *testing.T) {
	srv := redistest.Start(t)
	priv, pub := devKeys(t, "rsa")
	h := &Handler{Config: baseConfig(pub, srv.Addr)}
	if err := h.Provision(caddyContext(t)); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	// A request whose token verifies starts the reader; with Redis away,
	// its revocation check is 503.
	r := httptest.NewRequest(http.MethodGet, "/auth/v1/user/me", nil)
	r.Header.Set("Authorization", "Bearer "+devToken(t, priv))
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, &nextHandler{}); err != nil || w.Code != http.StatusServiceUnavailable {
		t.Fatalf("with Redis away: status %d, %v: %s", w.Code, err, w.Body)
	}
	time.Sleep(200 * time.Millisecond) // the reader is into its dial
	done := make(chan error, 1)
	go func() { done <- h.Cleanup() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		srv.Restart() // lets the hung Cleanup end
		<-done
		t.Fatal("Cleanup still waiting 3 s into the outage")
	}
}
