package caddymodule

import (
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
