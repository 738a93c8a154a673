// Package metrics owns authedge's Prometheus collectors (docs/metrics.md).
// It knows nothing of Caddy: caddymodule hands it Caddy's registry, and the
// handler, the token verifier, the store and the events worker report to
// the Set it gets back.
//
// Every label value comes from a fixed set defined here (an endpoint name
// from the handler's own table, a status from a list, an outcome from a
// list), never from a request: no user ID, path, contact or token can make
// a new series. Every series is created when the Set is built (or, for an
// endpoint, when the handler asks for it), so recording is an atomic add
// on a child resolved beforehand: no label lookup and no allocation per
// request.
//
// The collectors are process-wide (Shared): Caddy builds a new registry for
// every config it loads, and registering the same collectors into each new
// one is what keeps the counters counting across reloads instead of
// starting again at zero.
package metrics

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// namespace prefixes every metric name.
const namespace = "authedge"

// Set is authedge's collectors. Its methods are safe for concurrent use,
// and every method of a nil *Set does nothing, so a part given no Set
// records nothing at no cost but a nil check.
//
// A Set is itself one prometheus.Collector: Register adds all of it to a
// registry at once.
type Set struct {
	requests       *prometheus.CounterVec
	tokenChecks    *prometheus.CounterVec
	tokenCache     *prometheus.CounterVec
	redisDuration  *prometheus.HistogramVec
	redisErrors    *prometheus.CounterVec
	codeSends      *prometheus.CounterVec
	editsRefused   *prometheus.CounterVec
	eventDelivered *prometheus.CounterVec
	eventLag       prometheus.Gauge

	// The children, resolved once.
	tokenOutcome [numTokenOutcomes]prometheus.Counter
	cacheHit     prometheus.Counter
	cacheMiss    prometheus.Counter
	redisCmd     [numRedisCommands]redisChildren
	sends        [numChannels][numSendOutcomes]prometheus.Counter
	refused      [numRefusals]prometheus.Counter
	delivered    [numEventOutcomes]prometheus.Counter

	mu        sync.Mutex
	endpoints map[string]*Endpoint
	redisHook *redisHook

	// lags holds each events worker's last lag above 0 (EventLagOf), the
	// gauge their largest; lagOwn keys EventLag's.
	lagMu  sync.Mutex
	lags   map[*int]time.Duration
	lagOwn int
}

type redisChildren struct {
	duration prometheus.Observer
	errors   prometheus.Counter
}

// redisBuckets are the Redis latency buckets, in seconds: a command on a
// healthy network answers in well under a millisecond; the store's own
// timeout is half a second by default.
var redisBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

// New builds a Set of fresh collectors, registered nowhere. Caddy uses
// Shared; New is for tests that need counters of their own.
func New() *Set {
	s := &Set{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "requests_total",
			Help: "Requests answered by authedge's endpoints, by endpoint and HTTP status.",
		}, []string{"endpoint", "code"}),
		tokenChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "token_checks_total",
			Help: "Access tokens checked (API endpoints and identity edge), by outcome.",
		}, []string{"outcome"}),
		tokenCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "token_cache_lookups_total",
			Help: "Lookups in the verified-token cache, by result (hit or miss).",
		}, []string{"result"}),
		redisDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "redis_command_duration_seconds",
			Help:    "Time from sending a Redis command to its answer, by command; commands sent in one pipeline share its time.",
			Buckets: redisBuckets,
		}, []string{"command"}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "redis_command_errors_total",
			Help: "Redis commands that failed (network, timeout or error reply; a missing key is no error), by command.",
		}, []string{"command"}),
		codeSends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "code_sends_total",
			Help: "Verification code sends, by channel and outcome.",
		}, []string{"channel", "outcome"}),
		editsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "edits_refused_total",
			Help: "Profile edits refused by a rule, by reason.",
		}, []string{"reason"}),
		eventDelivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "event_deliveries_total",
			Help: "Change event webhook delivery attempts and their end, by outcome.",
		}, []string{"outcome"}),
		eventLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "event_lag_seconds",
			Help: "Age of the oldest change event not yet delivered, the largest of the events workers' last reports.",
		}),
		endpoints: make(map[string]*Endpoint),
		lags:      make(map[*int]time.Duration),
	}
	for o := range numTokenOutcomes {
		s.tokenOutcome[o] = s.tokenChecks.WithLabelValues(TokenOutcome(o).String())
	}
	s.cacheHit = s.tokenCache.WithLabelValues("hit")
	s.cacheMiss = s.tokenCache.WithLabelValues("miss")
	for c := range numRedisCommands {
		name := redisCommandNames[c]
		s.redisCmd[c] = redisChildren{
			duration: s.redisDuration.WithLabelValues(name),
			errors:   s.redisErrors.WithLabelValues(name),
		}
	}
	for ch := range numChannels {
		for o := range numSendOutcomes {
			s.sends[ch][o] = s.codeSends.WithLabelValues(Channel(ch).String(), SendOutcome(o).String())
		}
	}
	for r := range numRefusals {
		s.refused[r] = s.editsRefused.WithLabelValues(Refusal(r).String())
	}
	for o := range numEventOutcomes {
		s.delivered[o] = s.eventDelivered.WithLabelValues(EventOutcome(o).String())
	}
	s.redisHook = &redisHook{s: s}
	return s
}

