package caddymodule

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/events"
	"github.com/authedge/caddy-authedge/metrics"
)

// eventsPool shares one events worker per environment and webhook between
// all handlers, across config reloads: a reload keeps the running worker
// (its consumer, its events in flight) instead of starting a second one
// beside it, and the last config to let go of it stops it. The key is a
// digest of everything the worker is built from, so a reload that
// changes any of it (the URL, the secret, retry_for, stream_max_len, the
// Redis) gets a new worker, and the old one stops with the old config.
var eventsPool = caddy.NewUsagePool()

// pooledWorker lets the pool stop a worker and close its Redis client.
type pooledWorker struct {
	worker *events.Worker
	client redis.UniversalClient
	log    *sharedLog
}

func (p pooledWorker) Destruct() error {
	p.worker.Stop()
	return p.client.Close()
}

// eventsURLs holds, for each environment's event stream (one Redis, key
// prefix and environment) and each loaded config (configID),
// whether that config's handlers write the stream, the webhook URL they
// deliver it to, and how many handlers there are. Every worker of a stream
// is a consumer of its one group, which hands each event to one of them:
// two handlers with different URLs would split the events between two
// receivers, each seeing only some. And a handler without an events block
// makes changes that write no event: the app would miss those. A config
// is the unit, not the process: a reload that changes the URL, or turns
// events off, provisions the new config while the old one still runs.
var eventsURLs = struct {
	sync.Mutex
	m map[eventsURLKey]*eventsURLUse
}{m: map[eventsURLKey]*eventsURLUse{}}

type eventsURLKey struct {
	stream string
	config any
}

// configID names the config ctx belongs to: its metrics registry, which
// caddy.NewContext makes for every config it loads and every module of
// that config shares. Not ctx.Context: Caddy gives each server's
// handlers a context of their own.
func configID(ctx caddy.Context) any {
	if reg := ctx.GetMetricsRegistry(); reg != nil {
		return reg
	}
	return ctx.Context
}

type eventsURLUse struct {
	events   bool     // the handlers have an events block
	url      string   // "" until a handler with a webhook comes
	secret   [32]byte // the SHA-256 of that webhook's secret, as resolved
	handlers int
}

// claimEventsURL records that h, in the config of ctx, writes its
// environment's stream or not, and delivers it to its webhook URL, signed
// with secret, if it has one. It refuses a handler that writes when
// another handler of that config for the same stream does not, or the
// reverse, and a URL or secret other than the one another handler of that
// config uses for the stream: each handler's worker takes its share of
// the group's events, and the receiver would refuse those signed with a
// secret it does not have, until they are dead-lettered.
func (h *Handler) claimEventsURL(ctx caddy.Context, secret string) error {
	key := eventsURLKey{stream: eventsStreamID(&h.Config), config: configID(ctx)}
	on, url := h.Events != nil, ""
	var digest [32]byte
	if on && h.Events.Webhook != nil {
		url, digest = h.Events.Webhook.URL, sha256.Sum256([]byte(secret))
	}
	eventsURLs.Lock()
	defer eventsURLs.Unlock()
	use := eventsURLs.m[key]
	switch {
	case use == nil:
		use = &eventsURLUse{events: on, url: url, secret: digest}
		eventsURLs.m[key] = use
	case use.events != on:
		this := map[bool]string{true: "has an", false: "has no"}
		other := map[bool]string{true: "has one", false: "has none"}
		return fmt.Errorf("events: this handler %s events block, but another handler for environment %q on the "+
			"same Redis %s: changes made through the one without would write no event, and the app would never "+
			"hear of them (give every handler of an environment an events block, or none)",
			this[on], h.EnvironmentID, other[use.events])
	case use.url == "":
		use.url, use.secret = url, digest
	case url != "" && use.url != url:
		// Named by host only: a URL may carry credentials, which config
		// errors never quote back.
		return fmt.Errorf("events webhook: this handler's URL (to %s) differs from the one (to %s) another handler "+
			"uses for environment %q on the same Redis: the handlers would split its events between the two (give "+
			"every handler, and every instance, sharing a Redis one events webhook URL per environment)",
			urlHost(url), urlHost(use.url), h.EnvironmentID)
	case url != "" && use.secret != digest:
		return fmt.Errorf("events webhook: this handler's secret differs from the one another handler uses for "+
			"environment %q on the same Redis: the receiver would refuse the events signed with one of them "+
			"(give every handler sharing a Redis one events webhook secret per environment)", h.EnvironmentID)
	}
	use.handlers++
	h.eventsURL = &key
	return nil
}

// urlHost is the host of a webhook URL (which config.Validate checked
// parses), or "?".
func urlHost(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return "?"
}

// releaseEventsURL undoes claimEventsURL.
func (h *Handler) releaseEventsURL() {
	if h.eventsURL == nil {
		return
	}
	eventsURLs.Lock()
	defer eventsURLs.Unlock()
	if use := eventsURLs.m[*h.eventsURL]; use != nil {
		if use.handlers--; use.handlers <= 0 {
			delete(eventsURLs.m, *h.eventsURL)
		}
	}
	h.eventsURL = nil
}

