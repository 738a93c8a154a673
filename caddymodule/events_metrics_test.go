package caddymodule

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/authedge/caddy-authedge/events"
	"github.com/authedge/caddy-authedge/metrics"
)

// Each of the worker's outcomes lands in its own series of
// authedge_event_deliveries_total.
func TestEventOutcomesAreCounted(t *testing.T) {
	set := metrics.New()
	reg := prometheus.NewRegistry()
	if err := set.Register(reg); err != nil {
		t.Fatal(err)
	}
	observe := observeEventOutcome(set)
	for _, o := range []events.Outcome{events.Delivered, events.Delivered, events.Retried, events.DeadLettered} {
		observe(o)
	}
	want := `
# HELP authedge_event_deliveries_total %s
# TYPE authedge_event_deliveries_total counter
authedge_event_deliveries_total{outcome="dead_lettered"} 1
authedge_event_deliveries_total{outcome="delivered"} 2
authedge_event_deliveries_total{outcome="failed"} 1
`
	help := helpOf(t, reg, "authedge_event_deliveries_total")
	if err := testutil.GatherAndCompare(reg, strings.NewReader(strings.Replace(want, "%s", help, 1)), "authedge_event_deliveries_total"); err != nil {
		t.Fatal(err)
	}
}

func helpOf(t *testing.T, reg *prometheus.Registry, name string) string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetHelp()
		}
	}
	t.Fatalf("%s is not registered", name)
	return ""
}
