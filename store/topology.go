package store

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// A Redis Cluster moves a slot to a promoted replica when its master dies;
// go-redis learns of it only when it reloads its slot map. It reloads on a
// MOVED reply and once a minute otherwise, and a dead master answers
// nothing, let alone MOVED: left alone, the store kept sending the
// environment's commands to the dead master for up to a minute after a
// failover (docs/topologies.md). Two things bring that to about a second.

// followFailovers makes a cluster client find a promoted master quickly:
// every node's client bounds each command and pipeline by the store's
// timeout, since go-redis's own housekeeping asks a node at random (perhaps
// the dead one) for the slot map (CLUSTER SLOTS) and command table
// (COMMAND) with no deadline or a long one, and a dial of a dead node
// would hold the reload for the dialer's whole horizon; and reloadTopology
// is armed.
func (s *Store) followFailovers(cluster *redis.ClusterClient) {
	hook := deadlineHook{timeout: s.timeout}
	cluster.OnNewNode(func(node *redis.Client) { node.AddHook(hook) })
	s.clusters = append(s.clusters, cluster)
}

// reloadTopology asks the cluster clients to reload its slot map, after a
// failure to reach Redis: the node that failed may be a master that is no
// more. go-redis coalesces the reloads (one at a time, then a 200 ms pause),
// so an outage's many failures cost a few CLUSTER SLOTS, not one each.
func (s *Store) reloadTopology() {
	for _, c := range s.clusters {
		c.ReloadState(context.Background())
	}
}

// deadlineHook bounds each command and pipeline by timeout. The store's
// operations carry that deadline already (one operation, all its round
// trips); a cluster's slot map reload and command table lookup, and each
// round trip of Audit, are the ones it shortens.
type deadlineHook struct{ timeout time.Duration }

func (h deadlineHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h deadlineHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		ctx, cancel := context.WithTimeout(ctx, h.timeout)
		defer cancel()
		return next(ctx, cmd)
	}
}

func (h deadlineHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		ctx, cancel := context.WithTimeout(ctx, h.timeout)
		defer cancel()
		return next(ctx, cmds)
	}
}
