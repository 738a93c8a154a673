package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Every request authedge serves goes to Redis: profile reads on each GET
// /auth/v1/user/me, which are not cached
// (docs/DECISIONS.md#storage-store-details-in-keysgo), and a script on each
// edit. Sent one by one, each command costs a pool checkout and a write and a
// read syscall on both sides; under load most of Caddy's time on /me, and
// over a quarter of Redis's on basic/edit, went there. batcher coalesces the
// commands that arrive together into one pipeline, so concurrent requests
// share those costs. A lone command is sent at once: batching adds no wait,
// it only takes what is already queued.
const (
	// batchWorkers pipelines may be in flight at once; more commands queue.
	batchWorkers = 2
	// maxBatch bounds one pipeline.
	maxBatch = 64
)

type batcher struct {
	client  redis.UniversalClient
	timeout time.Duration
	// wait, when on, follows every batch holding a write with WAIT on the
	// same connection (replication.go).
	wait  waitPolicy
	queue chan *batchRequest
	stop  chan struct{}
	wg    sync.WaitGroup
	// batches and sent count the round trips made and the commands they
	// carried: their ratio is how well concurrent commands share one.
	batches, sent atomic.Uint64
}

type batchRequest struct {
	// ctx is the caller's: a command whose caller has left is not sent.
	ctx context.Context
	cmd redis.Cmder
	// done is closed when cmd holds its reply. The caller may have left at
	// its deadline by then; the worker never waits for it.
	done chan struct{}
}

func newBatcher(client redis.UniversalClient, timeout time.Duration) *batcher {
	return newWaitingBatcher(client, timeout, waitPolicy{})
}

// newWaitingBatcher is a batcher that follows writes with WAIT as wait
// says. timeout bounds a batch's round trip; WAIT's own timeout is added.
func newWaitingBatcher(client redis.UniversalClient, timeout time.Duration, wait waitPolicy) *batcher {
	b := &batcher{
		client:  client,
		timeout: timeout + wait.timeout,
		wait:    wait,
		queue:   make(chan *batchRequest, batchWorkers*maxBatch),
		stop:    make(chan struct{}),
	}
	b.wg.Add(batchWorkers)
	for range batchWorkers {
		go b.work()
	}
	return b
}

// process sends cmd through a shared pipeline and returns its error. When
// it returns ctx's error instead, cmd may still be answered later and must
// not be read.
func (b *batcher) process(ctx context.Context, cmd redis.Cmder) error {
	select {
	case <-b.stop:
		return redis.ErrClosed
	default:
	}
	req := &batchRequest{ctx: ctx, cmd: cmd, done: make(chan struct{})}
	select {
	case b.queue <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.stop:
		return redis.ErrClosed
	}
	select {
	case <-req.done:
		return cmd.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// get is GET key through a shared pipeline; redis.Nil when key is missing.
func (b *batcher) get(ctx context.Context, key string) (string, error) {
	cmd := redis.NewStringCmd(ctx, "get", key)
	if err := b.process(ctx, cmd); err != nil {
		return "", err
	}
	return cmd.Val(), nil
}

func (b *batcher) work() {
	defer b.wg.Done()
	batch := make([]*batchRequest, 0, maxBatch)
	for {
		select {
		case req := <-b.queue:
			batch = append(batch[:0], req)
		case <-b.stop:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case req := <-b.queue:
				batch = append(batch, req)
			default:
				break more
			}
		}
		b.flush(batch)
	}
}

// flush sends batch as one pipeline and answers every request in it. A
// pipeline holding a command that must not run twice (onceCmd) is not
// retried as a whole; the store's client retries nothing anyway.
func (b *batcher) flush(batch []*batchRequest) {
	// A caller that gave up while its command queued (Redis slow or down)
	// has answered its client already: an edit it reported as failed
	// should not start after that, and the load would help no one.
	live := batch[:0]
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.cmd.SetErr(err)
			close(req.done)
			continue
		}
		live = append(live, req)
	}
	if len(live) == 0 {
		return
	}
	b.batches.Add(1)
	b.sent.Add(uint64(len(live)))
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	if b.wait.on() && holdsWrite(live) {
		b.flushWaiting(ctx, live)
	} else if len(live) == 1 {
		_ = b.client.Process(ctx, live[0].cmd)
	} else {
		pipe := b.client.Pipeline()
		for _, req := range live {
			_ = pipe.Process(ctx, req.cmd)
		}
		_, _ = pipe.Exec(ctx)
	}
	for _, req := range live {
		close(req.done)
	}
}

// close stops the workers after their batches in flight are answered, and
// answers whatever is still queued with redis.ErrClosed.
func (b *batcher) close() {
	close(b.stop)
	b.wg.Wait()
	for {
		select {
		case req := <-b.queue:
			req.cmd.SetErr(redis.ErrClosed)
			close(req.done)
		default:
			return
		}
	}
}
