package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Concurrent readers share pipelines; each must still get its own answer.
func TestBatchedReadsAnswerEachReader(t *testing.T) {
	s := newFixture(t).Store
	ctx := context.Background()
	const users = 40
	for i := range users {
		name := fmt.Sprintf("batch-user-%02d", i)
		if _, err := s.Edit(ctx, Edit{Actor: name, Target: name, CreateIfMissing: true,
			Changes: Changes{Nickname: ptr("nick " + name)}}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("batch-user-%02d", i%(users+10)) // ten never exist
			p, ok, err := s.Profile(ctx, name)
			switch {
			case err != nil:
				errs <- err
			case i%(users+10) >= users && ok:
				errs <- fmt.Errorf("%s: found a profile that does not exist", name)
			case i%(users+10) < users && (!ok || p.UserID != name || p.Nickname != "nick "+name):
				errs <- fmt.Errorf("%s: got %+v (ok %v)", name, p, ok)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Edits (scripts) and reads share pipelines: each caller still gets its own
// answer, also when Redis has lost its scripts and every EVALSHA in a
// pipeline comes back NOSCRIPT.
func TestBatchedScriptsAndReadsAfterScriptFlush(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	// Load edit.lua (and make a profile to read), then have Redis forget it.
	f.set(t, "warm", Changes{Nickname: ptr("warm")})
	if err := f.raw.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	const users = 100
	var wg sync.WaitGroup
	errs := make(chan error, 2*users)
	for i := range users {
		name := fmt.Sprintf("mixed-%03d", i)
		wg.Add(2)
		go func() {
			defer wg.Done()
			res, err := f.Edit(ctx, Edit{Actor: name, Target: name, CreateIfMissing: true,
				Changes: Changes{Nickname: ptr("nick " + name), Username: ptr("name_" + name[6:])}})
			if err != nil || !res.Created {
				errs <- fmt.Errorf("edit %s: %+v, %v", name, res, err)
			}
		}()
		go func() {
			defer wg.Done()
			p, ok, err := f.Profile(ctx, "warm")
			if err != nil || !ok || p.UserID != "warm" {
				errs <- fmt.Errorf("read beside edit %s: %+v %v %v", name, p, ok, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range users {
		name := fmt.Sprintf("mixed-%03d", i)
		p, ok, err := f.Profile(ctx, name)
		if err != nil || !ok || p.Nickname != "nick "+name || p.Username != "name_"+name[6:] {
			t.Errorf("%s after the edits: %+v %v %v", name, p, ok, err)
		}
	}
}

// A command whose caller left while it queued is never sent.
func TestBatcherDropsCommandsOfCallersThatLeft(t *testing.T) {
	f := newFixture(t)
	b := newBatcher(f.client, f.timeout)
	defer b.close()
	left, cancel := context.WithCancel(context.Background())
	cancel()
	gone := redis.NewStatusCmd(left, "set", "left-behind", "1")
	waiting := redis.NewStatusCmd(ctxT(t), "set", "still-waiting", "1")
	b.flush([]*batchRequest{newRequest(left, gone), newRequest(ctxT(t), waiting)})
	if !errors.Is(gone.Err(), context.Canceled) {
		t.Errorf("the command of a caller that left: %v, want context.Canceled", gone.Err())
	}
	if err := waiting.Err(); err != nil {
		t.Errorf("the command of a caller still waiting: %v", err)
	}
	if n, err := f.raw.Exists(ctxT(t), "left-behind", "still-waiting").Result(); err != nil || n != 1 {
		t.Errorf("keys written: %d (%v), want only the waiting caller's", n, err)
	}
}

func TestBatcherAfterCloseFails(t *testing.T) {
	s := newFixture(t).Store
	b := newBatcher(s.client, s.timeout)
	b.close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := b.get(ctx, "any"); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("get after close: %v, want redis.ErrClosed", err)
	}
}

// BenchmarkProfileParallel is the /me read under concurrency, through the
// batcher; BenchmarkProfileParallelUnbatched is the same read sent alone.
func BenchmarkProfileParallel(b *testing.B) {
	benchmarkProfileParallel(b, func(s *Store, ctx context.Context, key string) error {
		_, err := s.batch.get(ctx, key)
		return err
	})
}

func BenchmarkProfileParallelUnbatched(b *testing.B) {
	benchmarkProfileParallel(b, func(s *Store, ctx context.Context, key string) error {
		return s.client.Get(ctx, key).Err()
	})
}

func benchmarkProfileParallel(b *testing.B, get func(*Store, context.Context, string) error) {
	s := newFixture(b).Store
	ctx := context.Background()
	if _, err := s.EnsureProfile(ctx, "bench-reader"); err != nil {
		b.Fatal(err)
	}
	key := s.keys.profile("bench-reader")
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := get(s, ctx, key); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkMeParallel is bench/run.sh's scenario 4 without HTTP: the
// store's side of GET /me (EnsureProfile of one existing user) from 64
// goroutines, each call under a request's own cancellable context as
// net/http gives one. The figures to compare are CPU per call, not ns/op,
// which the shared machine makes noisy: cpu-µs/op is this process's CPU
// (user + system, from getrusage), redis-µs/op the Redis server's, and
// cmds/batch how many commands one pipeline carried on average. "busy"
// burns a fixed ~40 µs of CPU per call besides, standing in for the HTTP
// work a Caddy request does between its Redis reads, which decides how
// many reads queue together: its cpu-µs/op includes that constant.
func BenchmarkMeParallel(b *testing.B) {
	b.Run("bare", func(b *testing.B) { benchmarkMeParallel(b, 0) })
	b.Run("busy", func(b *testing.B) { benchmarkMeParallel(b, busyRounds) })
}

// busyRounds of busyWork take about 40 µs of CPU on the machines this ran
// on: about what a Caddy request spends besides the store's part in
// scenario 4.
const busyRounds = 500

func benchmarkMeParallel(b *testing.B, busy int) {
	f := newFixture(b)
	// The request context's shape: values on a cancellable connection
	// context, each request cancellable on its own.
	type key int
	base, stop := context.WithCancel(context.Background())
	defer stop()
	for i := range 8 {
		base = context.WithValue(base, key(i), i)
	}
	if _, err := f.EnsureProfile(base, "bench-reader"); err != nil {
		b.Fatal(err)
	}
	batches, sent := f.lagging.batches.Load(), f.lagging.sent.Load()
	redisBefore := redisCPUSeconds(b, f)
	cpuBefore := processCPUSeconds(b)
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var sink [32]byte
		for pb.Next() {
			sink = busyWork(sink, busy)
			ctx, cancel := context.WithCancel(base)
			_, err := f.EnsureProfile(ctx, "bench-reader")
			cancel()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric((processCPUSeconds(b)-cpuBefore)*1e6/n, "cpu-µs/op")
	b.ReportMetric((redisCPUSeconds(b, f)-redisBefore)*1e6/n, "redis-µs/op")
	b.ReportMetric(float64(f.lagging.sent.Load()-sent)/float64(max(1, f.lagging.batches.Load()-batches)), "cmds/batch")
}

// busyWork hashes sum rounds times: CPU work of a fixed amount.
func busyWork(sum [32]byte, rounds int) [32]byte {
	for range rounds {
		sum = sha256.Sum256(sum[:])
	}
	return sum
}

// processCPUSeconds is the CPU time this process has used, user and
// system.
func processCPUSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// holdTurn takes b's turn, as a pipeline in flight would, until the
// returned function gives it back.
func holdTurn(t *testing.T, b *batcher) (release func()) {
	t.Helper()
	select {
	case <-b.turn:
	case <-time.After(5 * time.Second):
		t.Fatal("the turn was never free")
	}
	var once sync.Once
	release = func() { once.Do(func() { b.turn <- struct{}{} }) }
	t.Cleanup(release)
	return release
}

// While a pipeline is in flight, the commands that arrive wait, and go
// together in one pipeline when it lands.
func TestBatcherSendsOnePipelineAtATime(t *testing.T) {
	f := newFixture(t)
	b := newBatcher(f.client, f.timeout)
	defer b.close()
	release := holdTurn(t, b)
	const n = 10
	answered := make(chan error, n)
	for i := range n {
		go func() {
			_, err := b.get(ctxT(t), fmt.Sprint("one-at-a-time-", i))
			answered <- err
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(b.queue) < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-answered:
		t.Fatalf("a command was answered while another pipeline was in flight: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	wantMisses(t, answered, n)
	// Up to two: the worker waiting for the turn holds the first command,
	// and the other may have taken one too.
	if batches := b.batches.Load(); batches > 2 || b.sent.Load() != n {
		t.Errorf("%d commands sent in %d pipelines, want %d in at most 2", b.sent.Load(), batches, n)
	}
}

// A full batch does not wait for the turn: under a load one pipeline per
// round trip cannot carry, a second one is in flight.
func TestBatcherSendsAFullBatchWithoutTheTurn(t *testing.T) {
	f := newFixture(t)
	b := newBatcher(f.client, f.timeout)
	defer b.close()
	holdTurn(t, b)
	const n = maxBatch + 1
	answered := make(chan error, n)
	for i := range n {
		go func() {
			_, err := b.get(ctxT(t), fmt.Sprint("full-", i))
			answered <- err
		}()
	}
	timeout := time.After(5 * time.Second)
	for range maxBatch {
		select {
		case err := <-answered:
			if !errors.Is(err, redis.Nil) {
				t.Errorf("GET of a missing key: %v, want redis.Nil", err)
			}
		case <-timeout:
			t.Fatalf("a full batch waited for the turn: %d commands sent", b.sent.Load())
		}
	}
}

// scriptCmd is a command the batcher treats as a write script, as Store.do
// sends one: ECHO, so that it needs no script loaded.
func scriptCmd(i int) *onceCmd {
	return &onceCmd{Cmd: redis.NewCmd(context.Background(), "echo", fmt.Sprint("script-", i))}
}

// wantNoQueuedScripts fails t unless b counts no write script queued, as
// it must once every script it was given has left its queue: a count
// left behind would send every later script without the turn.
func wantNoQueuedScripts(t *testing.T, b *batcher) {
	t.Helper()
	if n := b.queuedScripts.Load(); n != 0 {
		t.Errorf("%d write scripts counted as queued, want 0", n)
	}
}

// occupyWorkers gives each of b's workers a read to hold while it waits
// for the turn, so that the commands sent next stay in the queue. Their
// answers arrive on answered.
func occupyWorkers(t *testing.T, b *batcher, answered chan<- error) {
	t.Helper()
	started := make(chan struct{}, batchWorkers)
	for i := range batchWorkers {
		go func() {
			started <- struct{}{}
			_, err := b.get(ctxT(t), fmt.Sprint("held-", i))
			answered <- err
		}()
	}
	for range batchWorkers {
		<-started
	}
	// From there to a worker's hands is a channel send: no test machine
	// takes this long for it.
	time.Sleep(50 * time.Millisecond)
	if n := len(b.queue); n != 0 {
		t.Fatalf("%d reads still queued: the workers did not take them", n)
	}
}

// wantMisses takes n answers from answered, each a GET of a missing key.
func wantMisses(t *testing.T, answered <-chan error, n int) {
	t.Helper()
	for range n {
		if err := <-answered; !errors.Is(err, redis.Nil) {
			t.Errorf("GET of a missing key: %v, want redis.Nil", err)
		}
	}
}

// waitQueued waits until b's queue holds n commands.
func waitQueued(t *testing.T, b *batcher, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(b.queue) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d commands queued, want %d", len(b.queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Scripts do not wait for the turn once earlyScripts of them are queued:
// a pipeline of edit scripts keeps Redis busy long enough that waiting
// for it left the server's CPUs idle.
func TestBatcherSendsEarlyScriptsWithoutTheTurn(t *testing.T) {
	f := newFixture(t)
	b := newBatcher(f.client, f.timeout)
	defer b.close()
	release := holdTurn(t, b)
	reads := make(chan error, batchWorkers)
	occupyWorkers(t, b, reads)
	scripts := make(chan error, earlyScripts)
	for i := range earlyScripts - 1 {
		go func() { scripts <- b.process(ctxT(t), scriptCmd(i)) }()
	}
	waitQueued(t, b, earlyScripts-1)
	select {
	case err := <-scripts:
		t.Fatalf("a script went without the turn with %d queued: %v", earlyScripts-1, err)
	case <-time.After(50 * time.Millisecond):
	}
	go func() { scripts <- b.process(ctxT(t), scriptCmd(earlyScripts)) }()
	timeout := time.After(5 * time.Second)
	for range earlyScripts {
		select {
		case err := <-scripts:
			if err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatalf("%d scripts queued waited for the turn: %d commands sent", earlyScripts, b.sent.Load())
		}
	}
	release()
	wantMisses(t, reads, batchWorkers)
	wantNoQueuedScripts(t, b)
}

// Scripts whose callers gave up while they queued are counted out when a
// worker drops them, and those still queued when the batcher closes are
// counted out by close.
func TestBatcherCountsOutScriptsThatLeft(t *testing.T) {
	f := newFixture(t)
	b := newBatcher(f.client, f.timeout)
	release := holdTurn(t, b)
	reads := make(chan error, batchWorkers)
	occupyWorkers(t, b, reads)
	gaveUp := make(chan error, earlyScripts-1)
	for i := range earlyScripts - 1 {
		go func() { gaveUp <- b.processWithin(ctxT(t), 20*time.Millisecond, scriptCmd(i)) }()
	}
	for range earlyScripts - 1 {
		if err := <-gaveUp; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a script held past its timeout: %v, want context.DeadlineExceeded", err)
		}
	}
	release()
	wantMisses(t, reads, batchWorkers)
	if _, err := b.get(ctxT(t), "after"); !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	wantNoQueuedScripts(t, b)

	release = holdTurn(t, b)
	occupyWorkers(t, b, reads)
	closed := make(chan error, earlyScripts-1)
	for i := range earlyScripts - 1 {
		go func() { closed <- b.process(ctxT(t), scriptCmd(i)) }()
	}
	waitQueued(t, b, earlyScripts-1)
	b.close()
	for range earlyScripts - 1 {
		if err := <-closed; !errors.Is(err, redis.ErrClosed) {
			t.Errorf("a script queued at close: %v, want redis.ErrClosed", err)
		}
	}
	wantNoQueuedScripts(t, b)
	release()
}

// Reads, read-only scripts among them, do not count toward an early
// batch: under /me's load they would make pipelines of a few commands
// each.
func TestBatcherReadsWaitForTheTurn(t *testing.T) {
	f := newFixture(t)
	b := newBatcher(f.client, f.timeout)
	defer b.close()
	release := holdTurn(t, b)
	answered := make(chan error, 2*earlyScripts+batchWorkers)
	occupyWorkers(t, b, answered)
	for i := range 2 * earlyScripts {
		go func() {
			_, err := b.get(ctxT(t), fmt.Sprint("read-", i))
			answered <- err
		}()
	}
	readScripts := make(chan error, earlyScripts)
	for i := range earlyScripts {
		go func() {
			readOnly := scriptCmd(i)
			readOnly.noWait = true
			readScripts <- b.process(ctxT(t), readOnly)
		}()
	}
	waitQueued(t, b, 3*earlyScripts)
	select {
	case err := <-readScripts:
		t.Fatalf("a read-only script went without the turn: %v", err)
	default:
	}
	select {
	case err := <-answered:
		t.Fatalf("a read went without the turn: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	wantMisses(t, answered, 2*earlyScripts+batchWorkers)
	for range earlyScripts {
		if err := <-readScripts; err != nil {
			t.Error(err)
		}
	}
}

// A caller's own timeout (processWithin) ends its wait, and its command is
// then never sent: as for a caller whose context ended.
func TestBatcherDropsCommandsPastTheirTimeout(t *testing.T) {
	f := newFixture(t)
	b := newBatcher(f.client, f.timeout)
	defer b.close()
	release := holdTurn(t, b)
	set := redis.NewStatusCmd(ctxT(t), "set", "too-late", "1")
	start := time.Now()
	if err := b.processWithin(ctxT(t), 50*time.Millisecond, set); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a command held past its timeout: %v, want context.DeadlineExceeded", err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("the caller waited %v for a 50ms timeout", waited)
	}
	release()
	// The next command goes after it (one queue): once it is answered,
	// the late one was dropped or sent.
	if _, err := b.get(ctxT(t), "after"); !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	if n, err := f.raw.Exists(ctxT(t), "too-late").Result(); err != nil || n != 0 {
		t.Errorf("the command past its timeout was sent (%d keys, %v)", n, err)
	}
}

// A caller's timeout does not cut a command answered in time, and requests
// and timers are reused safely across callers (run with -race).
func TestBatcherWithinTimeoutAnswers(t *testing.T) {
	f := newFixture(t)
	b := newBatcher(f.client, f.timeout)
	defer b.close()
	if err := f.raw.Set(ctxT(t), "present", "value", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				v, err := b.getWithin(ctxT(t), 5*time.Second, "present")
				if err != nil || v != "value" {
					t.Errorf("got %q, %v", v, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// A pooled timer that fired without its tick being received serves the
// next caller with its full time, under either timer implementation
// (GODEBUG asynctimerchan=1 is the one that keeps stale ticks).
func TestPooledTimerHasNoStaleTick(t *testing.T) {
	for _, godebug := range []string{"asynctimerchan=0", "asynctimerchan=1"} {
		t.Run(godebug, func(t *testing.T) {
			t.Setenv("GODEBUG", godebug)
			testPooledTimerHasNoStaleTick(t)
		})
	}
}

func testPooledTimerHasNoStaleTick(t *testing.T) {
	timerPool = sync.Pool{} // no timer made under the other setting
	for range 3 {
		timer := startTimer(time.Millisecond)
		time.Sleep(5 * time.Millisecond) // fires; nobody receives
		stopTimer(timer)
		next := startTimer(time.Hour)
		select {
		case <-next.C:
			t.Fatal("a reused timer delivered a stale tick")
		case <-time.After(20 * time.Millisecond):
		}
		stopTimer(next)
	}
}

// BenchmarkProfile is Store.Profile of an existing user, one call at a
// time under a request's cancellable context: what a call allocates.
func BenchmarkProfile(b *testing.B) {
	f := newFixture(b)
	f.set(b, "reader", Changes{Nickname: ptr("Reader")})
	base, stop := context.WithCancel(context.Background())
	defer stop()
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithCancel(base)
		if _, ok, err := f.Profile(ctx, "reader"); err != nil || !ok {
			b.Fatal(ok, err)
		}
		cancel()
	}
}
