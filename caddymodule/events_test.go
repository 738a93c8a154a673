package caddymodule

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/internal/redistest"
)

// The events worker starts with its config, not before: a provisioned
// config may never run. A reload (a new config provisioned and started,
// then the old one cleaned up) keeps the one events worker running: one
// consumer in the group, every event delivered once; the last config's
// Cleanup stops it and leaves the group.
func TestEventsWorkerSharedAcrossReloads(t *testing.T) {
	srv := redistest.Start(t)
	_, pub := devKeys(t, "ec")
	var got atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Header.Get("webhook-signature") != "" {
			got.Add(1)
		}
	}))
	defer receiver.Close()
	t.Setenv("EVENTS_TEST_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	cfg := func() config.Config {
		c := baseConfig(pub, srv.Addr)
		c.Events = &config.Events{Webhook: &config.Webhook{URL: receiver.URL, Secret: "{env.EVENTS_TEST_SECRET}"}}
		return c
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	const stream = "authedge:{dev-env}:events"
	ctx := context.Background()
	consumers := func() int {
		info, err := rdb.XInfoConsumers(ctx, stream, "authedge-webhook").Result()
		if err != nil {
			return -1
		}
		return len(info)
	}
	waitUntil := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				info, err := rdb.XInfoConsumers(ctx, stream, "authedge-webhook").Result()
				t.Fatalf("timed out waiting for %s: %v %v", what, info, err)
			}
		}
	}
	send := func() {
		t.Helper()
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"event", `{"type":"user.updated","user_id":"u1"}`}}).Err(); err != nil {
			t.Fatal(err)
		}
	}

	old := &Handler{Config: cfg()}
	oldCtx := caddyContext(t)
	if err := old.Provision(oldCtx); err != nil {
		t.Fatal(err)
	}
	// Provisioned is not yet running: `caddy validate`, or a reload that
	// fails further on, provisions a config that never starts, and its
	// worker must take no event from the group.
	time.Sleep(300 * time.Millisecond)
	if n := consumers(); n > 0 {
		t.Fatalf("%d consumers before the config started, want none", n)
	}
	startConfig(t, oldCtx)
	waitUntil("the worker to join", func() bool { return consumers() == 1 })
	reloaded := &Handler{Config: cfg()}
	reloadedCtx := caddyContext(t)
	if err := reloaded.Provision(reloadedCtx); err != nil {
		t.Fatal(err)
	}
	startConfig(t, reloadedCtx)
	if n, _ := eventsPool.References(old.eventsKey); n != 2 || old.eventsKey != reloaded.eventsKey {
		t.Errorf("%d references to the worker, want 2 to one", n)
	}
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	send()
	waitUntil("a delivery after the reload", func() bool { return got.Load() == 1 })
	time.Sleep(100 * time.Millisecond)
	if n := consumers(); n != 1 {
		t.Errorf("%d consumers after a reload, want 1", n)
	}
	if n := got.Load(); n != 1 {
		t.Errorf("%d deliveries of one event", n)
	}
	if err := reloaded.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, ok := eventsPool.References(reloaded.eventsKey); ok {
		t.Error("the worker outlived its last config")
	}
	if n := consumers(); n != 0 {
		t.Errorf("%d consumers after the last config went, want 0", n)
	}
}

// A config whose events secret does not resolve fails, naming it.
func TestEventsSecretMustResolve(t *testing.T) {
	srv := redistest.Start(t)
	_, pub := devKeys(t, "ec")
	c := baseConfig(pub, srv.Addr)
	c.Events = &config.Events{Webhook: &config.Webhook{URL: "http://127.0.0.1:9/", Secret: "{env.AUTHEDGE_UNSET_FOR_TEST}"}}
	h := &Handler{Config: c}
	err := h.Provision(caddyContext(t))
	defer h.Cleanup()
	if err == nil || !strings.Contains(err.Error(), "events webhook secret") {
		t.Fatalf("Provision: %v", err)
	}
}

