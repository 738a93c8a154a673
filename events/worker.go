// Package events delivers the change events that the store's scripts
// append to an environment's Redis Stream to the app behind, as Standard
// Webhooks POSTs (docs/events.md).
//
// Every instance sharing the Redis runs one Worker, all of them consumers
// of one consumer group (Group), so each event goes to one of them. An
// event is delivered at least once: it is acknowledged (XACK) only after a
// 2xx answer, or after retry_for of failures, when it is parked in the
// dead-letter list instead. Events of one user are delivered in stream
// order, across instances: the script that reads an event for a consumer
// also queues it behind the user's earlier events still in flight
// (Keys.InFlight), and an event is posted only when it heads that queue.
// Different users go in parallel. An instance that dies leaves its events
// pending in the group; after ClaimIdle the others take them (XAUTOCLAIM),
// and since they still head their users' queues, order holds.
//
// It never runs inside a request: the store's scripts only append.
package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/authedge/caddy-authedge/internal/secret"
	"github.com/authedge/caddy-authedge/internal/stdwebhook"
	"github.com/authedge/caddy-authedge/notify"
)

// Tuning that the configuration leaves out, chosen here.
const (
	// ClaimIdle is how long an event may sit unacknowledged with no sign
	// of life from its holder before another instance takes it over. A
	// live holder touches its events every ClaimIdle/3, so only a dead (or
	// cut off) instance's events get this old; 30 s bounds how long a
	// crash delays its users' events, and is far above a Redis blip.
	ClaimIdle = 30 * time.Second

	// DefaultDeadMax is Options.DeadMax's default: stream_max_len's.
	DefaultDeadMax = 1000000

	// DefaultParallel is how many deliveries one instance makes at once.
	DefaultParallel = 64

	// DefaultMaxHeld bounds the events one instance reads while it holds
	// them (read and not yet acknowledged), so one instance does not take
	// the whole backlog while others are idle. Events taken over from a
	// dead instance come on top (claim.go): its own may wait behind them.
	DefaultMaxHeld = 4096

	// AttemptTimeout bounds one POST.
	AttemptTimeout = 10 * time.Second

	// DefaultBackoffMin and DefaultBackoffMax bound the pause between two
	// attempts at one event: it starts at the min and doubles, with
	// jitter, up to the max.
	DefaultBackoffMin = time.Second
	DefaultBackoffMax = 5 * time.Minute

	// readBatch is how many events one read takes at most.
	readBatch = 256
	// waitPoll is how soon an event whose user's earlier event another
	// instance holds first checks whether its turn has come; the pause
	// doubles while it waits, up to maxWaitPoll. A fixed 50 ms poll per
	// waiting user read Redis up to tens of thousands of times a second
	// while a receiver was down, on the Redis that serves sign-ins; a
	// turn is noticed at most maxWaitPoll late.
	waitPoll    = 50 * time.Millisecond
	maxWaitPoll = time.Second
	// blockFor is how long one blocking wait for new events lasts. Stop
	// waits for it (go-redis cannot cut a blocking read short), and so
	// does every reload that changes the events block: an idle instance's
	// two commands a second cost Redis less than a 2 s wait costs there.
	blockFor = 500 * time.Millisecond
	// clockSkew is how far before its start, by its own clock, a worker
	// creates a group that does not exist yet: stream IDs are Redis's
	// time, and the clocks of Caddy's and Redis's hosts differ by this
	// much at most where NTP runs. (A clock further ahead is capped by
	// Redis's TIME: ensureGroup.)
	clockSkew = 5 * time.Second
)

