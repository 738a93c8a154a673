package caddymodule

import (
	"context"
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/revoke"
	"github.com/authedge/caddy-authedge/store"
)

// backendPool holds one backend per Redis environment, shared by every
// handler that names it and kept across config reloads: Caddy provisions
// the new config before it cleans up the old, so a reload that leaves the
// redis block as it was finds the backend in use and takes it over. It
// then keeps its connections, and the revocation checker its copy of the
// revocations, which it would otherwise load again with a SCAN of the
// environment's node, once per handler, at every reload.
var backendPool = caddy.NewUsagePool()

// backend is what the handlers of one environment share: the store and
// the revocation checker reading it.
type backend struct {
	store       *store.Store
	revocations *revoke.Checker
	log         *sharedLog
	// stopCheck ends the memory policy check (memorypolicy.go).
	stopCheck context.CancelFunc
}

// Destruct stops the checker, which reads the store, then closes the
// store; the pool calls it when the last handler using it is cleaned up.
func (b *backend) Destruct() error {
	b.stopCheck()
	return errors.Join(b.revocations.Close(), b.store.Close())
}

// backendKey names what makes two backends differ: the whole redis block,
// its secrets as resolved, the environment, and whether the store reports
// to the metrics. A reload that changes any of them gets a backend of its
// own; the old one goes with the old config.
func backendKey(c *config.Config, s secrets, metered bool) string {
	return redisPoolKey(c, s, metered)
}

// acquireBackend takes the backend of h's environment from the pool,
// connecting one if no handler holds it; Cleanup gives it back.
func (h *Handler) acquireBackend(s secrets) (*backend, error) {
	key := backendKey(&h.Config, s, h.metrics != nil)
	val, loaded, err := backendPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		st, err := store.New(redisOptions(h, s))
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		log := newSharedLog(h)
		rc, err := revoke.New(st, revoke.Options{Logger: log.logger()})
		if err != nil {
			_ = st.Close()
			return nil, err
		}
		ctx, stop := context.WithCancel(context.Background())
		go checkMemoryPolicy(ctx, st, log.logger(), memoryPolicyRetry)
		return &backend{store: st, revocations: rc, log: log, stopCheck: stop}, nil
	})
	if err != nil {
		return nil, err
	}
	h.backendKey = key
	b := val.(*backend)
	h.holdLog(b.log, loaded)
	return b, nil
}
