package store

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// MemoryPolicy is how the Redis node holding the environment's keys frees
// memory (docs/storage.md, "Memory policy").
type MemoryPolicy struct {
	// Policy is its maxmemory-policy: noeviction, allkeys-lru, ...
	Policy string
	// MaxMemory is its maxmemory in bytes; 0 is no limit, so nothing is
	// ever evicted, whatever Policy says.
	MaxMemory int64
}

// Evicts reports whether Redis may delete keys authedge wrote to make
// room: any policy but noeviction, once maxmemory is set.
func (p MemoryPolicy) Evicts() bool { return p.MaxMemory > 0 && p.Policy != "noeviction" }

// EvictsAny reports whether keys that never expire may go too (an
// allkeys-* policy): profiles and unique index entries. The volatile-*
// policies evict only keys with a time to live.
func (p MemoryPolicy) EvictsAny() bool { return p.Evicts() && strings.HasPrefix(p.Policy, "allkeys-") }

// MemoryPolicy reads the memory policy of the master that holds the
// environment's keys, from INFO memory (which needs no CONFIG rights).
func (s *Store) MemoryPolicy(ctx context.Context) (MemoryPolicy, error) {
	ctx, cancel := context.WithTimeout(ctx, s.readTimeout)
	defer cancel()
	var node redis.Cmdable = s.client
	if cluster, ok := s.client.(*redis.ClusterClient); ok {
		master, err := cluster.MasterForKey(ctx, s.keys.profile(""))
		if err != nil {
			return MemoryPolicy{}, s.fail(err)
		}
		node = master
	}
	info, err := node.Info(ctx, "memory").Result()
	if err != nil {
		return MemoryPolicy{}, s.fail(err)
	}
	return parseMemoryInfo(info)
}

// parseMemoryInfo reads the policy and limit from the text of INFO memory:
// "name:value" lines, ending in \r\n as Redis writes them (or \n). A
// field given twice counts the last time; a line without a colon (a
// section title, or a name alone) gives no field.
func parseMemoryInfo(info string) (MemoryPolicy, error) {
	var p MemoryPolicy
	var policy, max bool
	for _, line := range strings.Split(info, "\n") {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch name {
		case "maxmemory_policy":
			p.Policy, policy = value, true
		case "maxmemory":
			var err error
			if p.MaxMemory, err = strconv.ParseInt(value, 10, 64); err != nil {
				return MemoryPolicy{}, errors.New("store: INFO memory has a maxmemory that is not a number")
			}
			max = true
		}
	}
	if !policy || !max {
		return MemoryPolicy{}, errors.New("store: INFO memory names no maxmemory or maxmemory_policy")
	}
	return p, nil
}