// Options configures a Worker.
type Options struct {
	// Client is the Redis connection; the Worker does not close it.
	Client redis.UniversalClient
	// Keys are the environment's keys (NewKeys).
	Keys Keys
	// URL receives each event as a POST.
	URL string
	// Secret signs each delivery (stdwebhook.ParseSecret). Required.
	Secret string
	// RetryFor is how long one event's delivery is retried before it is
	// dead-lettered, counted from its first attempt on this instance.
	RetryFor time.Duration
	// DeadMax bounds the dead-letter list as stream_max_len bounds the
	// stream: a receiver that never comes back would otherwise have
	// every change made kept there until Redis ran out of memory. Past
	// it, the oldest dead letters go. Zero means DefaultDeadMax.
	DeadMax int64

	// Consumer names this instance in the group; default: host, process
	// and a random part, unique per Worker.
	Consumer string
	// HTTPClient sends the POSTs; default: notify.NewClient's
	// no-redirect client, with a transport that keeps Parallel idle
	// connections to the receiver.
	HTTPClient *http.Client
	// Parallel, MaxHeld, BackoffMin, BackoffMax, ClaimIdle: zero means
	// the defaults above (tests shorten them).
	Parallel   int
	MaxHeld    int
	BackoffMin time.Duration
	BackoffMax time.Duration
	ClaimIdle  time.Duration
	// OnOutcome, if set, is called after each delivery attempt with how
	// it ended (for metrics); it must not block.
	OnOutcome func(Outcome)
	// OnLag, if set, is told every lagEvery how far the webhook is behind
	// (Lag: the age of the oldest event handed out and not acknowledged),
	// and 0 once Stop has stopped the worker, so that a gauge fed by it
	// does not show a lag nobody measures any more; it must not block.
	OnLag func(time.Duration)
	// Logger receives warnings about failed deliveries (never an event's
	// body: it holds contacts); nil means none.
	Logger *zap.Logger

	// now is the host's clock; nil means time.Now (tests move it).
	now func() time.Time
}

// Outcome is how one delivery attempt ended: a fixed set, fit for a
// metric label.
type Outcome string

// The outcomes of a delivery attempt.
const (
	Delivered    Outcome = "delivered"     // a 2xx answer; the event is acknowledged
	Retried      Outcome = "retried"       // failed; it will be tried again
	DeadLettered Outcome = "dead_lettered" // failed for retry_for (or invalid); parked in the dead-letter list
)

// Worker delivers one environment's events to one URL.
type Worker struct {
	o      Options
	key    stdwebhook.Key
	logger *zap.Logger
	client *http.Client
	// ownClient: client is the worker's own (Options.HTTPClient was nil),
	// and Stop closes its idle connections.
	ownClient bool
	slots     chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ready  chan struct{}

	// groupFrom is the stream ID the group is created at should it not
	// exist (ensureGroup): just before this worker started, then the last
	// event it read. Guarded by mu.
	groupFrom string

	mu    sync.Mutex
	users map[string]*userQueue
	held  map[string]*entry
	room  chan struct{} // signalled when an event is let go
}

// entry is one event this instance holds.
type entry struct {
	id     string // the stream entry ID
	sid    streamID
	user   string
	stored string
	// head: no earlier event of the user is in flight; known at read
	// time, or learned when the one before was acknowledged.
	head bool
}

// userQueue is one user's held events, oldest first, and whether a
// goroutine is delivering them.
type userQueue struct {
	entries []*entry
	running bool
}

// New checks the options and returns a Worker; Start runs it. No I/O
// happens here.
func New(o Options) (*Worker, error) {
	if o.Client == nil || o.URL == "" || o.Keys.Stream == "" {
		return nil, errors.New("events: a Redis client, keys and a URL are required")
	}
	key, err := stdwebhook.ParseSecret(o.Secret)
	if err != nil {
		return nil, fmt.Errorf("events: webhook secret: %w", err)
	}
	if o.RetryFor <= 0 {
		return nil, errors.New("events: retry_for must be positive")
	}
	if o.Consumer == "" {
		host, _ := os.Hostname()
		o.Consumer = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), secret.ID()[:8])
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.DeadMax <= 0 {
		o.DeadMax = DefaultDeadMax
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.MaxHeld <= 0 {
		o.MaxHeld = DefaultMaxHeld
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = DefaultBackoffMin
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = max(DefaultBackoffMax, o.BackoffMin)
	}
	if o.ClaimIdle <= 0 {
		o.ClaimIdle = ClaimIdle
	}
	client, own := o.HTTPClient, o.HTTPClient == nil
	if own {
		client = notify.NewClient()
		t := http.DefaultTransport.(*http.Transport).Clone()
		// The default keeps 2 idle connections per host: at thousands of
		// events a second, every other delivery would open a new one.
		t.MaxIdleConnsPerHost = o.Parallel
		client.Transport = t
	}
	logger := o.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Worker{
		o: o, key: key, logger: logger, client: client, ownClient: own,
		slots: make(chan struct{}, o.Parallel),
		ready: make(chan struct{}),
		users: make(map[string]*userQueue),
		held:  make(map[string]*entry),
		room:  make(chan struct{}, 1),
	}, nil
}

