package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/stdwebhook"
)

var testMessage = Message{
	VerificationID: "vid-123",
	Channel:        "sms",
	To:             "+86 13000000000",
	Code:           "042137",
	Usage:          "BIND_PHONE",
	ExpiresIn:      600,
}

// received is one request as the receiving service saw it.
type received struct {
	header http.Header
	body   []byte
}

// receiver is an httptest server that answers with the statuses in order
// (the last one repeating) and records every request.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	got      []received
	statuses []int
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	t.Helper()
	r := &receiver{statuses: statuses}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Clone(), body})
		i := min(len(r.got), len(r.statuses)) - 1
		status := r.statuses[i]
		r.mu.Unlock()
		if req.Method != http.MethodPost {
			status = http.StatusMethodNotAllowed
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func TestWebhookBodyAndSignature(t *testing.T) {
	r := newReceiver(t, http.StatusNoContent)
	secret := "hook-secret"
	if err := newWebhook(t, r.srv.URL, secret, nil, 5*time.Second).Send(context.Background(), testMessage); err != nil {
		t.Fatal(err)
	}
	reqs := r.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	got := reqs[0]
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}

	// The body is exactly docs/webhooks.md's object: these six keys, these
	// types.
	var fields map[string]any
	if err := json.Unmarshal(got.body, &fields); err != nil {
		t.Fatalf("body %q: %v", got.body, err)
	}
	want := map[string]any{
		"verification_id": "vid-123",
		"channel":         "sms",
		"to":              "+86 13000000000",
		"code":            "042137", // a string: leading zeros survive
		"usage":           "BIND_PHONE",
		"expires_in":      float64(600),
	}
	if len(fields) != len(want) {
		t.Errorf("body has keys %v, want exactly %v", fields, want)
	}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("body[%q] = %#v, want %#v", k, fields[k], v)
		}
	}

	// The receiver's check: Standard Webhooks over the raw body it received.
	key, err := stdwebhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := key.Verify(got.header, got.body, time.Now()); err != nil {
		t.Errorf("signature does not verify: %v (headers %v)", err, got.header)
	}
	if id := got.header.Get("webhook-id"); id != testMessage.VerificationID {
		t.Errorf("webhook-id = %q, want the verification ID", id)
	}
	if got.header.Get("X-Authedge-Signature") != "" {
		t.Error("the old X-Authedge-Signature header is still sent")
	}
}

func TestWebhookEmptyUsageIsSent(t *testing.T) {
	r := newReceiver(t, http.StatusOK)
	m := testMessage
	m.Usage = ""
	if err := newWebhook(t, r.srv.URL, "", nil, time.Second).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(r.requests()[0].body, &fields); err != nil {
		t.Fatal(err)
	}
	if v, ok := fields["usage"]; !ok || v != "" {
		t.Fatalf("usage = %#v (present %v), want \"\"", v, ok)
	}
}

func TestWebhookNoSecretNoSignature(t *testing.T) {
	r := newReceiver(t, http.StatusOK)
	if err := newWebhook(t, r.srv.URL, "", nil, time.Second).Send(context.Background(), testMessage); err != nil {
		t.Fatal(err)
	}
	h := r.requests()[0].header
	if v := h.Get("webhook-signature"); v != "" {
		t.Fatalf("unsigned webhook sent webhook-signature: %q", v)
	}
	if h.Get("webhook-id") != testMessage.VerificationID || h.Get("webhook-timestamp") == "" {
		t.Fatalf("unsigned webhook lacks webhook-id or webhook-timestamp: %v", h)
	}
}

func TestNewWebhookRefusesBadSecret(t *testing.T) {
	if _, err := NewWebhook("https://n.example/", "whsec_not base64!", nil, time.Second); err == nil {
		t.Fatal("a whsec_ secret that is not base64 was accepted")
	} else if strings.Contains(err.Error(), "not base64!") {
		t.Fatalf("error %q quotes the secret", err)
	}
}

func TestWebhookRetriesServerErrorThenSucceeds(t *testing.T) {
	r := newReceiver(t, http.StatusInternalServerError, http.StatusOK)
	if err := newWebhook(t, r.srv.URL, "s", nil, 5*time.Second).Send(context.Background(), testMessage); err != nil {
		t.Fatal(err)
	}
	reqs := r.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	// A retry is the same delivery: same body, same webhook-id, and a
	// signature of its own that verifies.
	if string(reqs[0].body) != string(reqs[1].body) ||
		reqs[0].header.Get("webhook-id") != reqs[1].header.Get("webhook-id") {
		t.Fatal("retry differs from the first attempt")
	}
	for _, req := range reqs {
		if err := stdwebhook.Key("s").Verify(req.header, req.body, time.Now()); err != nil {
			t.Fatalf("attempt does not verify: %v", err)
		}
	}
}

