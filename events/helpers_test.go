package events

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/internal/stdwebhook"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// fixture is a real Redis and the keys of one environment in it.
type fixture struct {
	client redis.UniversalClient
	keys   Keys
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Protocol: 2})
	t.Cleanup(func() { c.Close() })
	return &fixture{client: c, keys: NewKeys("authedge", "env-1")}
}

// add appends an event in the shape the store's scripts write (the entry
// holds one field, event, whose JSON has no id: the entry's ID is it) and
// returns its entry ID. seq is carried in changes.nickname.new.
func (f *fixture) add(t testing.TB, user string, seq int) string {
	t.Helper()
	ev := fmt.Sprintf(`{"type":"user.updated","user_id":%q,"actor":%q,`+
		`"changes":{"nickname":{"old":"n%d","new":"n%d"}},"client_id":"web","device_id":"d1","ip":"203.0.113.9","at":%q}`,
		user, user, seq-1, seq, time.Now().UTC().Format(time.RFC3339))
	id, err := f.client.XAdd(t.Context(), &redis.XAddArgs{Stream: f.keys.Stream, Values: []string{"event", ev}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// worker starts a worker on f for url with short timings; it stops when
// the test ends.
func (f *fixture) worker(t testing.TB, url string, edit func(*Options)) *Worker {
	t.Helper()
	o := Options{
		Client: f.client, Keys: f.keys, URL: url, Secret: testSecret,
		RetryFor: time.Minute, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		ClaimIdle: time.Second,
	}
	if edit != nil {
		edit(&o)
	}
	w, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	t.Cleanup(w.Stop)
	select {
	case <-w.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("worker did not join the group")
	}
	return w
}

// delivery is one request the receiver accepted.
type delivery struct {
	id, user string
	seq      int
	// path is the request's URL path: tests give each worker its own.
	path   string
	body   []byte
	header http.Header
}

// receiver is a real HTTP server that verifies each request's signature
// and records what it accepts; fail decides, per request, to answer 503.
type receiver struct {
	t    testing.TB
	srv  *httptest.Server
	key  stdwebhook.Key
	fail func() bool

	mu   sync.Mutex
	got  []delivery
	bad  int
	seen map[string]bool
}

func newReceiver(t testing.TB, fail func() bool) *receiver {
	key, err := stdwebhook.ParseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, key: key, fail: fail, seen: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if r.fail != nil && r.fail() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var ev struct {
		ID      string `json:"id"`
		UserID  string `json:"user_id"`
		Changes struct {
			Nickname struct{ New string } `json:"nickname"`
		} `json:"changes"`
	}
	err := r.key.Verify(req.Header, body, time.Now())
	if err == nil {
		err = json.Unmarshal(body, &ev)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || ev.ID != req.Header.Get("webhook-id") || req.Method != http.MethodPost {
		r.bad++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var seq int
	fmt.Sscanf(ev.Changes.Nickname.New, "n%d", &seq)
	r.got = append(r.got, delivery{id: ev.ID, user: ev.UserID, seq: seq, path: req.URL.Path, body: body, header: req.Header.Clone()})
	r.seen[ev.ID] = true
}

func (r *receiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// waitFor waits until the receiver has seen n distinct events.
func (r *receiver) waitFor(n int, within time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for r.distinct() < n {
		if time.Now().After(deadline) {
			r.t.Fatalf("the receiver has %d distinct events, want %d", r.distinct(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkOrder checks at-least-once and per-user order: every event in ids
// arrived, and per user, the first arrivals come in stream order (seq
// rising); a repeat carries a webhook-id seen before and the same body.
func (r *receiver) checkOrder(ids []string) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bad > 0 {
		r.t.Errorf("%d requests failed verification", r.bad)
	}
	for _, id := range ids {
		if !r.seen[id] {
			r.t.Errorf("event %s never arrived", id)
		}
	}
	first := map[string][]byte{}
	lastSeq := map[string]int{}
	for _, d := range r.got {
		if b, dup := first[d.id]; dup {
			if string(b) != string(d.body) {
				r.t.Errorf("event %s arrived twice with different bodies", d.id)
			}
			continue
		}
		first[d.id] = d.body
		if prev, ok := lastSeq[d.user]; ok && d.seq != prev+1 {
			r.t.Errorf("user %s: event seq %d arrived after %d", d.user, d.seq, prev)
		}
		lastSeq[d.user] = d.seq
	}
}

func (r *receiver) deliveries() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}