// Within one config, handlers for one environment on one Redis must give
// one events webhook URL: their workers share the stream's one consumer
// group, which would split the events between the two receivers. Another
// config (a reload) may change it.
func TestEventsWebhookURLIsOnePerEnvironment(t *testing.T) {
	srv := redistest.Start(t)
	_, pub := devKeys(t, "ec")
	t.Setenv("EVENTS_TEST_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	cfg := func(url string) config.Config {
		c := baseConfig(pub, srv.Addr)
		c.Events = &config.Events{Webhook: &config.Webhook{URL: url, Secret: "{env.EVENTS_TEST_SECRET}"}}
		return c
	}
	provision := func(ctx caddy.Context, url string) error {
		h := &Handler{Config: cfg(url)}
		err := h.Provision(ctx)
		t.Cleanup(func() { h.Cleanup() })
		return err
	}
	ctx := caddyContext(t)
	if err := provision(ctx, "http://127.0.0.1:9/a"); err != nil {
		t.Fatal(err)
	}
	if err := provision(ctx, "http://127.0.0.1:9/a"); err != nil {
		t.Fatalf("a second handler with the same URL: %v", err)
	}
	err := provision(ctx, "http://127.0.0.1:9/b")
	if err == nil || !strings.Contains(err.Error(), "events webhook") {
		t.Fatalf("a second URL for the environment: %v", err)
	}
	other := cfg("http://127.0.0.1:9/b")
	other.EnvironmentID = "other-env"
	h := &Handler{Config: other}
	if err := h.Provision(ctx); err != nil {
		t.Fatalf("another environment's URL: %v", err)
	}
	t.Cleanup(func() { h.Cleanup() })
	if err := provision(caddyContext(t), "http://127.0.0.1:9/b"); err != nil {
		t.Fatalf("a reload to another URL: %v", err)
	}
}

// With a sentinel block (and so no address), the events client reads the
// master the Sentinels name, where the store writes the events, not the
// default address.
func TestEventsClientFollowsSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinels := redistest.StartSentinels(t, master, 0, redistest.SentinelConfig{
		MasterName: "events-master", Count: 1, Quorum: 1, DownAfter: time.Minute, Password: "sentinel-secret"})
	r := config.Redis{Sentinel: &config.Sentinel{MasterName: "events-master", Addresses: []string{sentinels[0].Addr}}}
	client := newEventsClient(r, "", "sentinel-secret")
	defer client.Close()
	ctx := context.Background()
	if err := client.Set(ctx, "written-through-sentinel", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := redistest.Command(master.Addr, "GET", "written-through-sentinel"); err != nil || got != "1" {
		t.Fatalf("the master holds %q (%v): the client did not reach it through the Sentinel", got, err)
	}
}

// A reload that resolves another password or secret (a rotated {env.*})
// starts a new worker: each secret the worker is built from changes its
// pool key, the Sentinels' password too.
func TestEventsPoolKeyCoversSecrets(t *testing.T) {
	c := baseConfig("unused", "127.0.0.1:6379")
	c.Events = &config.Events{Webhook: &config.Webhook{URL: "http://127.0.0.1:9/hook"}}
	base := secrets{redisPassword: "r1", sentinelPassword: "s1", eventsSecret: "e1"}
	key := eventsPoolKey(&c, base)
	for name, s := range map[string]secrets{
		"redis password":    {redisPassword: "r2", sentinelPassword: "s1", eventsSecret: "e1"},
		"sentinel password": {redisPassword: "r1", sentinelPassword: "s2", eventsSecret: "e1"},
		"webhook secret":    {redisPassword: "r1", sentinelPassword: "s1", eventsSecret: "e2"},
	} {
		if eventsPoolKey(&c, s) == key {
			t.Errorf("another %s keeps the worker's pool key", name)
		}
	}
}