// Consumer is this worker's name in the group.
func (w *Worker) Consumer() string { return w.o.Consumer }

// Ready is closed once the worker has joined the group. Events appended
// after Start are delivered (a group this worker creates starts a little
// before it: ensureGroup), with those appended before Ready.
func (w *Worker) Ready() <-chan struct{} { return w.ready }

// Start runs the worker in the background until Stop.
func (w *Worker) Start() {
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.groupFrom = fmt.Sprintf("%d-0", w.o.now().Add(-clockSkew).UnixMilli())
	w.wg.Add(2)
	go w.readLoop()
	go w.claimLoop()
	if w.o.OnLag != nil {
		w.wg.Add(1)
		go w.lagLoop()
	}
}

// lagEvery is how often the lag is read: one XPENDING summary, cheap
// enough to run often, rare enough to cost nothing per event.
const lagEvery = 5 * time.Second

// lagLoop reports the lag until the worker stops. A failed read reports
// nothing: the gauge keeps its last value rather than claim the webhook
// caught up.
func (w *Worker) lagLoop() {
	defer w.wg.Done()
	for w.sleep(lagEvery) {
		ctx, cancel := context.WithTimeout(w.ctx, time.Second)
		lag, err := Lag(ctx, w.o.Client, w.o.Keys, time.Now())
		cancel()
		if err == nil {
			w.o.OnLag(lag)
		}
	}
}

// Stop ends the worker and waits for its goroutines. Events being
// delivered are left pending in the group: another instance, or this one
// restarted, takes them over after ClaimIdle, so Stop loses nothing. Those
// trimmed from the stream meanwhile, whose only copy this worker holds,
// are dead-lettered (parkTrimmed).
func (w *Worker) Stop() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	w.wg.Wait()
	if w.ownClient {
		// A stopped worker posts nothing more; its keep-alive connections
		// to the receiver would otherwise stay open, each holding
		// goroutines on both ends, for the transport's idle timeout
		// (90 s) after every reload that replaces the worker.
		w.client.CloseIdleConnections()
	}
	if w.o.OnLag != nil {
		w.o.OnLag(0)
	}
	park, cancelPark := context.WithTimeout(context.Background(), 5*time.Second)
	w.parkTrimmed(park)
	cancelPark()
	// A consumer that holds nothing is dropped from the group, so that
	// reloads and restarts do not pile up names. One that holds events
	// stays: deleting it would drop them.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if n, err := w.pendingOfMine(ctx); err == nil && n == 0 {
		w.o.Client.XGroupDelConsumer(ctx, w.o.Keys.Stream, Group, w.o.Consumer)
	}
}

