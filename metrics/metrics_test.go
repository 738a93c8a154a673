package metrics

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// value reads one series from reg: the counter's or gauge's value, or the
// histogram's sample count. Absent is -1.
func value(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel())*2 != len(labels) {
				continue
			}
			for i, l := range m.GetLabel() {
				if l.GetName() != labels[2*i] || l.GetValue() != labels[2*i+1] {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

func series(t testing.TB, reg prometheus.Gatherer, name string) []*dto.Metric {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()
		}
	}
	return nil
}

func TestStatusLabels(t *testing.T) {
	for _, status := range []int{200, 400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 501, 503} {
		if got := StatusLabel(status); got != strconv.Itoa(status) {
			t.Errorf("StatusLabel(%d) = %q", status, got)
		}
	}
	for _, status := range []int{0, 100, 201, 204, 302, 418, 502, 599, -1, 1 << 20} {
		if got := StatusLabel(status); got != "other" {
			t.Errorf("StatusLabel(%d) = %q, want other", status, got)
		}
	}
}

func TestOutcomeNames(t *testing.T) {
	check := func(got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	check(TokenValid.String(), "valid")
	check(TokenExpired.String(), "expired")
	check(TokenBadSignature.String(), "bad_signature")
	check(TokenUnknownKey.String(), "unknown_key")
	check(TokenRevoked.String(), "revoked")
	check(TokenMalformed.String(), "malformed")
	check(TokenOther.String(), "other")
	check(numTokenOutcomes.String(), "invalid")
	check(ChannelSMS.String(), "sms")
	check(ChannelEmail.String(), "email")
	check(numChannels.String(), "invalid")
	check(SendDelivered.String(), "delivered")
	check(SendFailed.String(), "failed")
	check(SendUnknown.String(), "unknown")
	check(SendRateLimited.String(), "rate_limited")
	check(numSendOutcomes.String(), "invalid")
	check(RefusedConflict.String(), "conflict")
	check(RefusedRateLimit.String(), "rate_limit")
	check(RefusedVerification.String(), "verification")
	check(RefusedSudo.String(), "sudo")
	check(numRefusals.String(), "invalid")
	check(EventDelivered.String(), "delivered")
	check(EventFailed.String(), "failed")
	check(EventDeadLettered.String(), "dead_lettered")
	check(numEventOutcomes.String(), "invalid")
	for _, name := range []string{"sms", "email"} {
		c, ok := ChannelOf(name)
		if !ok || c.String() != name {
			t.Errorf("ChannelOf(%q) = %v, %v", name, c, ok)
		}
	}
	for _, name := range []string{"", "SMS", "phone", "push"} {
		if _, ok := ChannelOf(name); ok {
			t.Errorf("ChannelOf(%q) accepted", name)
		}
	}
}

func TestRedisCommandLabels(t *testing.T) {
	for _, name := range []string{"evalsha", "eval", "get", "hget", "xadd", "xautoclaim", "ping"} {
		if got := RedisCommandLabel(name); got != name {
			t.Errorf("RedisCommandLabel(%q) = %q", name, got)
		}
	}
	// Anything else, a key-like string included, is "other": the label
	// never carries what a caller chose.
	for _, name := range []string{"", "flushall", "EVALSHA", "authedge:{env}:p:user-1", "config get"} {
		if got := RedisCommandLabel(name); got != "other" {
			t.Errorf("RedisCommandLabel(%q) = %q, want other", name, got)
		}
	}
}

// TestEverySeriesExistsFromTheStart: the fixed sets are created with the
// Set, so a rate over a series that has not moved yet is 0, not absent.
func TestEverySeriesExistsFromTheStart(t *testing.T) {
	s := New()
	reg := prometheus.NewPedanticRegistry()
	if err := s.Register(reg); err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]int{
		"authedge_token_checks_total":             int(numTokenOutcomes),
		"authedge_token_cache_lookups_total":      2,
		"authedge_code_sends_total":               int(numChannels) * int(numSendOutcomes),
		"authedge_edits_refused_total":            int(numRefusals),
		"authedge_event_deliveries_total":         int(numEventOutcomes),
		"authedge_redis_command_duration_seconds": int(numRedisCommands),
		"authedge_redis_command_errors_total":     int(numRedisCommands),
		"authedge_event_lag_seconds":              1,
	} {
		if got := len(series(t, reg, name)); got != n {
			t.Errorf("%s has %d series, want %d", name, got, n)
		}
	}
	s.Endpoint("user.me")
	if got := len(series(t, reg, "authedge_requests_total")); got != len(statusLabels) {
		t.Errorf("one endpoint has %d request series, want %d", got, len(statusLabels))
	}
}

