package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/authedge/caddy-authedge/internal/stdwebhook"
)

// DefaultWebhookTimeout bounds a delivery, retries included, when
// NewWebhook is given no timeout.
const DefaultWebhookTimeout = 10 * time.Second

// webhookAttempts is how many times one delivery is tried at most, all
// within the overall timeout.
const webhookAttempts = 3

// webhookBackoff is the pause before the second attempt; it doubles after.
const webhookBackoff = 200 * time.Millisecond

// Webhook delivers codes by POSTing the JSON form of Message to a URL,
// signed the Standard Webhooks way when it has a secret (docs/webhooks.md).
// A 2xx answer is success. A network error or a 5xx answer is retried
// briefly within the timeout; any other answer, a redirect included, fails
// at once. A failure is a *DeliveryError saying whether the receiver may
// have taken the message all the same.
type Webhook struct {
	url     string
	key     stdwebhook.Key
	client  *http.Client
	timeout time.Duration
}

// NewClient returns the HTTP client code deliveries use unless told
// otherwise: the default transport, and no redirect followed. A redirected
// POST would come back as a GET without its body (301, 302, 303), whose 2xx
// would pass for a delivery, or carry the code and a valid signature to
// wherever the receiver points (307, 308); so a 3xx is a failure.
func NewClient() *http.Client {
	return &http.Client{CheckRedirect: noRedirect}
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// NewWebhook returns a sender that POSTs to url. With a non-empty secret
// (stdwebhook.ParseSecret: "whsec_" and base64, or any other string as its
// own bytes) each delivery carries a webhook-signature; an unusable secret
// is an error. timeout bounds a whole delivery, retries included
// (DefaultWebhookTimeout if not positive). client is used for its
// transport (NewClient if nil), but never follows a redirect whatever its
// CheckRedirect says.
func NewWebhook(url string, secret string, client *http.Client, timeout time.Duration) (*Webhook, error) {
	if timeout <= 0 {
		timeout = DefaultWebhookTimeout
	}
	if client == nil {
		client = NewClient()
	} else {
		c := *client
		c.CheckRedirect = noRedirect
		client = &c
	}
	w := &Webhook{url: url, client: client, timeout: timeout}
	if secret != "" {
		key, err := stdwebhook.ParseSecret(secret)
		if err != nil {
			return nil, fmt.Errorf("notify: webhook secret: %w", err)
		}
		w.key = key
	}
	return w, nil
}

// Send delivers m; m.VerificationID is the webhook-id, the same on every
// attempt so that a receiver can drop a repeat. Its errors are
// *DeliveryError and name neither the code, the contact nor the URL (which
// may hold a token of the receiving service).
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return &DeliveryError{Outcome: Failed, Err: fmt.Errorf("notify: encoding webhook message: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	// maybe: some attempt's request went out whole and no answer came
	// back, so the receiver may have acted on it, whatever follows.
	maybe := false
	fail := func(err error) error {
		if maybe {
			return &DeliveryError{Outcome: Unknown, Err: err}
		}
		return &DeliveryError{Outcome: Failed, Err: err}
	}
	backoff := webhookBackoff
	for attempt := 1; ; attempt++ {
		a := w.post(ctx, m.VerificationID, body)
		if a.err == nil {
			return nil
		}
		maybe = maybe || a.unanswered
		if !a.retry || attempt == webhookAttempts {
			return fail(a.err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fail(fmt.Errorf("%w (gave up after %d attempts: %w)", a.err, attempt, ctx.Err()))
		case <-t.C:
		}
		backoff *= 2
	}
}

// attempt is how one POST ended.
type attempt struct {
	err error
	// retry: worth another attempt (a network error, a 5xx).
	retry bool
	// unanswered: the request was written whole, then no answer came.
	unanswered bool
}

// post makes one delivery attempt.
func (w *Webhook) post(ctx context.Context, id string, body []byte) attempt {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				wrote.Store(true)
			}
		},
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return attempt{err: errors.New("notify: invalid webhook URL")}
	}
	req.Header.Set("Content-Type", "application/json")
	// Each attempt has its own timestamp, as the specification asks.
	w.key.SetHeaders(req.Header, id, time.Now(), body)
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error repeats the URL; keep only the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return attempt{
			err:        fmt.Errorf("notify: webhook delivery failed: %w", err),
			retry:      ctx.Err() == nil,
			unanswered: wrote.Load(),
		}
	}
	// Drain a little so the connection can be reused, but never let a
	// receiver make us read without end.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return attempt{}
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return attempt{err: fmt.Errorf("notify: webhook answered a redirect (%d), which is not followed", resp.StatusCode)}
	case resp.StatusCode >= 500:
		return attempt{err: fmt.Errorf("notify: webhook answered %d", resp.StatusCode), retry: true}
	default:
		return attempt{err: fmt.Errorf("notify: webhook refused delivery with %d", resp.StatusCode)}
	}
}
