package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/redis/go-redis/v9"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/internal/redistest"
	"github.com/authedge/caddy-authedge/internal/stdwebhook"
)

// The code webhook as Provision builds it: its HTTP client, its signing
// secret, and the client IP it limits by.

// webhookHandler provisions a handler whose codes go to url.
func webhookHandler(t *testing.T, url, secret string) (h *Handler, token string) {
	t.Helper()
	srv := redistest.Start(t)
	priv, pub := devKeys(t, "ec")
	cfg := baseConfig(pub, srv.Addr)
	cfg.Verification = config.Verification{Webhook: &config.Webhook{URL: url, Secret: secret}}
	h = provisioned(t, cfg)
	raw := devToken(t, priv)
	return h, raw
}

// post sends one request through the provisioned handler.
func post(t *testing.T, h *Handler, path, body, token string, opts ...func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for _, opt := range opts {
		opt(r)
	}
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, &nextHandler{}); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestProvisionedWebhookFollowsNoRedirect: with the client Provision
// builds, a receiver answering any redirect is a failed delivery (503), and
// the redirect's target never hears of the code. Provision used to hand
// the sender an http.Client{} that followed them: a 301/302/303 became a
// bodiless GET whose 200 passed for a delivery, a 307/308 carried the code
// and its signature wherever the receiver pointed.
func TestProvisionedWebhookFollowsNoRedirect(t *testing.T) {
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			var targetHits atomic.Int32
			target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				targetHits.Add(1)
			}))
			t.Cleanup(target.Close)
			redirect := httptest.NewServer(http.RedirectHandler(target.URL+"/stolen", status))
			t.Cleanup(redirect.Close)

			h, tok := webhookHandler(t, redirect.URL, "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0")
			w := post(t, h, "/auth/v1/verification", `{"email":"a@example.com"}`, tok)
			if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"unavailable"`) || w.Header().Get("Retry-After") == "" {
				t.Fatalf("status %d, Retry-After %q, body %s; want 503 unavailable with Retry-After", w.Code, w.Header().Get("Retry-After"), w.Body)
			}
			if n := targetHits.Load(); n != 0 {
				t.Fatalf("the redirect was followed: %d requests at its target", n)
			}
		})
	}
}

// TestProvisionedWebhookIsSigned: the delivery Provision's sender makes
// verifies under the configured whsec_ secret, the Standard Webhooks way.
func TestProvisionedWebhookIsSigned(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	var mu sync.Mutex
	var header http.Header
	var body []byte
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		header, body = r.Header.Clone(), nil
		body, _ = io.ReadAll(r.Body)
	}))
	t.Cleanup(recv.Close)
	h, tok := webhookHandler(t, recv.URL, secret)
	if w := post(t, h, "/auth/v1/verification", `{"email":"a@example.com"}`, tok); w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	key, err := stdwebhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if err := key.Verify(header, body, time.Now()); err != nil {
		t.Fatalf("delivery does not verify: %v (%v)", err, header)
	}
	if header.Get("X-Authedge-Signature") != "" {
		t.Error("X-Authedge-Signature is still sent")
	}
}

func TestProvisionRefusesBadWebhookSecret(t *testing.T) {
	srv := redistest.Start(t)
	_, pub := devKeys(t, "ec")
	cfg := baseConfig(pub, srv.Addr)
	cfg.Verification = config.Verification{Webhook: &config.Webhook{URL: "https://notify.example/", Secret: "whsec_not base64 at all"}}
	h := &Handler{Config: cfg}
	err := h.Provision(caddyContext(t))
	_ = h.Cleanup()
	if err == nil || !strings.Contains(err.Error(), "webhook") {
		t.Fatalf("Provision = %v, want an error naming the webhook secret", err)
	}
	if strings.Contains(err.Error(), "not base64 at all") {
		t.Fatalf("error %q quotes the secret", err)
	}
}

// TestProvisionedVerifyLimitsCaddyClientIP: the per-IP limit of
// verification/verify keys on Caddy's client IP (which honours
// trusted_proxies), not on the proxy's address in RemoteAddr. Only wrong
// codes for live verifications count, so the guesses go to four real ones,
// five each (the fifth closes a verification).
func TestProvisionedVerifyLimitsCaddyClientIP(t *testing.T) {
	var mu sync.Mutex
	var sent []struct {
		ID   string `json:"verification_id"`
		Code string `json:"code"`
	}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var m struct {
			ID   string `json:"verification_id"`
			Code string `json:"code"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Error(err)
		}
		sent = append(sent, m)
	}))
	t.Cleanup(recv.Close)
	h, tok := webhookHandler(t, recv.URL, "")
	from := func(ip string) func(*http.Request) {
		return func(r *http.Request) {
			r.RemoteAddr = "10.0.0.1:5555" // the trusted proxy, for every client
			vars := map[string]any{caddyhttp.ClientIPVarKey: ip}
			*r = *r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, vars))
		}
	}
	for i := range 4 {
		if w := post(t, h, "/auth/v1/verification", fmt.Sprintf(`{"email":"u%d@example.com"}`, i), tok); w.Code != http.StatusOK {
			t.Fatalf("send %d: status %d: %s", i, w.Code, w.Body)
		}
	}
	mu.Lock()
	codes := slices.Clone(sent)
	mu.Unlock()
	wrong := func(i int) string {
		bad := "000000"
		if codes[i].Code == bad {
			bad = "111111"
		}
		return fmt.Sprintf(`{"verification_id":%q,"verification_code":%q}`, codes[i].ID, bad)
	}
	for i := range 4 {
		for range 5 {
			if w := post(t, h, "/auth/v1/verification/verify", wrong(i), "", from("203.0.113.7")); w.Code != http.StatusBadRequest {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	}
	if w := post(t, h, "/auth/v1/verification/verify", wrong(0), "", from("203.0.113.7")); w.Code != http.StatusTooManyRequests {
		t.Fatalf("21st wrong code: status %d, want 429: %s", w.Code, w.Body)
	}
	// Another client behind the same proxy is not held back.
	if w := post(t, h, "/auth/v1/verification/verify", wrong(0), "", from("198.51.100.3")); w.Code != http.StatusBadRequest {
		t.Fatalf("another client: status %d, want 400: %s", w.Code, w.Body)
	}
}

// TestProvisionedCodesAreKeyedByTheWebhookSecret: with a webhook secret,
// what Redis keeps of a code is not its plain digest (which a reader of
// Redis could match by trying the million codes); the code verifies where
// the same secret is configured and nowhere else.
func TestProvisionedCodesAreKeyedByTheWebhookSecret(t *testing.T) {
	var mu sync.Mutex
	var sent struct {
		ID   string `json:"verification_id"`
		Code string `json:"code"`
	}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_ = json.NewDecoder(r.Body).Decode(&sent)
	}))
	t.Cleanup(recv.Close)
	srv := redistest.Start(t)
	priv, pub := devKeys(t, "ec")
	handlerWith := func(secret string) *Handler {
		cfg := baseConfig(pub, srv.Addr)
		cfg.Verification = config.Verification{Webhook: &config.Webhook{URL: recv.URL, Secret: secret}}
		return provisioned(t, cfg)
	}
	h := handlerWith("first-secret")
	other := handlerWith("second-secret")
	tok := devToken(t, priv)

	if w := post(t, h, "/auth/v1/verification", `{"email":"a@example.com"}`, tok); w.Code != http.StatusOK {
		t.Fatalf("send: status %d: %s", w.Code, w.Body)
	}
	mu.Lock()
	id, code := sent.ID, sent.Code
	mu.Unlock()
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rc.Close() })
	stored, err := rc.HGet(context.Background(), "authedge:{dev-env}:v:"+id, "hk").Result()
	if err != nil {
		t.Fatal(err)
	}
	plain := sha256.Sum256([]byte(id + ":" + code))
	if stored == hex.EncodeToString(plain[:]) {
		t.Fatal("the stored code digest is unkeyed")
	}
	verify := `{"verification_id":"` + id + `","verification_code":"` + code + `"}`
	if w := post(t, other, "/auth/v1/verification/verify", verify, ""); w.Code != http.StatusBadRequest {
		t.Fatalf("verify under another secret: status %d: %s; want 400", w.Code, w.Body)
	}
	if w := post(t, h, "/auth/v1/verification/verify", verify, ""); w.Code != http.StatusOK {
		t.Fatalf("verify under the same secret: status %d: %s", w.Code, w.Body)
	}
}
