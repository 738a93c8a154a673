package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis replicates asynchronously: a master killed a moment after it
// answered a script may take the write with it, and the replica promoted
// in its place never had it. With a waitPolicy on, a batch holding a write
// (a script not marked noWait) is followed by WAIT in the same pipeline,
// on the same connection, since WAIT counts the replicas that have every
// write that connection made. The writes are acknowledged only
// when enough replicas confirm; otherwise they are ErrUnavailable, and may
// stand on the master (docs/topologies.md). Reads never share such a
// batch: the store sends them through a batcher of their own (Store.reads),
// or every token check would queue behind WAIT while a replica lags.

// waitPolicy is WAIT's numreplicas and timeout; zero replicas is off.
type waitPolicy struct {
	replicas int
	timeout  time.Duration
	// slotKey is a key of the environment: in a Cluster it names the
	// master the batch goes to, so that the scripts and their WAIT share
	// one connection.
	slotKey string
	// hooks are the ones added to the Cluster client (Options.Hooks: the
	// metrics). The master's own client, which sends the batch, has none
	// of them, so flushWaiting runs them around its pipeline.
	hooks []redis.Hook
}

func (w waitPolicy) on() bool { return w.replicas > 0 }

// errNotReplicated: WAIT confirmed fewer replicas than asked in time. It
// is a failure to reach Redis (unreachable): the write stands on the
// master but may be lost with it.
var errNotReplicated = errors.New("fewer replicas confirmed the write than asked")

// holdsWrite reports whether batch has a script that waits for replicas
// (send marked it write).
func holdsWrite(batch []*batchRequest) bool {
	for _, req := range batch {
		if req.write {
			return true
		}
	}
	return false
}

// isWaitingWrite reports whether cmd is a script whose answer counts only
// once replicas confirm it.
func isWaitingWrite(cmd redis.Cmder) bool {
	once, ok := cmd.(*onceCmd)
	return ok && !once.noWait
}

// flushWaiting sends batch and a WAIT as one pipeline on one connection,
// and fails the batch's scripts that ran when WAIT confirms too few
// replicas.
func (b *batcher) flushWaiting(ctx context.Context, batch []*batchRequest) {
	pipe, node, err := b.oneConnection(ctx)
	if err != nil {
		for _, req := range batch {
			req.cmd.SetErr(err)
		}
		return
	}
	for _, req := range batch {
		_ = pipe.Process(ctx, req.cmd)
	}
	wait := redis.NewIntCmd(ctx, "wait", b.wait.replicas, max(1, b.wait.timeout.Milliseconds()))
	_ = pipe.Process(ctx, wait)
	if node && len(b.wait.hooks) > 0 {
		b.execHooked(ctx, pipe, batch, wait)
	} else {
		_, _ = pipe.Exec(ctx)
	}
	confirmed, err := wait.Result()
	if err == nil && confirmed >= int64(b.wait.replicas) {
		return
	}
	if err == nil {
		err = fmt.Errorf("%w: %d of %d within %v", errNotReplicated, confirmed, b.wait.replicas, b.wait.timeout)
	}
	for _, req := range batch {
		if req.write && req.cmd.Err() == nil {
			req.cmd.SetErr(err)
		}
	}
}

// execHooked sends pipe (batch's commands, then wait) through the hooks
// the Cluster client would have run them through, the first added
// outermost.
func (b *batcher) execHooked(ctx context.Context, pipe redis.Pipeliner, batch []*batchRequest, wait redis.Cmder) {
	cmds := make([]redis.Cmder, 0, len(batch)+1)
	for _, req := range batch {
		cmds = append(cmds, req.cmd)
	}
	exec := func(ctx context.Context, _ []redis.Cmder) error {
		_, err := pipe.Exec(ctx)
		return err
	}
	for i := len(b.wait.hooks) - 1; i >= 0; i-- {
		exec = b.wait.hooks[i].ProcessPipelineHook(exec)
	}
	_ = exec(ctx, append(cmds, wait))
}

// oneConnection is a pipeline whose commands all go over one connection:
// any pipeline of a single node's or Sentinel's client, and in a Cluster a
// pipeline of the client of the master serving the environment's slot. A
// MOVED or ASK that node answers then is not followed: the script did not
// run, the request is unavailable, and the failure reloads the slot map.
// node reports the latter: a pipeline the Cluster client's hooks do not see.
func (b *batcher) oneConnection(ctx context.Context) (pipe redis.Pipeliner, node bool, err error) {
	cluster, ok := b.client.(*redis.ClusterClient)
	if !ok {
		return b.client.Pipeline(), false, nil
	}
	master, err := cluster.MasterForKey(ctx, b.wait.slotKey)
	if err != nil {
		return nil, false, err
	}
	return master.Pipeline(), true, nil
}
