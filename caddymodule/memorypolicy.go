package caddymodule

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/authedge/caddy-authedge/store"
)

// memoryPolicyRetry is how often the memory policy check tries again
// while Redis cannot be reached.
const memoryPolicyRetry = 5 * time.Second

// checkMemoryPolicy reads, once Redis answers, whether it may evict the
// environment's keys, and warns once if so (docs/storage.md, "Memory
// policy"): authedge keeps working, but an evicted index entry lets a
// second user take a username, phone or email, and an evicted revocation
// lets a revoked token in again. Provision does no I/O, so a Redis that
// is away at start is asked again every retry, until ctx ends.
func checkMemoryPolicy(ctx context.Context, st *store.Store, log *zap.Logger, retry time.Duration) {
	for {
		p, err := st.MemoryPolicy(ctx)
		switch {
		case err == nil:
			warnMemoryPolicy(p, log)
			return
		case store.Refused(err):
			log.Warn("Redis's maxmemory-policy not checked: Redis refused INFO to authedge's user; "+
				"see docs/configuration.md, \"A Redis ACL user\"", zap.Error(err))
			return
		case !errors.Is(err, store.ErrUnavailable):
			if ce := log.Check(zap.DebugLevel, "Redis's maxmemory-policy not checked"); ce != nil {
				ce.Write(zap.Error(err))
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

func warnMemoryPolicy(p store.MemoryPolicy, log *zap.Logger) {
	fields := []zap.Field{zap.String("maxmemory_policy", p.Policy), zap.Int64("maxmemory", p.MaxMemory)}
	switch {
	case p.EvictsAny():
		log.Warn("Redis may evict any key when full: an evicted profile or unique index entry lets another user "+
			"take its username, phone or email, and an evicted revocation lets a revoked token in again; "+
			"set maxmemory-policy noeviction (docs/storage.md, \"Memory policy\")", fields...)
	case p.Evicts():
		log.Warn("Redis may evict keys with a time to live when full: an evicted revocation lets a revoked token "+
			"in again, and evicted counters lift rate limits; "+
			"set maxmemory-policy noeviction (docs/storage.md, \"Memory policy\")", fields...)
	}
}