// parkTrimmed dead-letters, as they would be delivered, the events this
// stopped worker holds that were trimmed from the stream: the group can
// hand them to nobody else (trimmed entries leave its pending list), and
// this worker has the only copy of their bodies, so left alone they would
// be lost once its lease on them ran out. Each user's go oldest first; the
// user's later events then go, as after any dead letter. A Redis error
// leaves the rest as they are, to the lease.
func (w *Worker) parkTrimmed(ctx context.Context) {
	w.mu.Lock()
	var held []*entry
	for _, q := range w.users {
		held = append(held, q.entries...)
	}
	w.mu.Unlock()
	k := w.o.Keys
	trimmed := map[string]bool{}
	for batch := range slices.Chunk(held, 500) {
		ids := make([]any, len(batch))
		for i, e := range batch {
			ids[i] = e.id
		}
		gone, err := trimmedScript.Run(ctx, w.o.Client, []string{k.Stream, k.InFlight}, ids...).StringSlice()
		if err != nil {
			w.logger.Warn("events: cannot check the held events for trimmed ones while stopping", zap.Error(err))
			return
		}
		for _, id := range gone {
			trimmed[id] = true
		}
	}
	for _, e := range held {
		if !trimmed[e.id] {
			continue
		}
		dead := e.stored
		if body, _, err := Body(e.id, e.stored); err == nil {
			dead = string(body)
		}
		next, err := doneScript.Run(ctx, w.o.Client, []string{k.Stream, k.InFlight, k.Dead}, Group, e.id, dead, w.o.DeadMax).Text()
		if err != nil && !errors.Is(err, redis.Nil) {
			w.logger.Warn("events: cannot dead-letter a trimmed event while stopping; lost once its lease runs out",
				zap.String("event_id", e.id), zap.Error(err))
			return
		}
		w.observe(DeadLettered)
		w.logger.Warn("events: stopped while delivering an event trimmed from the stream; dead-lettered (raise stream_max_len)",
			zap.String("event_id", e.id))
		w.release(e, next)
	}
}

func (w *Worker) pendingOfMine(ctx context.Context) (int64, error) {
	p, err := w.o.Client.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: w.o.Keys.Stream, Group: Group, Start: "-", End: "+", Count: 1, Consumer: w.o.Consumer,
	}).Result()
	return int64(len(p)), err
}

// sleep waits d, or less if the worker stops; it reports whether it may
// go on.
func (w *Worker) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// ensureGroup creates the group (with the stream if need be), retrying
// while Redis is away. It starts at groupFrom, not at the stream's end
// when a try gets through: the events appended while Redis was away at
// Start, or between a group's loss and this worker noticing it, are
// the webhook's too (docs/events.md).
func (w *Worker) ensureGroup() bool {
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		w.mu.Lock()
		from := w.groupFrom
		w.mu.Unlock()
		// Never after Redis's own time less the same skew: stream IDs
		// are its clock, and a host whose clock runs ahead of it by more
		// than clockSkew would start the group past the events appended
		// until Redis caught up, which would then never be delivered.
		// Capped at Redis's time itself, the group would still miss
		// what was appended between Start and this call.
		redisNow, err := w.o.Client.Time(w.ctx).Result()
		if err == nil {
			limit := redisNow.Add(-clockSkew).UnixMilli()
			if id, ok := parseStreamID(from); ok && uint64(limit) < id.ms {
				from = fmt.Sprintf("%d-0", limit)
			}
			err = w.o.Client.XGroupCreateMkStream(w.ctx, w.o.Keys.Stream, Group, from).Err()
		}
		if err == nil || strings.HasPrefix(err.Error(), "BUSYGROUP") {
			// Named at once, so XINFO CONSUMERS lists every instance
			// (a read inside a script names it only once it gets events).
			err = w.o.Client.XGroupCreateConsumer(w.ctx, w.o.Keys.Stream, Group, w.o.Consumer).Err()
		}
		if err == nil {
			return true
		}
		if w.ctx.Err() != nil {
			return false
		}
		w.logger.Warn("events: cannot join the consumer group; retrying", zap.Error(err))
		if !w.sleep(backoff) {
			return false
		}
	}
}

