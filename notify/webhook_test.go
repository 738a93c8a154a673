package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
	if err := NewWebhook(r.srv.URL, secret, nil, 5*time.Second).Send(context.Background(), testMessage); err != nil {
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

	// The body is exactly SPEC 4.2's object: these six keys, these types.
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

	// The receiver's check: HMAC over the raw body it received.
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(got.body)
	wantSig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if sig := got.header.Get(SignatureHeader); !hmac.Equal([]byte(sig), []byte(wantSig)) {
		t.Errorf("%s = %q, want %q", SignatureHeader, sig, wantSig)
	}
}

func TestWebhookEmptyUsageIsSent(t *testing.T) {
	r := newReceiver(t, http.StatusOK)
	m := testMessage
	m.Usage = ""
	if err := NewWebhook(r.srv.URL, "", nil, time.Second).Send(context.Background(), m); err != nil {
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

func TestWebhookNoSecretNoHeader(t *testing.T) {
	r := newReceiver(t, http.StatusOK)
	if err := NewWebhook(r.srv.URL, "", nil, time.Second).Send(context.Background(), testMessage); err != nil {
		t.Fatal(err)
	}
	if h, ok := r.requests()[0].header[SignatureHeader]; ok {
		t.Fatalf("unsigned webhook sent %s: %q", SignatureHeader, h)
	}
}

func TestSignKnownVector(t *testing.T) {
	// RFC 4231 test case 2.
	got := Sign([]byte("Jefe"), []byte("what do ya want for nothing?"))
	want := "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestWebhookRetriesServerErrorThenSucceeds(t *testing.T) {
	r := newReceiver(t, http.StatusInternalServerError, http.StatusOK)
	if err := NewWebhook(r.srv.URL, "s", nil, 5*time.Second).Send(context.Background(), testMessage); err != nil {
		t.Fatal(err)
	}
	reqs := r.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	// A retry is the same delivery: same body, same signature.
	if string(reqs[0].body) != string(reqs[1].body) ||
		reqs[0].header.Get(SignatureHeader) != reqs[1].header.Get(SignatureHeader) {
		t.Fatal("retry differs from the first attempt")
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
	err := NewWebhook(r.srv.URL, "", nil, 5*time.Second).Send(context.Background(), testMessage)
	assertSafeError(t, err)
	if n := len(r.requests()); n != webhookAttempts {
		t.Fatalf("%d requests, want %d", n, webhookAttempts)
	}
}

func TestWebhookClientErrorFailsWithoutRetry(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusTooManyRequests} {
		r := newReceiver(t, status)
		err := NewWebhook(r.srv.URL, "", nil, 5*time.Second).Send(context.Background(), testMessage)
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
	err := NewWebhook(redirect.URL, "", nil, time.Second).Send(context.Background(), testMessage)
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
	err := NewWebhook(srv.URL, "", nil, timeout).Send(context.Background(), testMessage)
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
	err := NewWebhook(srv.URL, "", &http.Client{}, 200*time.Millisecond).Send(context.Background(), testMessage)
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
	err := NewWebhook(srv.URL, "", nil, 10*time.Second).Send(ctx, testMessage)
	assertSafeError(t, err)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("Send took %v after its context was cancelled", elapsed)
	}
}

func TestWebhookCancelledContextSendsNothing(t *testing.T) {
	r := newReceiver(t, http.StatusOK)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assertSafeError(t, NewWebhook(r.srv.URL, "", nil, time.Second).Send(ctx, testMessage))
	if n := len(r.requests()); n != 0 {
		t.Fatalf("%d requests with a cancelled context", n)
	}
}

func TestWebhookNetworkErrorHidesURL(t *testing.T) {
	// A server that is gone: every attempt is a network error.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hook?token=receiver-token-xyz"
	srv.Close()
	err := NewWebhook(url, "", nil, 2*time.Second).Send(context.Background(), testMessage)
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
	if err := NewWebhook(srv.URL, "", nil, 5*time.Second).Send(context.Background(), testMessage); err != nil {
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
	if err := NewWebhook(srv.URL, "", srv.Client(), 2*time.Second).Send(context.Background(), testMessage); err != nil {
		t.Fatal(err)
	}
	if err := NewWebhook(srv.URL, "", nil, 2*time.Second).Send(context.Background(), testMessage); err == nil {
		t.Fatal("default client trusted a self-signed certificate")
	}
}

func TestWebhookInvalidURL(t *testing.T) {
	assertSafeError(t, NewWebhook("http://bad host\x7f/", "", nil, time.Second).Send(context.Background(), testMessage))
}
