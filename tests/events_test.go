package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/internal/stdwebhook"
)

// The change-event webhook end to end (docs/events.md): real Caddy
// processes sharing one Redis deliver to a real receiver. The events are
// appended here in the shape the store's scripts write them.

const (
	eventsSecretVar = "AUTHEDGE_E2E_EVENTS_SECRET"
	eventsSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	eventsStream    = "authedge:{" + testEnv + "}:events"
	eventsDead      = eventsStream + ":dead"
)

// eventDelivery is one request the receiver accepted.
type eventDelivery struct {
	id, user string
	seq      int
	body     string
	header   http.Header
}

// eventReceiver verifies every request's signature and records it;
// while down it answers 503, and it takes delay to answer.
type eventReceiver struct {
	t     *testing.T
	URL   string
	key   stdwebhook.Key
	delay time.Duration
	down  atomic.Bool

	mu   sync.Mutex
	got  []eventDelivery
	bad  []string
	seen map[string]bool
}

func newEventReceiver(t *testing.T, delay time.Duration) *eventReceiver {
	key, err := stdwebhook.ParseSecret(eventsSecret)
	if err != nil {
		t.Fatal(err)
	}
	r := &eventReceiver{t: t, key: key, delay: delay, seen: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/hooks/authedge"
	return r
}

func (r *eventReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	time.Sleep(r.delay)
	if r.down.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var ev struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		UserID  string `json:"user_id"`
		Changes map[string]struct {
			Old, New *string
		} `json:"changes"`
	}
	err := r.key.Verify(req.Header, body, time.Now())
	if err == nil {
		err = json.Unmarshal(body, &ev)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || ev.ID != req.Header.Get("webhook-id") || ev.Type != "user.updated" || req.URL.Path != "/hooks/authedge" {
		r.bad = append(r.bad, fmt.Sprintf("%v: %s", err, body))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var seq int
	if nick := ev.Changes["nickname"].New; nick != nil {
		fmt.Sscanf(*nick, "n%d", &seq)
	}
	r.got = append(r.got, eventDelivery{id: ev.ID, user: ev.UserID, seq: seq, body: string(body), header: req.Header.Clone()})
	r.seen[ev.ID] = true
}

func (r *eventReceiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *eventReceiver) waitFor(n int, within time.Duration) {
	r.t.Helper()
	for deadline := time.Now().Add(within); r.distinct() < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatalf("the receiver has %d distinct events after %s, want %d", r.distinct(), within, n)
		}
	}
}

// check: nothing failed verification, every ID arrived, per user the
// first arrivals come in stream order, and a repeat is the same request
// body under the same webhook-id. It returns how many repeats came.
func (r *eventReceiver) check(ids []string) int {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.bad {
		r.t.Errorf("refused: %s", b)
	}
	for _, id := range ids {
		if !r.seen[id] {
			r.t.Errorf("event %s never arrived", id)
		}
	}
	first := map[string]string{}
	last := map[string]int{}
	repeats := 0
	for _, d := range r.got {
		if b, ok := first[d.id]; ok {
			repeats++
			if b != d.body {
				r.t.Errorf("event %s arrived twice with different bodies", d.id)
			}
			continue
		}
		first[d.id] = d.body
		if d.seq != last[d.user]+1 {
			r.t.Errorf("user %s: event %d arrived after %d", d.user, d.seq, last[d.user])
		}
		last[d.user] = d.seq
	}
	return repeats
}