var (
	sharedOnce sync.Once
	shared     *Set
)

// Shared is the process's one Set. Every config Caddy loads registers it
// into its own new registry, so its counters go on across reloads.
func Shared() *Set {
	sharedOnce.Do(func() { shared = New() })
	return shared
}

// Register adds s to reg. A registry that already holds s (several
// authedge handlers in one config share the registry) is no error; a
// registry holding other collectors of the same names is.
func (s *Set) Register(reg prometheus.Registerer) error {
	err := reg.Register(s)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) && are.ExistingCollector == prometheus.Collector(s) {
		return nil
	}
	return err
}

// collectors lists s's vectors in one place for Describe and Collect.
func (s *Set) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		s.requests, s.tokenChecks, s.tokenCache, s.redisDuration, s.redisErrors,
		s.codeSends, s.editsRefused, s.eventDelivered, s.eventLag,
	}
}

// Describe implements prometheus.Collector.
func (s *Set) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range s.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (s *Set) Collect(ch chan<- prometheus.Metric) {
	for _, c := range s.collectors() {
		c.Collect(ch)
	}
}

// Endpoint returns the request counters of the named endpoint, one per
// status of the fixed set, creating them on first use. name must be one of
// the handler's own endpoint names, never anything from a request. Nil for
// a nil Set.
func (s *Set) Endpoint(name string) *Endpoint {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.endpoints[name]; ok {
		return e
	}
	e := &Endpoint{}
	for i, code := range statusLabels {
		e.byStatus[i] = s.requests.WithLabelValues(name, code)
	}
	s.endpoints[name] = e
	return e
}

// Endpoint counts one endpoint's requests by status.
type Endpoint struct {
	byStatus [len(statusLabels)]prometheus.Counter
}

// Answered counts one request answered with status. Nil does nothing.
func (e *Endpoint) Answered(status int) {
	if e == nil {
		return
	}
	e.byStatus[statusIndex(status)].Inc()
}

// TokenChecked counts one access token check by its outcome.
func (s *Set) TokenChecked(o TokenOutcome) {
	if s == nil || o >= numTokenOutcomes {
		return
	}
	s.tokenOutcome[o].Inc()
}

// CacheLookup counts one lookup in the verified-token cache. It makes a
// Set a token.Observer.
func (s *Set) CacheLookup(hit bool) {
	if s == nil {
		return
	}
	if hit {
		s.cacheHit.Inc()
	} else {
		s.cacheMiss.Inc()
	}
}

// CodeSent counts one verification code send by channel and outcome.
func (s *Set) CodeSent(ch Channel, o SendOutcome) {
	if s == nil || ch >= numChannels || o >= numSendOutcomes {
		return
	}
	s.sends[ch][o].Inc()
}

// EditRefused counts one edit refused for reason r.
func (s *Set) EditRefused(r Refusal) {
	if s == nil || r >= numRefusals {
		return
	}
	s.refused[r].Inc()
}