// A reload that changes only what the store does with the Redis (where it
// reads profiles from, whether writes wait for replicas) keeps the events
// worker: the worker uses neither, and a new one would stall the users
// whose events the old one held for ClaimIdle, and deliver those it was
// posting again.
func TestEventsPoolKeyIgnoresStoreOnlyRedisSettings(t *testing.T) {
	c := baseConfig("unused", "127.0.0.1:6379")
	c.Events = &config.Events{Webhook: &config.Webhook{URL: "http://127.0.0.1:9/hook"}}
	s := secrets{eventsSecret: "e1"}
	key := eventsPoolKey(&c, s)
	for name, edit := range map[string]func(*config.Redis){
		"read_from": func(r *config.Redis) { r.ReadFrom = config.ReadFromReplicas },
		"wait":      func(r *config.Redis) { r.Wait = &config.Wait{Replicas: 1, Timeout: caddy.Duration(time.Second)} },
	} {
		changed := c
		edit(&changed.Redis)
		if eventsPoolKey(&changed, s) != key {
			t.Errorf("a reload that changes only redis %s starts a new events worker", name)
		}
	}
	changed := c
	changed.Redis.KeyPrefix = "other"
	if eventsPoolKey(&changed, s) == key {
		t.Error("another key prefix keeps the worker's pool key")
	}
}

// TestEventsWebhookURLClashQuotesNoCredentials: webhook URLs may carry
// credentials (a password, a token in the path or query), which config
// errors never quote back. The error for two URLs in one environment
// quoted both in full, into Caddy's log and the admin API's answer.
func TestEventsWebhookURLClashQuotesNoCredentials(t *testing.T) {
	srv := redistest.Start(t)
	_, pub := devKeys(t, "ec")
	t.Setenv("EVENTS_TEST_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	ctx := caddyContext(t)
	var err error
	for _, url := range []string{"http://user:pass-one@127.0.0.1:9/hook/tok-one", "http://127.0.0.1:9/hook?key=tok-two"} {
		c := baseConfig(pub, srv.Addr)
		c.Events = &config.Events{Webhook: &config.Webhook{URL: url, Secret: "{env.EVENTS_TEST_SECRET}"}}
		h := &Handler{Config: c}
		err = h.Provision(ctx)
		t.Cleanup(func() { h.Cleanup() })
	}
	if err == nil || !strings.Contains(err.Error(), "events webhook") {
		t.Fatalf("a second URL for the environment: %v", err)
	}
	for _, secret := range []string{"pass-one", "tok-one", "tok-two"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error quotes %q: %v", secret, err)
		}
	}
}

// Within one config, the handlers of one environment on one Redis either
// all write its events or none does: a handler without an events block
// makes changes that write no event, which the app behind, reading the
// stream or the webhook its sibling delivers, would never hear of. It used
// to load silently, whichever of the two came first.
func TestEventsAreOnForEveryHandlerOfAnEnvironmentOrNone(t *testing.T) {
	srv := redistest.Start(t)
	_, pub := devKeys(t, "ec")
	t.Setenv("EVENTS_TEST_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	withWebhook := func() config.Config {
		c := baseConfig(pub, srv.Addr)
		c.Events = &config.Events{Webhook: &config.Webhook{URL: "http://127.0.0.1:9/a", Secret: "{env.EVENTS_TEST_SECRET}"}}
		return c
	}
	withStream := func() config.Config {
		c := baseConfig(pub, srv.Addr)
		c.Events = &config.Events{}
		return c
	}
	without := func() config.Config { return baseConfig(pub, srv.Addr) }
	provision := func(ctx caddy.Context, c config.Config) error {
		h := &Handler{Config: c}
		err := h.Provision(ctx)
		t.Cleanup(func() { h.Cleanup() })
		return err
	}
	for _, order := range [][2]func() config.Config{{withWebhook, without}, {without, withWebhook}, {withStream, without}} {
		ctx := caddyContext(t)
		if err := provision(ctx, order[0]()); err != nil {
			t.Fatal(err)
		}
		err := provision(ctx, order[1]())
		if err == nil || !strings.Contains(err.Error(), "events:") || !strings.Contains(err.Error(), `"dev-env"`) {
			t.Errorf("handlers of one environment, events on and off: %v", err)
		}
	}
	// Events on for both, delivered by one: loads.
	ctx := caddyContext(t)
	if err := provision(ctx, withStream()); err != nil {
		t.Fatal(err)
	}
	if err := provision(ctx, withWebhook()); err != nil {
		t.Errorf("one handler delivering, another only writing: %v", err)
	}
	if err := provision(ctx, withStream()); err != nil {
		t.Errorf("a third, only writing: %v", err)
	}
	// Another environment, or another config (a reload), may differ.
	other := without()
	other.EnvironmentID = "other-env"
	if err := provision(ctx, other); err != nil {
		t.Errorf("another environment without events: %v", err)
	}
	if err := provision(caddyContext(t), without()); err != nil {
		t.Errorf("a reload that turns events off: %v", err)
	}
}

