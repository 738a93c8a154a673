package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authedge/caddy-authedge/internal/redistest"
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
