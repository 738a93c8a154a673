package store

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkEdit: a nickname and username change of a different user each
// time (creating them on the first round): the read of the current username
// and one script.
func BenchmarkEdit(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		user := fmt.Sprint("bench", i%10000)
		_, err := f.Edit(ctx, Edit{Actor: user, Target: user, CreateIfMissing: true,
			RateLimit: Limit{Count: 1 << 30, Window: time.Minute},
			Changes:   Changes{Nickname: ptr("Nick " + user), Username: ptr(fmt.Sprint("name", i))}})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEditParallel is bench/run.sh's scenario 3 without HTTP: from
// many goroutines, each edit a first nickname and username of a new user,
// rate-limited. It reports the CPU Redis spent per edit (redis-µs/op),
// which concurrent edits sharing pipelines bring down. Its sub-benchmarks
// run the same edits unrecorded (as before histories and events), with a
// history entry, and with a history entry and an event, so that one run
// compares them on one machine's load.
func BenchmarkEditParallel(b *testing.B) {
	b.Run("unrecorded", func(b *testing.B) { benchmarkEditParallel(b, nil, EventStream{}) })
	b.Run("history", func(b *testing.B) { benchmarkEditParallel(b, testOrigin("bench-device"), EventStream{}) })
	b.Run("history+events", func(b *testing.B) {
		benchmarkEditParallel(b, testOrigin("bench-device"), EventStream{MaxLen: 1000000})
	})
	// 200 users edited over and over (the username moving each time, so
	// most edits run their script twice): past the first 10,000 edits
	// every history is full, and each edit rewrites one of 50 entries.
	b.Run("unrecorded-full", func(b *testing.B) { benchmarkEditParallel(b, nil, EventStream{}, 200) })
	b.Run("history+events-full", func(b *testing.B) {
		benchmarkEditParallel(b, testOrigin("bench-device"), EventStream{MaxLen: 1000000}, 200)
	})
}

// benchmarkEditParallel edits a new user each time, or with users given,
// that many users in turn.
func benchmarkEditParallel(b *testing.B, origin *Origin, events EventStream, users ...int64) {
	f := newFixture(b)
	ctx := context.Background()
	var n atomic.Int64
	batches, sent := f.batch.batches.Load(), f.batch.sent.Load()
	cpuBefore := redisCPUSeconds(b, f)
	scriptBefore := scriptMicros(b, f)
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			u := i
			if len(users) > 0 {
				u = i % users[0]
			}
			user := fmt.Sprintf("bench-user-%09d", u)
			_, err := f.Edit(ctx, Edit{Actor: user, Target: user, CreateIfMissing: true,
				RateLimit: Limit{Count: 1 << 30, Window: time.Minute},
				Changes:   Changes{Nickname: ptr("Nick " + user), Username: ptr(fmt.Sprint("name", i))},
				Origin:    origin, Events: events})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric((redisCPUSeconds(b, f)-cpuBefore)*1e6/float64(b.N), "redis-µs/op")
	b.ReportMetric((scriptMicros(b, f)-scriptBefore)/float64(b.N), "script-µs/op")
	b.ReportMetric(float64(f.batch.sent.Load()-sent)/float64(max(1, f.batch.batches.Load()-batches)), "cmds/batch")
	// AUTHEDGE_BENCH_COMMANDSTATS=1 prints what Redis spent per command,
	// the script's own calls included: where a script's time goes.
	if os.Getenv("AUTHEDGE_BENCH_COMMANDSTATS") != "" {
		info, _ := f.raw.Info(context.Background(), "commandstats").Result()
		if b.N > 1 {
			fmt.Fprintln(os.Stderr, info)
		}
	}
}

// scriptMicros is the time Redis has spent running scripts (EVALSHA and
// EVAL, their own calls included), in µs, as INFO commandstats counts it:
// the script's cost without the network's, which redis-µs/op adds.
func scriptMicros(b *testing.B, f *fixture) float64 {
	return infoSum(b, f, "commandstats", "cmdstat_evalsha.usec", "cmdstat_eval.usec")
}

// redisCPUSeconds is the CPU time the fixture's redis-server has used.
func redisCPUSeconds(b *testing.B, f *fixture) float64 {
	return infoSum(b, f, "cpu", "used_cpu_sys", "used_cpu_user")
}

// infoSum adds up numbers of one INFO section. Each of fields names a
// line ("used_cpu_sys"), or a line and one of the values it lists
// ("cmdstat_evalsha.usec" for usec= in "cmdstat_evalsha:calls=3,usec=9").
func infoSum(b *testing.B, f *fixture, section string, fields ...string) float64 {
	info, err := f.raw.Info(context.Background(), section).Result()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(info, "\r\n") {
		name, value, _ := strings.Cut(line, ":")
		for _, field := range fields {
			line, inner, listed := strings.Cut(field, ".")
			if line != name {
				continue
			}
			v := value
			if listed {
				v = ""
				for _, kv := range strings.Split(value, ",") {
					if x, ok := strings.CutPrefix(kv, inner+"="); ok {
						v = x
					}
				}
			}
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("INFO %s %s: %v", section, field, err)
			}
			sum += n
		}
	}
	return sum
}