// appendEvent writes an event the way the store's scripts do: one field,
// event, whose JSON has no id (the entry's ID is its id).
func appendEvent(t *testing.T, rdb *redis.Client, user string, seq int) string {
	t.Helper()
	ev := fmt.Sprintf(`{"type":"user.updated","user_id":%q,"actor":%q,"changes":{"nickname":{"old":"n%d","new":"n%d"}},`+
		`"client_id":"e2e-web","device_id":null,"ip":"198.51.100.7","at":%q}`,
		user, user, seq-1, seq, time.Now().UTC().Format(time.RFC3339))
	id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: eventsStream, MaxLen: 1000000, Approx: true,
		Values: []string{"event", ev}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// startEventsCaddy runs a Caddy whose authedge delivers events to url.
func startEventsCaddy(t *testing.T, redisAddr, url, extra string) *caddyProc {
	t.Helper()
	t.Setenv(eventsSecretVar, eventsSecret)
	dir := t.TempDir()
	rsa, _, _ := testKeys(t)
	return startCaddy(t, "\t"+minimalAuthedge(writePublicPEM(t, dir, "rsa.pem", rsa), redisAddr,
		fmt.Sprintf("\t\tevents {\n\t\t\twebhook %s {env.%s}\n%s\n\t\t}", url, eventsSecretVar, extra))+
		"\n\trespond \"app\" 200")
}

// waitJoined waits until n instances are consumers of the group.
func waitJoined(t *testing.T, rdb *redis.Client, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info, err := rdb.XInfoConsumers(context.Background(), eventsStream, "authedge-webhook").Result()
		if err == nil && len(info) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d consumers (%v), want %d", len(info), err, n)
		}
	}
}

// Two Caddy instances deliver one stream; one is killed with SIGKILL while
// the receiver is slow and it holds events. Every event reaches the
// receiver at least once, in order per user; repeats carry the same
// webhook-id and body. The survivor takes the dead one's events after the
// claim idle time (30 s).
func TestEventsSurviveAKilledInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 30 s claim")
	}
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	r := newEventReceiver(t, 100*time.Millisecond)
	a := startEventsCaddy(t, srv.Addr, r.URL, "")
	b := startEventsCaddy(t, srv.Addr, r.URL, "")
	waitJoined(t, rdb, 2)

	const users, perUser = 20, 15
	var ids []string
	for seq := 1; seq <= perUser; seq++ {
		for u := range users {
			ids = append(ids, appendEvent(t, rdb, fmt.Sprintf("user-%d", u), seq))
		}
	}
	// Kill as soon as both hold events: with 100 ms per delivery and 15
	// per user, delivery takes 1.5 s at best. Polled, not a fixed wait: a
	// slow machine may take longer to hand both instances some.
	var byConsumer map[string]int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		held, err := rdb.XPendingExt(context.Background(), &redis.XPendingExtArgs{Stream: eventsStream, Group: "authedge-webhook",
			Start: "-", End: "+", Count: 10000}).Result()
		if err != nil {
			t.Fatal(err)
		}
		byConsumer = map[string]int{}
		for _, p := range held {
			byConsumer[p.Consumer]++
		}
		if len(byConsumer) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pending events by consumer: %v; want both instances holding some", byConsumer)
		}
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	t.Logf("killed one instance; pending by consumer: %v; delivered so far: %d", byConsumer, r.distinct())
	if r.distinct() == len(ids) {
		t.Fatal("everything was delivered before the kill: the test proves nothing")
	}

	r.waitFor(len(ids), 90*time.Second)
	repeats := r.check(ids)
	t.Logf("%d events, %d delivered twice", len(ids), repeats)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		p, err := rdb.XPending(context.Background(), eventsStream, "authedge-webhook").Result()
		if err == nil && p.Count == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events still pending: %+v %v", p, err)
		}
	}
	if n, _ := rdb.HLen(context.Background(), eventsStream+":inflight").Result(); n != 0 {
		t.Errorf("the in-flight hash keeps %d fields", n)
	}
	_ = b

	// A Node receiver verifies them with the Standard Webhooks library.
	r.mu.Lock()
	sample := r.got[:5]
	r.mu.Unlock()
	verifyWithNode(t, sample)
}

