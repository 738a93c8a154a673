package store

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Profile reads sit on every GET /auth/v1/user/me, and SPEC keeps them
// uncached: each one goes to Redis. Sent one by one, each costs a pool
// checkout, a write and a read syscall; under load most of Caddy's time on
// /me went there. getBatcher coalesces the GETs that arrive together into one
// pipeline, so concurrent readers share those costs. A lone reader is sent
// at once: batching adds no wait, it only takes what is already queued.
const (
	// getWorkers pipelines may be in flight at once; more readers queue.
	getWorkers = 4
	// maxGetBatch bounds one pipeline.
	maxGetBatch = 64
)

type getBatcher struct {
	client  redis.UniversalClient
	timeout time.Duration
	queue   chan *getRequest
	stop    chan struct{}
	wg      sync.WaitGroup
}

type getRequest struct {
	key   string
	value string
	err   error
	// done is closed when value and err are set. The caller may have
	// left at its deadline by then; the worker never waits for it.
	done chan struct{}
}

func newGetBatcher(client redis.UniversalClient, timeout time.Duration) *getBatcher {
	b := &getBatcher{
		client:  client,
		timeout: timeout,
		queue:   make(chan *getRequest, getWorkers*maxGetBatch),
		stop:    make(chan struct{}),
	}
	b.wg.Add(getWorkers)
	for range getWorkers {
		go b.work()
	}
	return b
}

// get is GET key through a shared pipeline; redis.Nil when key is missing.
func (b *getBatcher) get(ctx context.Context, key string) (string, error) {
	select {
	case <-b.stop:
		return "", redis.ErrClosed
	default:
	}
	req := &getRequest{key: key, done: make(chan struct{})}
	select {
	case b.queue <- req:
	case <-ctx.Done():
		return "", ctx.Err()
	case <-b.stop:
		return "", redis.ErrClosed
	}
	select {
	case <-req.done:
		return req.value, req.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (b *getBatcher) work() {
	defer b.wg.Done()
	batch := make([]*getRequest, 0, maxGetBatch)
	cmds := make([]*redis.StringCmd, 0, maxGetBatch)
	for {
		select {
		case req := <-b.queue:
			batch = append(batch[:0], req)
		case <-b.stop:
			return
		}
	more:
		for len(batch) < maxGetBatch {
			select {
			case req := <-b.queue:
				batch = append(batch, req)
			default:
				break more
			}
		}
		cmds = b.flush(batch, cmds[:0])
	}
}

// flush sends batch as one pipeline and answers every request in it.
func (b *getBatcher) flush(batch []*getRequest, cmds []*redis.StringCmd) []*redis.StringCmd {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	if len(batch) == 1 {
		req := batch[0]
		req.value, req.err = b.client.Get(ctx, req.key).Result()
		close(req.done)
		return cmds
	}
	pipe := b.client.Pipeline()
	for _, req := range batch {
		cmds = append(cmds, pipe.Get(ctx, req.key))
	}
	_, _ = pipe.Exec(ctx)
	for i, req := range batch {
		req.value, req.err = cmds[i].Result()
		close(req.done)
	}
	return cmds
}

// close stops the workers after their batches in flight are answered, and
// answers whatever is still queued with redis.ErrClosed.
func (b *getBatcher) close() {
	close(b.stop)
	b.wg.Wait()
	for {
		select {
		case req := <-b.queue:
			req.err = redis.ErrClosed
			close(req.done)
		default:
			return
		}
	}
}
