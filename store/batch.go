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
// share those costs. A command that finds no pipeline in flight is sent at
// once: batching adds no timer, it only takes what is already queued.
//
// One pipeline is in flight at a time (the turn): the commands that arrive
// meanwhile wait in the queue and make the next one, sent as soon as the
// first lands. Two in flight, each taking whatever had just arrived, made
// pipelines of about two commands under /me's load, and a round trip costs
// both processes a write and a read whatever it carries; one at a time
// about doubles them and cuts Redis's CPU per read by a third or more
// (BenchmarkMeParallel, bench/README.md).
//
// A full batch goes without the turn, as a second pipeline in flight, so
// that throughput is not bounded by one pipeline per round trip; so do
// earlyScripts write scripts. Waiting for the turn costs a command a whole
// round trip on top of its own, and a pipeline of edit scripts keeps
// Redis busy for about a millisecond: under edits, most of the requests
// a server held sat in that wait while its CPUs idled (bench/run.sh's
// scenario 3: 10-12 % idle, 39 of its 64 requests waiting on the
// batcher). Sent early, Redis starts on them as soon as it has answered
// the first: the idle share fell to 6-8 % and the edit served about 3 %
// more requests (seven alternating runs against the build before: 0.965
// to 1.081 per run, median 1.027; bench/README.md). Reads, read-only
// scripts among them, do not count: sent early as well, /me's pipelines
// carried a third fewer commands and cost Redis 30-40 % more per read
// (BenchmarkMeParallel).
const (
	// batchWorkers workers send pipelines: one at a time on the turn, the
	// other only with a full batch or earlyScripts write scripts queued;
	// more commands queue.
	batchWorkers = 2
	// earlyScripts write scripts queued send a pipeline without the turn.
	earlyScripts = 8
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
	// turn holds a token while no pipeline is in flight: a worker takes
	// it to send one, or sends without it when signalled on early.
	turn chan struct{}
	// early is signalled by a caller that finds a full batch or
	// earlyScripts write scripts queued. queuedScripts counts the write
	// scripts queued and being queued.
	early         chan struct{}
	queuedScripts atomic.Int64
	stop          chan struct{}
	wg            sync.WaitGroup
	// batches and sent count the round trips made and the commands they
	// carried: their ratio is how well concurrent commands share one.
	batches, sent atomic.Uint64
}

type batchRequest struct {
	// ctx is the caller's: a command whose caller has left is not sent.
	ctx context.Context
	// deadline, if not zero, is when the caller stops waiting, as if ctx
	// ended then (processWithin).
	deadline time.Time
	cmd      redis.Cmder
	// done receives one value when cmd holds its reply. It is buffered:
	// the caller may have left at its deadline by then, and the worker
	// never waits for it.
	done chan struct{}
	// get and args are getWithin's command: a read pooled with its
	// request allocates no command of its own.
	get  redis.StringCmd
	args [2]any
	// write marks a write script (isWaitingWrite), decided once in send:
	// counted in queuedScripts while queued, and followed by WAIT when
	// the batcher waits for replicas.
	write bool
}

// Requests are pooled with their channel (and a read with its command):
// up to four allocations less per command. A caller returns its request
// only once it has received from done, since until then the worker may
// still hold it; a caller that left drops its request instead.
var requestPool = sync.Pool{New: func() any { return &batchRequest{done: make(chan struct{}, 1)} }}

func newRequest(ctx context.Context, cmd redis.Cmder) *batchRequest {
	req := requestPool.Get().(*batchRequest)
	req.ctx, req.cmd = ctx, cmd
	return req
}

// release returns req to the pool; only its last holder may.
func (req *batchRequest) release() {
	*req = batchRequest{done: req.done}
	requestPool.Put(req)
}

// answer tells req's caller that its command holds its reply.
func (req *batchRequest) answer() { req.done <- struct{}{} }

// left reports why req's caller is no longer waiting, nil if it is; now
// is the time, zero if no request of its batch has a deadline.
func (req *batchRequest) left(now time.Time) error {
	if err := req.ctx.Err(); err != nil {
		return err
	}
	if !req.deadline.IsZero() && !now.Before(req.deadline) {
		return context.DeadlineExceeded
	}
	return nil
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
		turn:    make(chan struct{}, 1),
		early:   make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	b.turn <- struct{}{}
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
	return b.processWithin(ctx, 0, cmd)
}

// processWithin is process that also gives up after timeout, unless it is
// zero, with context.DeadlineExceeded: what a context from Store.deadline
// would do, without deriving one. A derived context costs a timer and a
// child registered on the caller's (per request, about as much CPU as the
// rest of a profile read); a pooled timer does the same here.
func (b *batcher) processWithin(ctx context.Context, timeout time.Duration, cmd redis.Cmder) error {
	req := newRequest(ctx, cmd)
	if err := b.send(req, timeout); err != nil {
		return err
	}
	req.release()
	return cmd.Err()
}