// verifyWithNode runs tests/webhookjs/verify.mjs, the standardwebhooks npm
// library, on deliveries as received: each must verify, and each must fail
// once its body is changed.
func verifyWithNode(t *testing.T, ds []eventDelivery) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH")
	}
	dir := filepath.Join(repoRoot, "tests", "webhookjs")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks")); err != nil {
		t.Fatalf("standardwebhooks is not installed: run `npm ci` in tests/webhookjs: %v", err)
	}
	type jsCase struct {
		Secret  string            `json:"secret"`
		Raw     bool              `json:"raw"`
		Body    string            `json:"body"`
		Headers map[string]string `json:"headers"`
	}
	var in []jsCase
	for _, d := range ds {
		h := map[string]string{}
		for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
			h[k] = d.header.Get(k)
		}
		in = append(in, jsCase{eventsSecret, false, d.body, h}, jsCase{eventsSecret, false, strings.Replace(d.body, `"n`, `"m`, 1), h})
	}
	stdin, _ := json.Marshal(in)
	cmd := exec.Command(node, "verify.mjs")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("verify.mjs: %v", err)
	}
	var got []struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(in) {
		t.Fatalf("verify.mjs answered %s (%v)", out, err)
	}
	for i := range got {
		if want := i%2 == 0; got[i].OK != want {
			t.Errorf("case %d: standardwebhooks says ok=%v (%s), want %v", i, got[i].OK, got[i].Error, want)
		}
	}
}

// With a short retry_for and the receiver down, events are dead-lettered;
// `caddy authedge events redeliver` sends them again once it is back,
// under their first webhook-id, and `events tail` prints the stream.
func TestEventsDeadLettersAndCommands(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	r := newEventReceiver(t, 0)
	r.down.Store(true)
	c := startEventsCaddy(t, srv.Addr, r.URL, "\t\t\tretry_for 500ms")
	waitJoined(t, rdb, 1)

	var ids []string
	for seq := 1; seq <= 3; seq++ {
		for _, u := range []string{"ann", "bob"} {
			ids = append(ids, appendEvent(t, rdb, u, seq))
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if n, _ := rdb.LLen(context.Background(), eventsDead).Result(); n == int64(len(ids)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead letters: %d, want %d", rdb.LLen(context.Background(), eventsDead).Val(), len(ids))
		}
	}
	if r.distinct() != 0 {
		t.Fatal("delivered while down")
	}

	r.down.Store(false)
	out, code := runCaddy(t, nil, "authedge", "events", "redeliver", "--config", c.File, "--adapter", "caddyfile")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("moved %d dead-lettered events", len(ids))) {
		t.Fatalf("redeliver: exit %d\n%s", code, out)
	}
	r.waitFor(len(ids), 20*time.Second)
	r.check(ids) // the stream's first IDs: the webhook-ids did not change
	if n := rdb.LLen(context.Background(), eventsDead).Val(); n != 0 {
		t.Errorf("%d dead letters left", n)
	}

	// tail --from 0 prints every entry, the redelivered ones with their
	// first id, and follows until stopped.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	tail := exec.CommandContext(ctx, caddyBin, "authedge", "events", "tail", "--from", "0", "--config", c.File, "--adapter", "caddyfile")
	tail.Env = caddyEnv(t.TempDir())
	redistest.DieWithTest(tail, syscall.SIGKILL)
	var stdout lockedBuffer
	tail.Stdout = &stdout
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Second); strings.Count(stdout.String(), "\n") < 2*len(ids); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			break
		}
	}
	tail.Process.Signal(os.Interrupt)
	tail.Wait()
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2*len(ids) {
		t.Fatalf("tail printed %d lines, want %d:\n%s", len(lines), 2*len(ids), stdout.String())
	}
	// The originals in stream order, then the dead letters in the order
	// they died: per user in order, users interleaved as it happened.
	printed := map[string]int{}
	for i, line := range lines {
		var ev struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %d is not JSON: %s", i, line)
		}
		if i < len(ids) && ev.ID != ids[i] {
			t.Errorf("line %d: id %q, want %q", i, ev.ID, ids[i])
		}
		printed[ev.ID]++
	}
	for _, id := range ids {
		if printed[id] != 2 {
			t.Errorf("event %s printed %d times, want 2 (sent, then redelivered)", id, printed[id])
		}
	}
	out, code = runCaddy(t, nil, "authedge", "events", "tail", "--from", "yesterday", "--config", c.File, "--adapter", "caddyfile")
	if code == 0 || !strings.Contains(out, "is not a stream ID") {
		t.Errorf("tail --from yesterday: exit %d\n%s", code, out)
	}
}
