package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/internal/redistest"
)

// Twenty reloads, each config serving a request that starts everything a
// handler runs (the revocation log reader and its subscription, the
// events worker, the remote JWKS's refresher, the store's connections),
// leave no goroutine behind.
func TestReloadsLeaveNoGoroutines(t *testing.T) {
	srv := redistest.Start(t)
	background, raw := backgroundConfig(t)
	cfg := func(i int) config.Config {
		c := background(srv.Addr)
		// Every fifth reload changes the worker's settings, so workers
		// are started and stopped too, not only shared.
		c.Events.RetryFor = caddy.Duration(time.Hour * time.Duration(1+i/5))
		return c
	}
	load := func(i int) (*Handler, context.CancelFunc) {
		cfgCtx, err := caddy.ProvisionContext(nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := caddy.NewContext(cfgCtx)
		h := &Handler{Config: cfg(i)}
		if err := h.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		startConfig(t, ctx)
		r := httptest.NewRequest(http.MethodGet, "/auth/v1/user/me", nil)
		r.Header.Set("Authorization", "Bearer "+raw)
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, &nextHandler{}); err != nil || w.Code != http.StatusOK {
			t.Fatalf("reload %d: status %d, %v: %s", i, w.Code, err, w.Body)
		}
		return h, cancel
	}
	unload := func(h *Handler, cancel context.CancelFunc) {
		if err := h.Cleanup(); err != nil {
			t.Fatal(err)
		}
		cancel()
	}

	h, cancel := load(0)
	settle := func() int {
		time.Sleep(300 * time.Millisecond)
		return runtime.NumGoroutine()
	}
	for i := 1; i <= 2; i++ { // warm up what is made once per process
		next, nextCancel := load(i)
		unload(h, cancel)
		h, cancel = next, nextCancel
	}
	before := settle()
	for i := 3; i < 23; i++ {
		next, nextCancel := load(i)
		unload(h, cancel)
		h, cancel = next, nextCancel
	}
	var after int
	for deadline := time.Now().Add(5 * time.Second); ; {
		if after = settle(); after <= before+2 || time.Now().After(deadline) {
			break
		}
	}
	unload(h, cancel)
	if after > before+2 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before 20 reloads, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}
