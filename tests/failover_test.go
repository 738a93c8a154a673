package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/store"
)

// TestClusterFailoverBlackBox is the measurement through Caddy: a
// Cluster of three masters with two replicas each, `wait 1`, 32 clients
// editing; the master holding the environment's slot is SIGKILLed. Edits
// must be answered 200 again within 5 s of the replica's promotion (they
// were not for 39 s before the fix), every edit answered 200 must be in
// the profile afterwards (or a later one), and Audit must find nothing
// orphaned.
func TestClusterFailoverBlackBox(t *testing.T) {
	needCaddy(t)
	c := redistest.StartClusterWith(t, redistest.ClusterConfig{Masters: 3, ReplicasPerMaster: 2, NodeTimeout: time.Second})
	f := &fixture{t: t, app: newEchoApp(t), keyDir: t.TempDir()}
	f.rsa, f.ec, _ = testKeys(t)
	site := fmt.Sprintf(`	authedge {
		environment_id %s
		jwt {
			issuer %s
			public_key %s
		}
		redis {
			address %s
			timeout 500ms
			wait 1 1s
		}
		rate_limit {
			edits 1000000 1s
		}
%s
	}
	reverse_proxy %s`,
		testEnv, testIssuer, writePublicPEM(t, f.keyDir, "ec.pem", f.ec),
		strings.Join(c.Addrs()[:3], " "), offPolicies, strings.TrimPrefix(f.app.URL, "http://"))
	f.caddy = startCaddy(t, site)
	master, replicas := c.MasterFor(t, c.Nodes[0], "authedge:{"+testEnv+"}:p:x")

	type writer struct {
		tok       string
		mu        sync.Mutex
		acked     []time.Time
		lastAcked int
		attempted int
		other     string // a status neither 200 nor 503
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	writers := make([]*writer, 32)
	for i := range writers {
		w := &writer{tok: f.token(fmt.Sprint("bb", i), nil)}
		writers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 1; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				w.mu.Lock()
				w.attempted = n
				w.mu.Unlock()
				status := post(f.caddy.URL+editPath, w.tok, fmt.Sprintf(`{"nickname":"n-%d"}`, n))
				w.mu.Lock()
				switch status {
				case http.StatusOK:
					w.acked = append(w.acked, time.Now())
					w.lastAcked = n
				case http.StatusServiceUnavailable, 0:
				default:
					w.other = fmt.Sprint(status)
				}
				w.mu.Unlock()
				if status != http.StatusOK {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(halt)
	ackedSince := func(since time.Time) int {
		n := 0
		for _, w := range writers {
			w.mu.Lock()
			if k := len(w.acked); k > 0 && w.acked[k-1].After(since) {
				n++
			}
			w.mu.Unlock()
		}
		return n
	}
	waitAll := func(since time.Time, within time.Duration) {
		t.Helper()
		for deadline := time.Now().Add(within); ackedSince(since) < len(writers); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d clients had an edit answered 200 within %v", ackedSince(since), len(writers), within)
			}
		}
	}
	waitAll(time.Now(), 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	killed := time.Now()
	master.Stop() // SIGKILL
	var promoted time.Time
	for deadline := time.Now().Add(15 * time.Second); promoted.IsZero(); time.Sleep(10 * time.Millisecond) {
		for _, r := range replicas {
			if role, err := redistest.Role(r.Addr); err == nil && role == "master" {
				promoted = time.Now()
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no replica promoted")
		}
	}
	waitAll(promoted, 5*time.Second)
	t.Logf("promoted %v after the kill; every client had an edit answered 200 %v after the promotion",
		promoted.Sub(killed).Round(time.Millisecond), time.Since(promoted).Round(time.Millisecond))
	halt()

	for i, w := range writers {
		if w.other != "" {
			t.Errorf("client %d got status %s", i, w.other)
		}
		me := f.do("GET", mePath, w.tok, "")
		var body struct {
			Name string `json:"name"`
		}
		if me.Status != http.StatusOK || json.Unmarshal(me.Body, &body) != nil {
			t.Fatalf("me of client %d: %s", i, me)
		}
		var n int
		if _, err := fmt.Sscanf(body.Name, "n-%d", &n); err != nil || n < w.lastAcked || n > w.attempted {
			t.Errorf("client %d: profile holds %q; edit %d was the last answered 200, %d the last sent", i, body.Name, w.lastAcked, w.attempted)
		}
	}
	s, err := store.New(store.Options{Addresses: c.Addrs(), EnvironmentID: testEnv, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if problems, err := s.Audit(ctx); err != nil || len(problems) != 0 {
		t.Fatalf("Audit = %v, %v", problems, err)
	}
}

// post sends an edit and returns its status, 0 when no answer came.
func post(url, token, body string) int {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