func TestRecording(t *testing.T) {
	s := New()
	reg := prometheus.NewPedanticRegistry()
	if err := s.Register(reg); err != nil {
		t.Fatal(err)
	}
	me := s.Endpoint("user.me")
	if s.Endpoint("user.me") != me {
		t.Fatal("a second Endpoint call for one name built new counters")
	}
	me.Answered(200)
	me.Answered(200)
	me.Answered(401)
	me.Answered(418)
	s.TokenChecked(TokenExpired)
	s.TokenChecked(numTokenOutcomes) // out of range: ignored, no panic
	s.CacheLookup(true)
	s.CacheLookup(false)
	s.CacheLookup(false)
	s.CodeSent(ChannelEmail, SendRateLimited)
	s.EditRefused(RefusedSudo)
	s.EventDelivery(EventDeadLettered)
	s.EventLag(1500 * time.Millisecond)

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"authedge_requests_total", []string{"code", "200", "endpoint", "user.me"}, 2},
		{"authedge_requests_total", []string{"code", "401", "endpoint", "user.me"}, 1},
		{"authedge_requests_total", []string{"code", "other", "endpoint", "user.me"}, 1},
		{"authedge_requests_total", []string{"code", "409", "endpoint", "user.me"}, 0},
		{"authedge_token_checks_total", []string{"outcome", "expired"}, 1},
		{"authedge_token_checks_total", []string{"outcome", "valid"}, 0},
		{"authedge_token_cache_lookups_total", []string{"result", "hit"}, 1},
		{"authedge_token_cache_lookups_total", []string{"result", "miss"}, 2},
		{"authedge_code_sends_total", []string{"channel", "email", "outcome", "rate_limited"}, 1},
		{"authedge_code_sends_total", []string{"channel", "sms", "outcome", "rate_limited"}, 0},
		{"authedge_edits_refused_total", []string{"reason", "sudo"}, 1},
		{"authedge_event_deliveries_total", []string{"outcome", "dead_lettered"}, 1},
		{"authedge_event_lag_seconds", nil, 1.5},
	} {
		if got := value(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestNilSetRecordsNothing: every part may be given no Set.
func TestNilSetRecordsNothing(t *testing.T) {
	var s *Set
	s.Endpoint("user.me").Answered(200)
	s.TokenChecked(TokenValid)
	s.CacheLookup(true)
	s.CodeSent(ChannelSMS, SendDelivered)
	s.EditRefused(RefusedConflict)
	s.EventDelivery(EventDelivered)
	s.EventLag(time.Second)
	if s.RedisHook() != nil {
		t.Fatal("a nil Set has a Redis hook")
	}
}

// TestRegisterAcrossReloads is what Caddy does: every config it loads has
// a new registry, and several handlers of one config share theirs. The
// shared Set goes into each without error and keeps its counts.
func TestRegisterAcrossReloads(t *testing.T) {
	s := New()
	first := prometheus.NewPedanticRegistry()
	if err := s.Register(first); err != nil {
		t.Fatal(err)
	}
	if err := s.Register(first); err != nil {
		t.Fatalf("a second handler of the same config: %v", err)
	}
	s.EditRefused(RefusedConflict)

	second := prometheus.NewPedanticRegistry()
	if err := s.Register(second); err != nil {
		t.Fatalf("the next config's registry: %v", err)
	}
	s.EditRefused(RefusedConflict)
	if got := value(t, second, "authedge_edits_refused_total", "reason", "conflict"); got != 2 {
		t.Fatalf("after the reload the counter reads %v, want 2", got)
	}

	// Another Set in the same registry is a real conflict.
	err := New().Register(second)
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Fatalf("a second, different Set registered: %v", err)
	}
	if Shared() != Shared() {
		t.Fatal("Shared returned two Sets")
	}
}

// TestEventLagOfSeveralWorkers: with two environments delivering, each
// worker reports its own lag every 5 s; the gauge showed whichever spoke
// last, flipping between one environment's hour of lag and the other's 0,
// so that an alert on it (for: 5m) never fired. It shows the largest, and
// a worker that stops (reports 0) takes only its own report away.
func TestEventLagOfSeveralWorkers(t *testing.T) {
	s := New()
	reg := prometheus.NewPedanticRegistry()
	if err := s.Register(reg); err != nil {
		t.Fatal(err)
	}
	behind, current := s.EventLagOf(), s.EventLagOf()
	for _, step := range []struct {
		report func(time.Duration)
		age    time.Duration
		want   float64
	}{
		{behind, time.Hour, 3600},
		{current, 0, 3600},
		{current, 2 * time.Second, 3600},
		{behind, 0, 2},
		{current, 0, 0},
	} {
		step.report(step.age)
		if got := value(t, reg, "authedge_event_lag_seconds"); got != step.want {
			t.Fatalf("after a report of %v: the gauge reads %v, want %v", step.age, got, step.want)
		}
	}
}