// assertSafeError checks a delivery error names neither the code, the
// contact nor the webhook URL's secret parts.
func assertSafeError(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("Send succeeded, want an error")
	}
	for _, s := range append([]string{testMessage.Code, testMessage.To, "13000000000"}, secrets...) {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error %q contains %q", err, s)
		}
	}
}

func TestWebhookGivesUpAfterRepeatedServerErrors(t *testing.T) {
	r := newReceiver(t, http.StatusBadGateway)
	err := newWebhook(t, r.srv.URL, "", nil, 5*time.Second).Send(context.Background(), testMessage)
	assertSafeError(t, err)
	if n := len(r.requests()); n != webhookAttempts {
		t.Fatalf("%d requests, want %d", n, webhookAttempts)
	}
}

func TestWebhookClientErrorFailsWithoutRetry(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusTooManyRequests} {
		r := newReceiver(t, status)
		err := newWebhook(t, r.srv.URL, "", nil, 5*time.Second).Send(context.Background(), testMessage)
		assertSafeError(t, err)
		if n := len(r.requests()); n != 1 {
			t.Fatalf("status %d: %d requests, want 1", status, n)
		}
	}
}

func TestWebhookDoesNotFollowRedirects(t *testing.T) {
	target := newReceiver(t, http.StatusOK)
	redirect := httptest.NewServer(http.RedirectHandler(target.srv.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	err := newWebhook(t, redirect.URL, "", nil, time.Second).Send(context.Background(), testMessage)
	assertSafeError(t, err)
	if n := len(target.requests()); n != 0 {
		t.Fatalf("redirect was followed: %d requests at the target", n)
	}
}

// hangingServer accepts requests and never answers until the test ends.
func hangingServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	release := make(chan struct{})
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: handlers return, Close does not block
	return srv, &hits
}

func TestWebhookTimeoutBoundsWholeDelivery(t *testing.T) {
	srv, _ := hangingServer(t)
	const timeout = 300 * time.Millisecond
	start := time.Now()
	err := newWebhook(t, srv.URL, "", nil, timeout).Send(context.Background(), testMessage)
	elapsed := time.Since(start)
	assertSafeError(t, err)
	if elapsed < timeout-50*time.Millisecond || elapsed > timeout+time.Second {
		t.Fatalf("Send took %v with timeout %v", elapsed, timeout)
	}
}

func TestWebhookTimeoutWithCallerClient(t *testing.T) {
	// A caller's client without a timeout of its own is still bounded.
	srv, _ := hangingServer(t)
	start := time.Now()
	err := newWebhook(t, srv.URL, "", &http.Client{}, 200*time.Millisecond).Send(context.Background(), testMessage)
	assertSafeError(t, err)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("Send took %v", elapsed)
	}
}

func TestWebhookRespectsContext(t *testing.T) {
	srv, _ := hangingServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := newWebhook(t, srv.URL, "", nil, 10*time.Second).Send(ctx, testMessage)
	assertSafeError(t, err)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("Send took %v after its context was cancelled", elapsed)
	}
}

func TestWebhookCancelledContextSendsNothing(t *testing.T) {
	r := newReceiver(t, http.StatusOK)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assertSafeError(t, newWebhook(t, r.srv.URL, "", nil, time.Second).Send(ctx, testMessage))
	if n := len(r.requests()); n != 0 {
		t.Fatalf("%d requests with a cancelled context", n)
	}
}

func TestWebhookNetworkErrorHidesURL(t *testing.T) {
	// A server that is gone: every attempt is a network error.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hook?token=receiver-token-xyz"
	srv.Close()
	err := newWebhook(t, url, "", nil, 2*time.Second).Send(context.Background(), testMessage)
	assertSafeError(t, err, "receiver-token-xyz", "/hook")
}

func TestWebhookNetworkErrorIsRetried(t *testing.T) {
	// The first connection is dropped mid-request; the retry succeeds.
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	if err := newWebhook(t, srv.URL, "", nil, 5*time.Second).Send(context.Background(), testMessage); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 2 {
		t.Fatalf("%d requests, want 2", got)
	}
}

func TestWebhookUsesCallerClient(t *testing.T) {
	// A TLS receiver only the server's own client trusts: delivery works
	// only if the given client is the one used.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	if err := newWebhook(t, srv.URL, "", srv.Client(), 2*time.Second).Send(context.Background(), testMessage); err != nil {
		t.Fatal(err)
	}
	if err := newWebhook(t, srv.URL, "", nil, 2*time.Second).Send(context.Background(), testMessage); err == nil {
		t.Fatal("default client trusted a self-signed certificate")
	}
}

func TestWebhookInvalidURL(t *testing.T) {
	assertSafeError(t, newWebhook(t, "http://bad host\x7f/", "", nil, time.Second).Send(context.Background(), testMessage))
}

// newWebhook is NewWebhook for a secret the test knows to be good.
func newWebhook(t *testing.T, url, secret string, client *http.Client, timeout time.Duration) *Webhook {
	t.Helper()
	w, err := NewWebhook(url, secret, client, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return w
}