// readLoop takes new events from the group as long as there is room.
func (w *Worker) readLoop() {
	defer w.wg.Done()
	if !w.ensureGroup() {
		return
	}
	close(w.ready)
	k := w.o.Keys
	for w.ctx.Err() == nil {
		room := w.o.MaxHeld - w.heldCount()
		if room <= 0 {
			select {
			case <-w.ctx.Done():
				return
			case <-w.room:
			}
			continue
		}
		reply, err := readScript.Run(w.ctx, w.o.Client, []string{k.Stream, k.InFlight},
			Group, w.o.Consumer, min(room, readBatch)).Slice()
		if err != nil {
			w.redisTrouble(err)
			continue
		}
		got, last := w.parseRead(reply)
		if got > 0 {
			continue
		}
		// Nothing new: wait for an entry after the last one, or a while.
		err = w.o.Client.XRead(w.ctx, &redis.XReadArgs{Streams: []string{k.Stream, last}, Count: 1, Block: blockFor}).Err()
		if err != nil && !errors.Is(err, redis.Nil) {
			w.redisTrouble(err)
		}
	}
}

// redisTrouble handles a failed Redis call of a loop: a vanished group is
// created again; anything else is logged and waited out.
func (w *Worker) redisTrouble(err error) {
	if w.ctx.Err() != nil {
		return
	}
	if strings.HasPrefix(err.Error(), "NOGROUP") {
		w.ensureGroup()
		return
	}
	w.logger.Warn("events: Redis call failed; retrying", zap.Error(err))
	w.followFailover()
	w.sleep(time.Second)
}

// followFailover makes a Redis Cluster client reload its slot map after a
// failed call: a dead master answers nothing, not even the MOVED that
// would tell go-redis of the replica promoted in its place, so left alone
// the worker kept calling the dead master until go-redis's periodic
// reload, up to a minute after a failover (the store does the same:
// docs/topologies.md). go-redis coalesces the reloads.
func (w *Worker) followFailover() {
	if c, ok := w.o.Client.(*redis.ClusterClient); ok {
		c.ReloadState(context.Background())
	}
}

// parseRead adds the events of a read reply; it returns how many, and
// the stream's last ID when there were none. It logs the events the
// reply says were trimmed before any instance read them.
func (w *Worker) parseRead(reply []any) (int, string) {
	if len(reply) != 3 {
		return 0, "$"
	}
	if lost, _ := reply[2].([]any); len(lost) == 3 {
		n, _ := lost[0].(int64)
		after, _ := lost[1].(string)
		before, _ := lost[2].(string)
		// No IDs to name: Redis kept none of them, only their count.
		w.logger.Warn("events: events trimmed from the stream before any instance read them; lost (raise stream_max_len)",
			zap.Int64("lost", n), zap.String("after", after), zap.String("before", before))
	}
	list, _ := reply[0].([]any)
	read := ""
	for _, item := range list {
		f, _ := item.([]any)
		if len(f) != 4 {
			continue
		}
		id, _ := f[0].(string)
		stored, _ := f[1].(string)
		user, _ := f[2].(string)
		head, _ := f[3].(int64)
		w.add(id, stored, user, head == 1)
		read = id
	}
	if read != "" {
		w.mu.Lock()
		w.groupFrom = read
		w.mu.Unlock()
	}
	last, _ := reply[1].(string)
	if last == "" {
		last = "$"
	}
	return len(list), last
}

func (w *Worker) heldCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.held)
}

// add takes an event into this instance's queues, in stream order per
// user, and starts its user's goroutine if none runs.
func (w *Worker) add(id, stored, user string, head bool) {
	sid, ok := parseStreamID(id)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, dup := w.held[id]; dup {
		return
	}
	e := &entry{id: id, sid: sid, user: user, stored: stored, head: head}
	w.held[id] = e
	q := w.users[user]
	if q == nil {
		q = &userQueue{}
		w.users[user] = q
	}
	i := len(q.entries)
	for i > 0 && sid.less(q.entries[i-1].sid) {
		i--
	}
	q.entries = append(q.entries, nil)
	copy(q.entries[i+1:], q.entries[i:])
	q.entries[i] = e
	if !q.running {
		q.running = true
		w.wg.Add(1)
		go w.runUser(user)
	}
}

