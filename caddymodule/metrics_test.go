package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/metrics"
)

// unauthorizedMe reads requests_total{endpoint="user.me",code="401"} from
// reg; -1 if absent.
func unauthorizedMe(t *testing.T, reg prometheus.Gatherer) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != "authedge_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			if strings.Join(labels, ",") == "code=401,endpoint=user.me" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// TestMetricsAcrossReloads provisions as Caddy does: two handlers in one
// config (one registry), then a new config (a new registry). Neither is a
// "duplicate metrics collector registration" error, and the counters go
// on from where they were, on the new registry.
func TestMetricsAcrossReloads(t *testing.T) {
	_, pub := devKeys(t, "rsa")
	srv := redistest.Start(t)
	cfg := baseConfig(pub, srv.Addr)

	serveMe := func(h *Handler) {
		t.Helper()
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/auth/v1/user/me", nil), &nextHandler{}); err != nil {
			t.Fatal(err)
		}
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("me without a token: %d", w.Code)
		}
	}
	provisionIn := func(ctx caddy.Context) *Handler {
		t.Helper()
		h := &Handler{Config: cfg}
		if err := h.Provision(ctx); err != nil {
			_ = h.Cleanup()
			t.Fatalf("Provision: %v", err)
		}
		t.Cleanup(func() { _ = h.Cleanup() })
		return h
	}

	first := caddyContext(t)
	a, b := provisionIn(first), provisionIn(first)
	before := unauthorizedMe(t, first.GetMetricsRegistry())
	serveMe(a)
	serveMe(b)
	if got := unauthorizedMe(t, first.GetMetricsRegistry()); got != before+2 {
		t.Fatalf("two handlers of one config: %v, want %v", got, before+2)
	}

	second := caddyContext(t)
	c := provisionIn(second)
	if got := unauthorizedMe(t, second.GetMetricsRegistry()); got != before+2 {
		t.Fatalf("the reloaded config's registry reads %v, want the %v counted before", got, before+2)
	}
	serveMe(c)
	if got := unauthorizedMe(t, second.GetMetricsRegistry()); got != before+3 {
		t.Fatalf("after the reload: %v, want %v", got, before+3)
	}
}

// redisCount reads authedge_redis_command_duration_seconds_count for
// command from reg.
func redisCount(t *testing.T, reg prometheus.Gatherer, command string) uint64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != "authedge_redis_command_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "command" && l.GetValue() == command {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	t.Fatalf("no %s series", command)
	return 0
}

// The events worker's Redis commands are measured as the store's are
// (docs/metrics.md lists xgroup, xpending, xread among the commands):
// the worker has a client of its own, which needs the hook too, or a
// Redis that fails the deliveries shows nothing in the Redis metrics.
func TestEventsWorkerRedisCommandsAreMeasured(t *testing.T) {
	_, pub := devKeys(t, "rsa")
	srv := redistest.Start(t)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer receiver.Close()
	cfg := baseConfig(pub, srv.Addr)
	cfg.Events = &config.Events{Webhook: &config.Webhook{URL: receiver.URL, Secret: "s3cret-for-the-metrics-test"}}

	reg := prometheus.NewRegistry()
	if err := metrics.Shared().Register(reg); err != nil {
		t.Fatal(err)
	}
	// Only the worker sends XGROUP (creating its group as it starts).
	before := redisCount(t, reg, "xgroup")
	provisioned(t, cfg)
	for deadline := time.Now().Add(5 * time.Second); redisCount(t, reg, "xgroup") == before; {
		if time.Now().After(deadline) {
			t.Fatal("the events worker's XGROUP was not measured")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