// BenchmarkEnsureProfileExisting: GET /me of a user who has a profile, one
// HGETALL.
func BenchmarkEnsureProfileExisting(b *testing.B) {
	f := newFixture(b)
	f.set(b, "u1", Changes{Nickname: ptr("Nick"), Username: ptr("user"), Phone: ptr("+86 13000000000"),
		Email: ptr("user@example.com"), AvatarURL: ptr("https://cdn.example.com/a/1.png"), Gender: ptr("MALE"),
		Description: ptr("Hello.")})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := f.EnsureProfile(ctx, "u1"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMemoryPerUser measures Redis's used_memory per user with every
// profile field set and its three index entries. It runs only with
// AUTHEDGE_MEMBENCH=<users>, such as 100000 (about half a minute) or
// 1000000.
func TestMemoryPerUser(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("AUTHEDGE_MEMBENCH"))
	if n <= 0 {
		t.Skip("set AUTHEDGE_MEMBENCH=<users> to measure memory per user")
	}
	f := newFixture(t, func(o *Options) { o.Timeout = 10 * time.Second })
	ctx := context.Background()
	before := usedMemory(t, f)

	const workers = 16
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				// The profiles of bench/memload, which measures P4.
				user := fmt.Sprintf("bench-user-%09d", i)
				_, err := f.Edit(ctx, Edit{Actor: user, Target: user, CreateIfMissing: true, SudoSatisfied: true,
					Changes: Changes{
						Nickname:    ptr(fmt.Sprintf("Bench User %07d", i)),
						Username:    ptr(fmt.Sprintf("bench_user_%07d", i)),
						Phone:       ptr(fmt.Sprintf("+86 139%08d", i)),
						Email:       ptr(fmt.Sprintf("bench.user.%07d@example.com", i)),
						AvatarURL:   ptr(fmt.Sprintf("https://cdn.example.com/avatars/%07d.png", i)),
						Gender:      ptr([]string{"MALE", "FEMALE"}[i%2]),
						Description: ptr(fmt.Sprintf("Profile %07d, loaded by bench/memload.", i)),
					}})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	after := usedMemory(t, f)
	perUser := float64(after-before) / float64(n)
	hashtables := 0
	for _, field := range []string{fieldUsername, fieldPhone, fieldEmail} {
		for b := range uint32(indexBuckets) {
			if enc, _ := f.raw.ObjectEncoding(ctx, f.keys.indexBucket(field, b)).Result(); enc == "hashtable" {
				hashtables++
			}
		}
	}
	t.Logf("%d users: used_memory %d → %d bytes: %.0f bytes/user (%d of %d index buckets hashtable-encoded)",
		n, before, after, perUser, hashtables, 3*indexBuckets)
	if n >= 1_000_000 && perUser > 450 {
		t.Errorf("%.0f bytes/user at %d users, budget 450", perUser, n)
	}
}

func usedMemory(t testing.TB, f *fixture) int64 {
	t.Helper()
	info, err := f.raw.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no used_memory in INFO")
	return 0
}

// TestMemoryPerHistory measures what histories add to Redis's used_memory:
// per user with one entry (a user who changed their profile once) and
// with a full history of historyKeep entries, each with a browser's user
// agent, an IPv4 address and a device ID. It runs only with
// AUTHEDGE_MEMBENCH_HISTORY=<users>, such as 20000.
func TestMemoryPerHistory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("AUTHEDGE_MEMBENCH_HISTORY"))
	if n <= 0 {
		t.Skip("set AUTHEDGE_MEMBENCH_HISTORY=<users> to measure memory per history")
	}
	f := newFixture(t, func(o *Options) { o.Timeout = 10 * time.Second })
	ctx := context.Background()
	origin := &Origin{ClientID: testEnv, DeviceID: "3f9c1a7e-58b2-4d0e-9a61-2c7d8e4b1f05", IP: "203.0.113.74",
		UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"}
	edits := func(users, perUser int, prefix string) {
		var wg sync.WaitGroup
		var next atomic.Int64
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= users*perUser {
						return
					}
					user := fmt.Sprintf("%s-%09d", prefix, i%users)
					_, err := f.Edit(ctx, Edit{Actor: user, Target: user, CreateIfMissing: true, SudoSatisfied: true,
						Changes: Changes{Nickname: ptr(fmt.Sprintf("Nick %07d", i))}, Origin: origin})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	// Profiles first, unrecorded, so that only the histories are measured.
	for _, prefix := range []string{"one", "full"} {
		for i := range n {
			f.set(t, fmt.Sprintf("%s-%09d", prefix, i), Changes{Nickname: ptr("x")})
		}
	}
	before := usedMemory(t, f)
	edits(n, 1, "one")
	one := float64(usedMemory(t, f)-before) / float64(n)
	before = usedMemory(t, f)
	edits(n/10, historyKeep, "full")
	full := float64(usedMemory(t, f)-before) / float64(n/10)
	t.Logf("history: %.0f bytes/user with one entry (%d users), %.0f bytes/user with %d entries (%d users)",
		one, n, full, historyKeep, n/10)
}