// eventsStreamID names an environment's event stream by where it lives:
// the Redis (its addresses or Sentinel master, and database), the key
// prefix and the environment.
func eventsStreamID(c *config.Config) string {
	r := c.Redis
	var master string
	addrs := r.Addresses
	if r.Sentinel != nil {
		master, addrs = r.Sentinel.MasterName, r.Sentinel.Addresses
	}
	b, _ := json.Marshal([]any{addrs, master, r.DB, r.KeyPrefix, c.EnvironmentID})
	return string(b)
}

// startEvents takes a reference to the events worker this config needs,
// starting it if no handler runs it yet. Without an events webhook there
// is none: the stream is still written (by the store), and read by
// whoever wants it.
func (h *Handler) startEvents(ctx caddy.Context, s secrets) error {
	if err := h.claimEventsURL(ctx, s.eventsSecret); err != nil {
		return err
	}
	e := h.Events
	if e == nil || e.Webhook == nil {
		return nil
	}
	if e.Webhook.InClearText() {
		h.logger.Warn("the events webhook is plain http to another host: events carry phone numbers and emails; " +
			"use https unless that network is private")
	}
	app, err := appOf(ctx)
	if err != nil {
		return err
	}
	key := eventsPoolKey(&h.Config, s)
	val, loaded, err := eventsPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		client := newEventsClient(h.Redis, s.redisPassword, s.sentinelPassword)
		addRedisHooks(client, h.metrics)
		log := newSharedLog(h)
		w, err := events.New(events.Options{
			Client:   client,
			Keys:     events.NewKeys(h.Redis.KeyPrefix, h.EnvironmentID),
			URL:      e.Webhook.URL,
			Secret:   s.eventsSecret,
			RetryFor: time.Duration(e.RetryFor),
			DeadMax:  e.StreamMaxLen,
			Logger:   log.logger().Named("events"),
			// The process's one metrics Set, whichever config started the
			// worker: it outlives reloads as the worker does.
			OnOutcome: observeEventOutcome(h.metrics),
			OnLag:     h.metrics.EventLagOf(),
		})
		if err != nil {
			client.Close()
			return nil, err
		}
		return pooledWorker{worker: w, client: client, log: log}, nil
	})
	if err != nil {
		return fmt.Errorf("events webhook: %w", err)
	}
	h.eventsKey = key
	pooled := val.(pooledWorker)
	h.holdLog(pooled.log, loaded)
	if !loaded {
		// A new worker delivers once its config runs (App); one that a
		// running config shares with this one runs already.
		app.whenStarted(func() {
			pooled.worker.Start()
			h.logger.Info("events: delivering change events to the webhook")
		})
	}
	return nil
}

// eventsPoolKey names a worker by its Redis (redisPoolKey) and its
// webhook: URL, secret as resolved, retry_for, and stream_max_len, which
// bounds its dead letters too. Not by read_from and wait, which only the
// store uses: a reload changing them would otherwise replace the worker,
// stalling the users whose events it held for ClaimIdle.
func eventsPoolKey(c *config.Config, s secrets) string {
	worker := *c
	worker.Redis.ReadFrom, worker.Redis.Wait = "", nil
	return redisPoolKey(&worker, s, c.Events.Webhook.URL, s.eventsSecret, c.Events.RetryFor, c.Events.StreamMaxLen)
}

// newEventsClient connects to the Redis of r for the events worker and
// the events commands. It is the worker's own client, not the store's:
// the worker's reads block, half a second at a time, which the store's
// pool, sized and timed for requests, should not serve. It finds the master as the
// store does: through the Sentinels when r names them, where the store
// writes the events. Connections are lazy.
func newEventsClient(r config.Redis, password, sentinelPassword string) redis.UniversalClient {
	timeout := time.Duration(r.Timeout)
	if timeout <= 0 {
		timeout = config.DefaultRedisTimeout
	}
	var tlsConfig *tls.Config
	if r.TLS {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil || tlsConfig == nil {
			return conn, err
		}
		cfg := tlsConfig.Clone()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		return tc, nil
	}
	addrs, master := r.Addresses, ""
	if s := r.Sentinel; s != nil {
		addrs, master = s.Addresses, s.MasterName
	}
	if len(addrs) == 0 {
		addrs = []string{config.DefaultRedisAddress}
	}
	return redis.NewUniversalClient(&redis.UniversalOptions{
		MasterName:       master,
		SentinelPassword: sentinelPassword,
		Addrs:            addrs,
		Protocol:         2,
		Username:         r.Username,
		Password:         password,
		DB:               r.DB,
		Dialer:           dial,
		ReadTimeout:      timeout,
		WriteTimeout:     timeout,
		// The caller's deadline bounds a read. A cancel does not end a
		// read in progress: the worker blocks half a second at a time,
		// which is what bounds its Stop.
		ContextTimeoutEnabled: true,
		// Not retried by go-redis: the worker's loops retry on their own,
		// knowing which of their scripts may be sent twice.
		MaxRetries:               -1,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
}

// observeEventOutcome counts the worker's delivery outcomes in m.
func observeEventOutcome(m *metrics.Set) func(events.Outcome) {
	return func(o events.Outcome) {
		switch o {
		case events.Delivered:
			m.EventDelivery(metrics.EventDelivered)
		case events.Retried:
			m.EventDelivery(metrics.EventFailed)
		case events.DeadLettered:
			m.EventDelivery(metrics.EventDeadLettered)
		}
	}
}
