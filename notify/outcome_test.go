package notify

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// wantOutcome fails unless err is a *DeliveryError with outcome want.
func wantOutcome(t *testing.T, err error, want Outcome) {
	t.Helper()
	assertSafeError(t, err)
	var de *DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *DeliveryError", err, err)
	}
	if de.Outcome != want {
		t.Fatalf("outcome %v, want %v (%v)", de.Outcome, want, err)
	}
	if MaybeDelivered(err) != (want == Unknown) {
		t.Fatalf("MaybeDelivered = %v for outcome %v", MaybeDelivered(err), want)
	}
}

// The receiver certainly did not take the message: refused connections,
// non-2xx answers, redirects.
func TestWebhookDefiniteFailures(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()
	t.Run("connection refused", func(t *testing.T) {
		wantOutcome(t, newWebhook(t, goneURL, "", nil, 2*time.Second).Send(context.Background(), testMessage), Failed)
	})
	for _, status := range []int{400, 401, 404, 410, 429, 500, 502, 503} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			r := newReceiver(t, status)
			wantOutcome(t, newWebhook(t, r.srv.URL, "", nil, 5*time.Second).Send(context.Background(), testMessage), Failed)
		})
	}
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			target := newReceiver(t, http.StatusOK)
			redirect := httptest.NewServer(http.RedirectHandler(target.srv.URL, status))
			t.Cleanup(redirect.Close)
			// Even a client that would follow redirects does not.
			for _, client := range []*http.Client{nil, {}, http.DefaultClient} {
				wantOutcome(t, newWebhook(t, redirect.URL, "s", client, time.Second).Send(context.Background(), testMessage), Failed)
			}
			if n := len(target.requests()); n != 0 {
				t.Fatalf("redirect followed: %d requests at the target", n)
			}
		})
	}
	t.Run("timeout before the request was written", func(t *testing.T) {
		// A TLS handshake that never completes: nothing of the request
		// left this side.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
			}
		}()
		wantOutcome(t, newWebhook(t, "https://"+ln.Addr().String()+"/", "", nil, 300*time.Millisecond).Send(context.Background(), testMessage), Failed)
	})
}

// The request went out whole and no answer came: the receiver may have
// sent the code.
func TestWebhookUnknownOutcomes(t *testing.T) {
	t.Run("timeout after the request was written", func(t *testing.T) {
		srv, hits := hangingServer(t)
		wantOutcome(t, newWebhook(t, srv.URL, "", nil, 300*time.Millisecond).Send(context.Background(), testMessage), Unknown)
		if hits.Load() == 0 {
			t.Fatal("the receiver never got the request")
		}
	})
	t.Run("connection dropped after the request was read", func(t *testing.T) {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
		}))
		t.Cleanup(srv.Close)
		wantOutcome(t, newWebhook(t, srv.URL, "", nil, 5*time.Second).Send(context.Background(), testMessage), Unknown)
		if got := n.Load(); got != webhookAttempts {
			t.Fatalf("%d attempts, want %d", got, webhookAttempts)
		}
	})
	t.Run("unanswered attempt then a refusal", func(t *testing.T) {
		// The first attempt may have been acted on; a 503 after it does not
		// make the whole delivery a definite failure.
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					conn.Close()
				}
				return
			}
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		t.Cleanup(srv.Close)
		wantOutcome(t, newWebhook(t, srv.URL, "", nil, 5*time.Second).Send(context.Background(), testMessage), Unknown)
	})
}

func TestMaybeDeliveredOtherErrors(t *testing.T) {
	for _, err := range []error{nil, errors.New("x"), context.DeadlineExceeded, &DeliveryError{Outcome: Failed, Err: errors.New("x")}} {
		if MaybeDelivered(err) {
			t.Errorf("MaybeDelivered(%v) = true", err)
		}
	}
}