// next returns the user's oldest held event, or nil (and ends the user's
// run) when there is none.
func (w *Worker) next(user string) *entry {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.users[user]
	if len(q.entries) == 0 {
		delete(w.users, user)
		return nil
	}
	return q.entries[0]
}

// release lets an acknowledged event go; nextID, the user's next event in
// flight, heads the queue now.
func (w *Worker) release(e *entry, nextID string) {
	w.mu.Lock()
	q := w.users[e.user]
	for i, x := range q.entries {
		if x == e {
			q.entries = append(q.entries[:i], q.entries[i+1:]...)
			break
		}
	}
	delete(w.held, e.id)
	if n := w.held[nextID]; n != nil {
		n.head = true
	}
	w.mu.Unlock()
	select {
	case w.room <- struct{}{}:
	default:
	}
}

// runUser delivers one user's held events, one at a time, oldest first.
func (w *Worker) runUser(user string) {
	defer w.wg.Done()
	waitingSince := time.Time{}
	pause := waitPoll
	for w.ctx.Err() == nil {
		e := w.next(user)
		if e == nil {
			return
		}
		turn := w.turn(e)
		if turn != wait {
			pause = waitPoll
		}
		switch turn {
		case gone:
			// Acknowledged already (it was claimed back after this
			// instance had delivered it): nothing to do.
			w.release(e, "")
			continue
		case wait:
			// An earlier event of this user is held by another instance:
			// wait for it to be acknowledged (or for this instance to
			// claim it, when that one died; next then returns it).
			if waitingSince.IsZero() {
				waitingSince = time.Now()
			} else if time.Since(waitingSince) > w.o.ClaimIdle {
				w.dropStaleHead(e)
				waitingSince = time.Now()
			}
			w.sleep(pause)
			pause = min(2*pause, maxWaitPoll)
			continue
		}
		waitingSince = time.Time{}
		nextID, ok := w.deliver(e)
		if !ok {
			return // stopped: the event stays pending for a claim
		}
		w.release(e, nextID)
	}
	// Stopped: leave the queue as is; a stopped worker is not reused.
}

// An event's turn, as its user's in-flight queue in Redis says.
const (
	mine = iota // it heads the queue: deliver it
	wait        // an earlier event of the user is still in flight
	gone        // it is not queued: acknowledged already, or never to be
)

// turn reads e's place in its user's queue. A Redis error reads as wait.
// An event that is not queued at all has been acknowledged (claimed back
// after this instance delivered it), or its queue was lost; either way
// this instance lets it go, and an unacknowledged one is claimed, and
// queued again, by the claim script after ClaimIdle.
func (w *Worker) turn(e *entry) int {
	w.mu.Lock()
	head := e.head
	w.mu.Unlock()
	if head {
		return mine
	}
	q, err := w.o.Client.HGet(w.ctx, w.o.Keys.InFlight, "u:"+e.user).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return gone
	case err != nil:
		return wait
	}
	ids := strings.Fields(q)
	switch {
	case len(ids) > 0 && ids[0] == e.id:
		w.mu.Lock()
		e.head = true
		w.mu.Unlock()
		return mine
	case slices.Contains(ids, e.id):
		return wait
	}
	return gone
}

// dropStaleHead forgets the event heading e's user's queue if the group no
// longer has it pending, which a group deleted by hand, an XACK by hand,
// or an instance that stopped holding an event trimmed from the stream
// leaves behind. The last is a loss, and is said.
func (w *Worker) dropStaleHead(e *entry) {
	q, err := w.o.Client.HGet(w.ctx, w.o.Keys.InFlight, "u:"+e.user).Result()
	if err != nil {
		return
	}
	first, _, _ := strings.Cut(q, " ")
	if first == e.id {
		return
	}
	k := w.o.Keys
	if n, _ := staleScript.Run(w.ctx, w.o.Client, []string{k.Stream, k.InFlight}, Group, first).Int(); n == 2 {
		w.logger.Warn("events: event trimmed from the stream and its instance stopped before delivering it; lost (raise stream_max_len)",
			zap.Strings("event_ids", []string{first}))
	}
}