// The two checks above hold across the sites of one Caddyfile: Caddy
// gives each server's handlers a context of their own, and the checks
// used to tell configs apart by it, so two sites serving one environment
// loaded with two webhook URLs, or with events on one and off the other.
func TestEventsChecksSpanTheSitesOfAConfig(t *testing.T) {
	_, pub := devKeys(t, "ec")
	t.Setenv("EVENTS_TEST_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	site := func(port int, events string) string {
		return fmt.Sprintf(":%d {\n authedge {\n environment_id env\n jwt {\n issuer iss\n public_key %s\n }\n"+
			" verification {\n log\n }\n redis {\n address 127.0.0.1:9\n }\n %s\n }\n respond ok\n}\n", port, pub, events)
	}
	webhook := func(path string) string {
		return "events {\n webhook http://127.0.0.1:9/" + path + " {env.EVENTS_TEST_SECRET}\n }"
	}
	ports := redistest.FreePorts(t, 2)
	for _, tt := range []struct{ a, b, want string }{
		{webhook("a"), webhook("b"), "events webhook: this handler's URL"},
		{webhook("a"), "", "events: this handler has"},
		{"", "events {\n }", "events: this handler has"},
	} {
		caddyfile := "{\n admin off\n}\n" + site(ports[0], tt.a) + site(ports[1], tt.b)
		if err := validateCaddyfile(t, caddyfile); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("two sites of environment env, %q and %q: %v\nwant an error with %q", tt.a, tt.b, err, tt.want)
		}
	}
	caddyfile := "{\n admin off\n}\n" + site(ports[0], webhook("a")) + site(ports[1], webhook("a"))
	if err := validateCaddyfile(t, caddyfile); err != nil {
		t.Errorf("two sites with one webhook: %v", err)
	}
}

// Within one config, handlers for one environment on one Redis with the
// same events webhook URL must give it one secret too: each handler's
// worker takes its share of the group's events, and the receiver, which
// knows one secret, would refuse the share signed with the other until
// it was dead-lettered. The same secret, written differently (a
// placeholder and its value), is one secret.
func TestEventsWebhookSecretIsOnePerEnvironment(t *testing.T) {
	_, pub := devKeys(t, "ec")
	t.Setenv("EVENTS_TEST_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	site := func(port int, secret string) string {
		return fmt.Sprintf(":%d {\n authedge {\n environment_id env\n jwt {\n issuer iss\n public_key %s\n }\n"+
			" verification {\n log\n }\n redis {\n address 127.0.0.1:9\n }\n"+
			" events {\n webhook http://127.0.0.1:9/a %s\n }\n }\n respond ok\n}\n", port, pub, secret)
	}
	ports := redistest.FreePorts(t, 2)
	caddyfile := "{\n admin off\n}\n" + site(ports[0], "{env.EVENTS_TEST_SECRET}") + site(ports[1], "another-secret")
	if err := validateCaddyfile(t, caddyfile); err == nil || !strings.Contains(err.Error(), "events webhook: this handler's secret differs") {
		t.Errorf("two sites of environment env with two events secrets: %v", err)
	}
	caddyfile = "{\n admin off\n}\n" + site(ports[0], "{env.EVENTS_TEST_SECRET}") + site(ports[1], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err := validateCaddyfile(t, caddyfile); err != nil {
		t.Errorf("two sites with one secret: %v", err)
	}
}
