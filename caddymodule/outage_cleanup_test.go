package caddymodule

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/internal/redistest"
)

// A config whose Redis cannot be reached unloads at once. The revocation
// reader, started by the first request, used to subscribe to its channel
// synchronously, inside a dial that retries until Redis is back; Cleanup
// waited for that reader, and so for Redis: a `caddy reload` fixing a
// mistyped redis address, or stopping Caddy during an outage, hung for as
// long as Redis was away.
func TestCleanupDoesNotWaitForAnAbsentRedis(t *testing.T) {
	priv, pub := devKeys(t, "ec")
	nobody := fmt.Sprintf("127.0.0.1:%d", redistest.FreePorts(t, 1)[0])
	t.Setenv("OUTAGE_TEST_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	cfg := baseConfig(pub, nobody)
	// The events worker, which reads Redis in a loop of its own, too.
	cfg.Events = &config.Events{Webhook: &config.Webhook{URL: "http://127.0.0.1:9/events", Secret: "{env.OUTAGE_TEST_SECRET}"}}
	h := &Handler{Config: cfg}
	if err := h.Provision(caddyContext(t)); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/auth/v1/user/me", nil)
	r.Header.Set("Authorization", "Bearer "+devToken(t, priv))
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, &nextHandler{}); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("/auth/v1/user/me with Redis away: %d %s, want 503", w.Code, w.Body)
	}
	done := make(chan error, 1)
	go func() { done <- h.Cleanup() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Cleanup: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Cleanup still waiting for Redis after 5 s")
	}
}