// backoff is the pause before attempt n+1 (n ≥ 1): the min doubled n-1
// times, capped, with up to a quarter of jitter so instances do not
// retry in step.
func (w *Worker) backoff(n int) time.Duration {
	d := w.o.BackoffMin
	for i := 1; i < n && d < w.o.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, w.o.BackoffMax)
	return d - time.Duration(rand.Int64N(int64(d)/4+1))
}

// deliver posts e until a 2xx answer, or until retry_for has passed since
// its first attempt, then dead-letters it; either way it is acknowledged.
// It returns the user's next event in flight, and false if the worker
// stopped first.
func (w *Worker) deliver(e *entry) (string, bool) {
	body, hookID, err := Body(e.id, e.stored)
	// park: dead-letter the event, as dead ("" for an entry with no
	// event field, which is parked all the same).
	var dead string
	park := false
	if err != nil {
		// Nothing to deliver: park it as it is, for a human to look at.
		w.logger.Warn("events: an event is not valid; dead-lettered", zap.String("event_id", e.id), zap.Error(err))
		w.observe(DeadLettered)
		dead, park = e.stored, true
	} else {
		deadline := time.Now().Add(w.o.RetryFor)
		for attempt := 1; ; attempt++ {
			err := w.post(hookID, body)
			if err == nil {
				w.observe(Delivered)
				break
			}
			if w.ctx.Err() != nil {
				return "", false
			}
			pause := w.backoff(attempt)
			if time.Now().Add(pause).After(deadline) {
				w.observe(DeadLettered)
				w.logger.Warn("events: delivery failed for retry_for; dead-lettered",
					zap.String("event_id", hookID), zap.Int("attempts", attempt), zap.Error(err))
				dead, park = string(body), true
				break
			}
			w.observe(Retried)
			if ce := w.logger.Check(zap.WarnLevel, "events: delivery failed; retrying"); ce != nil {
				ce.Write(zap.String("event_id", hookID), zap.Int("attempt", attempt),
					zap.Duration("retry_in", pause), zap.Error(err))
			}
			if !w.sleep(pause) {
				return "", false
			}
		}
	}
	return w.done(e, dead, park)
}

// done acknowledges e (dead-lettered as dead if park), retrying
// while Redis is away: an event delivered but not acknowledged would be
// delivered again by whoever claims it.
func (w *Worker) done(e *entry, dead string, park bool) (string, bool) {
	k := w.o.Keys
	args := []any{Group, e.id}
	if park {
		args = append(args, dead, w.o.DeadMax)
	}
	for {
		// Not w.ctx: an event delivered just as the worker stops is still
		// acknowledged, rather than delivered again by whoever claims it.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		next, err := doneScript.Run(ctx, w.o.Client, []string{k.Stream, k.InFlight, k.Dead}, args...).Text()
		cancel()
		if err == nil || errors.Is(err, redis.Nil) {
			return next, true
		}
		if w.ctx.Err() != nil {
			return "", false
		}
		w.logger.Warn("events: cannot acknowledge a delivered event; retrying", zap.String("event_id", e.id), zap.Error(err))
		w.followFailover()
		if !w.sleep(time.Second) {
			return "", false
		}
	}
}

func (w *Worker) observe(o Outcome) {
	if w.o.OnOutcome != nil {
		w.o.OnOutcome(o)
	}
}

// post makes one delivery attempt; nil for a 2xx answer.
func (w *Worker) post(id string, body []byte) error {
	select {
	case w.slots <- struct{}{}:
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
	defer func() { <-w.slots }()
	ctx, cancel := context.WithTimeout(w.ctx, AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.o.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	w.key.SetHeaders(req.Header, id, time.Now(), body)
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error repeats the URL, which may hold a token; keep the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return err
	}
	drain(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errors.New("the receiver answered " + strconv.Itoa(resp.StatusCode))
	}
	return nil
}

// drain reads a little of the answer so the connection can be reused, but
// never lets a receiver make us read without end.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
