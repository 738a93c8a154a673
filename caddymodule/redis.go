package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/store"
)

// redisOptions are the store's options from the redis block: a single
// node, a Cluster or a Sentinel-managed master (docs/topologies.md).
func redisOptions(h *Handler, secrets secrets) store.Options {
	r := &h.Redis
	opts := store.Options{
		Addresses:        r.Addresses,
		Username:         r.Username,
		Password:         secrets.redisPassword,
		DB:               r.DB,
		TLS:              r.TLS,
		Prefix:           r.KeyPrefix,
		EnvironmentID:    h.EnvironmentID,
		Timeout:          time.Duration(r.Timeout),
		ReadFromReplicas: r.ReadFrom == config.ReadFromReplicas,
		Hooks:            redisHooks(h.metrics),
	}
	if s := r.Sentinel; s != nil {
		opts.SentinelMaster = s.MasterName
		opts.SentinelAddresses = s.Addresses
		opts.SentinelPassword = secrets.sentinelPassword
	}
	if w := r.Wait; w != nil {
		opts.WaitReplicas = w.Replicas
		opts.WaitTimeout = time.Duration(w.Timeout)
	}
	return opts
}

// redisPoolKey names a shared user of h's Redis in a caddy.UsagePool: a
// digest of the redis block, its secrets as resolved (so that a reload
// bringing a rotated one gets a new user), the environment, and what else
// the user is built from. The digest keeps the secrets out of the keys.
func redisPoolKey(c *config.Config, s secrets, more ...any) string {
	b, _ := json.Marshal(append([]any{c.Redis, s.redisPassword, s.sentinelPassword, c.EnvironmentID}, more...))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// laggingProfiles reads profiles for what is only shown, the identity
// edge's headers, assertion claims and placeholders: from a replica with
// read_from replicas (store.ProfileMayLag), from the master otherwise.
type laggingProfiles struct{ store *store.Store }

func (p laggingProfiles) Profile(ctx context.Context, userID string) (store.Profile, bool, error) {
	return p.store.ProfileMayLag(ctx, userID)
}
