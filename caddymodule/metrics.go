package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"

	"github.com/authedge/caddy-authedge/metrics"
	"github.com/authedge/caddy-authedge/token"
)

// registerMetrics registers the process's authedge collectors with the
// registry of the config being loaded, and returns them (nil if Caddy gives
// no registry). Caddy builds a new registry for every config it loads, and
// every handler of one config shares it: the collectors are made once per
// process and registered into each (metrics.Set.Register tolerates a
// registry that holds them already), so the counters go on across reloads
// and appear on Caddy's /metrics beside its own (docs/metrics.md).
func registerMetrics(ctx caddy.Context) (*metrics.Set, error) {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil, nil
	}
	set := metrics.Shared()
	if err := set.Register(reg); err != nil {
		return nil, fmt.Errorf("registering authedge's metrics: %w", err)
	}
	return set, nil
}

// redisHooks are the store's go-redis hooks: the metrics' one, if any.
func redisHooks(set *metrics.Set) []redis.Hook {
	if set == nil {
		return nil
	}
	return []redis.Hook{set.RedisHook()}
}

// addRedisHooks adds the metrics' hook to a Redis client of authedge's
// other than the store's (the events worker's own), so that its commands
// are measured as the store's are (docs/metrics.md).
func addRedisHooks(client redis.UniversalClient, set *metrics.Set) {
	for _, hook := range redisHooks(set) {
		client.AddHook(hook)
	}
}

// tokenObserver is the verifier's observer: set, if any (a nil *Set in the
// interface would not be nil).
func tokenObserver(set *metrics.Set) token.Observer {
	if set == nil {
		return nil
	}
	return set
}