// send queues req and waits until its command is answered (nil), its
// caller's context ends or timeout passes. On an error req is no longer
// the caller's to use or release.
func (b *batcher) send(req *batchRequest, timeout time.Duration) error {
	ctx := req.ctx
	select {
	case <-b.stop:
		req.release()
		return redis.ErrClosed
	default:
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := startTimer(timeout)
		defer stopTimer(t)
		expired = t.C
		req.deadline = time.Now().Add(timeout)
	}
	// A write script is counted before it is queued, so that the worker
	// that takes it out never counts it out first.
	req.write = isWaitingWrite(req.cmd)
	if req.write {
		b.queuedScripts.Add(1)
	}
	select {
	case b.queue <- req:
		// A worker holds the first command of its batch out of the
		// queue: maxBatch-1 queued fill it.
		if (req.write && b.queuedScripts.Load() >= earlyScripts) || len(b.queue) >= maxBatch-1 {
			select {
			case b.early <- struct{}{}:
			default:
			}
		}
	case <-ctx.Done():
		b.uncount(req)
		req.release()
		return ctx.Err()
	case <-expired:
		b.uncount(req)
		req.release()
		return context.DeadlineExceeded
	case <-b.stop:
		b.uncount(req)
		req.release()
		return redis.ErrClosed
	}
	select {
	case <-req.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-expired:
		return context.DeadlineExceeded
	}
}

// timerPool keeps stopped timers for caller after caller. Since Go 1.23 a
// stopped or reset timer delivers no stale tick; stopTimer still drains
// one, for a binary whose main module selects the older timers (a go line
// before 1.23, or GODEBUG asynctimerchan=1), where a stale tick would end
// the next caller's wait at once.
var timerPool sync.Pool

func startTimer(d time.Duration) *time.Timer {
	if t, ok := timerPool.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

func stopTimer(t *time.Timer) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	timerPool.Put(t)
}

// get is GET key through a shared pipeline; redis.Nil when key is missing.
func (b *batcher) get(ctx context.Context, key string) (string, error) {
	return b.getWithin(ctx, 0, key)
}

// getWithin is get bounded by timeout as well (processWithin). Its command
// is the pooled request's own.
func (b *batcher) getWithin(ctx context.Context, timeout time.Duration, key string) (string, error) {
	req := newRequest(ctx, nil)
	req.args = [2]any{"get", key}
	req.get = *redis.NewStringCmd(ctx, req.args[:]...)
	req.cmd = &req.get
	if err := b.send(req, timeout); err != nil {
		return "", err
	}
	v, err := req.get.Result()
	req.release()
	return v, err
}

func (b *batcher) work() {
	defer b.wg.Done()
	batch := make([]*batchRequest, 0, maxBatch)
	for {
		var first *batchRequest
		select {
		case first = <-b.queue:
			b.uncount(first)
		case <-b.stop:
			return
		}
		// Wait for the turn, or for an early batch to send without it. What
		// arrives meanwhile waits in the queue: taking each as it came
		// would wake this worker once per command.
		select {
		case <-b.turn:
			// What signalled an early batch so far is queued, and goes
			// now: a signal left over would send the next command alone
			// without the turn.
			select {
			case <-b.early:
			default:
			}
			b.flush(b.drain(append(batch[:0], first)))
			b.turn <- struct{}{}
		case <-b.early:
			b.flush(b.drain(append(batch[:0], first)))
		case <-b.stop:
			b.refuse([]*batchRequest{first})
			return
		}
	}
}

// uncount takes req out of queuedScripts: a worker or close took it out
// of the queue, or it never got in.
func (b *batcher) uncount(req *batchRequest) {
	if req.write {
		b.queuedScripts.Add(-1)
	}
}

// drain adds to batch what is queued, up to maxBatch.
func (b *batcher) drain(batch []*batchRequest) []*batchRequest {
	for len(batch) < maxBatch {
		select {
		case req := <-b.queue:
			b.uncount(req)
			batch = append(batch, req)
		default:
			return batch
		}
	}
	return batch
}

// flush sends batch as one pipeline and answers every request in it. A
// pipeline holding a command that must not run twice (onceCmd) is not
// retried as a whole; the store's client retries nothing anyway.
func (b *batcher) flush(batch []*batchRequest) {
	// A caller that gave up while its command queued (Redis slow or down)
	// has answered its client already: an edit it reported as failed
	// should not start after that, and the load would help no one.
	var now time.Time
	for _, req := range batch {
		if !req.deadline.IsZero() {
			now = time.Now()
			break
		}
	}
	live := batch[:0]
	for _, req := range batch {
		if err := req.left(now); err != nil {
			req.cmd.SetErr(err)
			req.answer()
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
		req.answer()
	}
}

// close stops the workers after their batches in flight are answered, and
// answers whatever is still queued or waiting for its turn with
// redis.ErrClosed.
func (b *batcher) close() {
	close(b.stop)
	b.wg.Wait()
	for {
		select {
		case req := <-b.queue:
			b.uncount(req)
			b.refuse([]*batchRequest{req})
		default:
			return
		}
	}
}

// refuse answers batch with redis.ErrClosed, unsent.
func (b *batcher) refuse(batch []*batchRequest) {
	for _, req := range batch {
		req.cmd.SetErr(redis.ErrClosed)
		req.answer()
	}
}
