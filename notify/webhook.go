package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// SignatureHeader carries the body's HMAC when the webhook has a secret.
const SignatureHeader = "X-Authedge-Signature"

// DefaultWebhookTimeout bounds a delivery, retries included, when
// NewWebhook is given no timeout.
const DefaultWebhookTimeout = 10 * time.Second

// webhookAttempts is how many times one delivery is tried at most, all
// within the overall timeout.
const webhookAttempts = 3

// webhookBackoff is the pause before the second attempt; it doubles after.
const webhookBackoff = 200 * time.Millisecond

// Webhook delivers codes by POSTing the JSON form of Message to a URL,
// signed with HMAC-SHA256 when it has a secret. A network error or a 5xx
// reply is retried briefly within the timeout; a 2xx reply is success and
// any other reply fails at once.
type Webhook struct {
	url     string
	secret  []byte
	client  *http.Client
	timeout time.Duration
}

// NewWebhook returns a sender that POSTs to url. With a non-empty secret
// each body is signed in the X-Authedge-Signature header. timeout bounds
// a whole delivery, retries included (DefaultWebhookTimeout if not
// positive). A nil client means a dedicated one that does not follow
// redirects: a redirected POST would be replayed as a GET without its body.
func NewWebhook(url string, secret string, client *http.Client, timeout time.Duration) *Webhook {
	if timeout <= 0 {
		timeout = DefaultWebhookTimeout
	}
	if client == nil {
		client = &http.Client{
			Timeout: timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	w := &Webhook{url: url, client: client, timeout: timeout}
	if secret != "" {
		w.secret = []byte(secret)
	}
	return w
}

// Send delivers m. Its errors name neither the code, the contact nor the
// URL (which may hold a token of the receiving service).
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("notify: encoding webhook message: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()

	backoff := webhookBackoff
	for attempt := 1; ; attempt++ {
		retry, err := w.post(ctx, body)
		if err == nil {
			return nil
		}
		if !retry || attempt == webhookAttempts {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up after %d attempts: %w)", err, attempt, ctx.Err())
		case <-t.C:
		}
		backoff *= 2
	}
}

// post makes one delivery attempt and says whether a failure is worth
// retrying.
func (w *Webhook) post(ctx context.Context, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("notify: invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	if w.secret != nil {
		req.Header.Set(SignatureHeader, Sign(w.secret, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error repeats the URL; keep only the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return ctx.Err() == nil, fmt.Errorf("notify: webhook delivery failed: %w", err)
	}
	// Drain a little so the connection can be reused, but never let a
	// receiver make us read without end.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500:
		return true, fmt.Errorf("notify: webhook answered %d", resp.StatusCode)
	default:
		return false, fmt.Errorf("notify: webhook refused delivery with %d", resp.StatusCode)
	}
}

// Sign returns the X-Authedge-Signature value for body:
// "sha256=" and the lowercase hex HMAC-SHA256 of body under secret.
// Receivers compute the same over the raw body and compare in constant
// time.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
