package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authedge/caddy-authedge/internal/stdwebhook"
)

// codeMessage is the JSON authedge's webhook sender POSTs (docs/webhooks.md).
type codeMessage struct {
	VerificationID string `json:"verification_id"`
	Channel        string `json:"channel"`
	To             string `json:"to"`
	Code           string `json:"code"`
	Usage          string `json:"usage"`
	ExpiresIn      int    `json:"expires_in"`
}

// codeReceiver is the SMS/email service behind the webhook: it checks each
// delivery's signature and keeps the messages.
type codeReceiver struct {
	*httptest.Server
	t      *testing.T
	secret string
	mu     sync.Mutex
	msgs   []codeMessage
}

func newCodeReceiver(t *testing.T, secret string) *codeReceiver {
	c := &codeReceiver{t: t, secret: secret}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		// The receiver's check of docs/webhooks.md: Standard Webhooks.
		key, err := stdwebhook.ParseSecret(secret)
		if err != nil {
			t.Errorf("webhook secret: %v", err)
		} else if err := key.Verify(r.Header, body, time.Now()); err != nil {
			t.Errorf("webhook signature: %v (headers %v)", err, r.Header)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("webhook Content-Type %q", ct)
		}
		var m codeMessage
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			t.Errorf("webhook body %s: %v", body, err)
		}
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		c.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *codeReceiver) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// code returns the delivered message for a verification_id.
func (c *codeReceiver) code(id string) codeMessage {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.msgs {
		if m.VerificationID == id {
			return m
		}
	}
	c.t.Fatalf("no code delivered for verification %s (%d deliveries)", id, len(c.msgs))
	return codeMessage{}
}

// sendCode asks for a code and returns what the webhook received for it.
func (f *fixture) sendCode(hook *codeReceiver, tok, body string) codeMessage {
	f.t.Helper()
	r := f.do("POST", "/auth/v1/verification", tok, body)
	v := r.wantOK(f.t)
	id, _ := v["verification_id"].(string)
	if id == "" || v["expires_in"] == nil || v["is_user"] == nil {
		f.t.Fatalf("verification answer %s", r)
	}
	m := hook.code(id)
	if len(m.Code) != 6 || strings.Trim(m.Code, "0123456789") != "" {
		f.t.Errorf("code %q is not 6 digits", m.Code)
	}
	return m
}

// verify trades a code for a verification_token, without a bearer token,
// as CloudBase's SDK does.
func (f *fixture) verify(m codeMessage) string {
	f.t.Helper()
	v := f.do("POST", "/auth/v1/verification/verify?client_id="+testEnv, "",
		fmt.Sprintf(`{"verification_id":%q,"verification_code":%q}`, m.VerificationID, m.Code)).wantOK(f.t)
	tok, _ := v["verification_token"].(string)
	if tok == "" {
		f.t.Fatalf("verify answered %v", v)
	}
	return tok
}

// TestChangePhoneFlow walks docs/api.md#verification and docs/api.md#sudo end
// to end with the webhook sender: send a code to the current phone, verify,
// sudo, send a code to the new phone, verify, edit.
func TestChangePhoneFlow(t *testing.T) {
	const secret = "e2e-webhook-secret"
	hook := newCodeReceiver(t, secret)
	f := newFixture(t, fmt.Sprintf(`
		verification {
			webhook %s/codes %s
		}`, hook.URL, secret))
	user, other := f.token("user-1", nil), f.token("user-2", nil)
	admin := f.token("admin-1", claims{"scope": "admin"})
	const p1, p2 = "+86 13800138000", "+86 13900139000"

	f.do("GET", mePath, user, "").wantOK(t)
	f.do("GET", mePath, other, "").wantOK(t)
	f.do("POST", editPath, admin, `{"user_id":"user-1","phone":"+8613800138000"}`).wantOK(t)

	// Without proofs the change is refused, sudo first
	// (docs/api.md#order-of-checks).
	f.do("POST", editPath, user, `{"phone":"`+p2+`"}`).wantError(t, http.StatusForbidden, "sudo_required")

	// A code to the current phone; the answer does not reveal the number.
	r := f.do("POST", "/auth/v1/verification", user, `{"phone_number":"","target":"CUR_USER"}`)
	if strings.Contains(string(r.Body), "13800138000") {
		t.Errorf("CUR_USER answer reveals the phone: %s", r)
	}
	id, _ := r.wantOK(t)["verification_id"].(string)
	cur := hook.code(id)
	if cur.Channel != "sms" || cur.To != p1 {
		t.Errorf("CUR_USER code went to %s %s, want sms %s", cur.Channel, cur.To, p1)
	}
	vt := f.verify(cur)
	s := f.do("POST", "/auth/v1/user/sudo", user, `{"verification_token":"`+vt+`"}`).wantOK(t)
	sudo, _ := s["sudo_token"].(string)
	if sudo == "" {
		t.Fatalf("sudo answered %v", s)
	}
	// The verification token was used up by sudo.
	f.do("POST", "/auth/v1/user/sudo", user, `{"verification_token":"`+vt+`"}`).wantError(t, http.StatusBadRequest, "invalid_verification_token")

	f.do("POST", editPath, user, `{"phone":"`+p2+`","sudo_token":"`+sudo+`"}`).wantError(t, http.StatusBadRequest, "verification_required")

	next := f.sendCode(hook, user, `{"phone_number":"+86 139 0013 9000","target":"NOT_USER","usage":"PHONE_NUMBER_CHANGE"}`)
	if next.Channel != "sms" || next.To != p2 || next.Usage != "PHONE_NUMBER_CHANGE" || next.ExpiresIn <= 0 {
		t.Errorf("code message %+v", next)
	}
	vt2 := f.verify(next)
	// A token for p2 does not verify another number.
	f.do("POST", editPath, user, `{"phone":"+86 13700137000","verification_token":"`+vt2+`","sudo_token":"`+sudo+`"}`).
		wantError(t, http.StatusBadRequest, "invalid_verification_token")
	f.do("POST", editPath, user, `{"phone":"`+p2+`","verification_token":"`+vt2+`","sudo_token":"`+sudo+`"}`).wantOK(t)
	wantFields(t, f.do("GET", mePath, user, "").wantOK(t), map[string]string{"phone_number": p2})
	// Used up.
	f.do("POST", editPath, user, `{"phone":"+86 13700137000","verification_token":"`+vt2+`","sudo_token":"`+sudo+`"}`).
		wantError(t, http.StatusBadRequest, "invalid_verification_token")

	// NOT_USER refuses a number bound to someone else before sending.
	before := hook.count()
	f.do("POST", "/auth/v1/verification", other, `{"phone_number":"`+p2+`","target":"NOT_USER"}`).wantError(t, http.StatusConflict, "phone_already_exists")
	// A wrong code is refused.
	m := f.sendCode(hook, other, `{"email":"bob@example.com","target":"ANY"}`)
	if hook.count() != before+1 {
		t.Errorf("deliveries %d -> %d, want exactly one more", before, hook.count())
	}
	wrong := m
	wrong.Code = fmt.Sprintf("%06d", (atoi(m.Code)+1)%1000000)
	f.do("POST", "/auth/v1/verification/verify", "", fmt.Sprintf(`{"verification_id":%q,"verification_code":%q}`, m.VerificationID, wrong.Code)).
		wantError(t, http.StatusBadRequest, "invalid_verification_code")
	// A second send to the same contact within 60s is refused.
	r = f.do("POST", "/auth/v1/verification", other, `{"email":"bob@example.com","target":"ANY"}`)
	r.wantError(t, http.StatusTooManyRequests, "resource_exhausted")
	if n, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || n < 1 || n > 60 {
		t.Errorf("Retry-After %q, want 1..60 seconds", r.Header.Get("Retry-After"))
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// TestWebhookDown: a code that cannot be delivered is 503 with Retry-After.
func TestWebhookDown(t *testing.T) {
	hookPort, release := reservePort(t)
	f := newFixture(t, fmt.Sprintf(`
		verification {
			webhook http://127.0.0.1:%d/nobody-listens
		}`, hookPort))
	release() // nobody listens
	tok := f.token("user-1", nil)
	start := time.Now()
	r := f.do("POST", "/auth/v1/verification", tok, `{"email":"user@example.com","target":"ANY"}`)
	r.wantError(t, http.StatusServiceUnavailable, "unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	if time.Since(start) > 15*time.Second {
		t.Errorf("failed delivery took %v", time.Since(start))
	}
	// The failed send was not counted: once delivery works the contact can
	// be sent to at once. (Here: still down, so still 503, not 429.)
	f.do("POST", "/auth/v1/verification", tok, `{"email":"user@example.com","target":"ANY"}`).wantError(t, http.StatusServiceUnavailable, "unavailable")
}

// TestVerificationWithoutSender: with verification off and no sender, the
// verification endpoints answer 501.
func TestVerificationWithoutSender(t *testing.T) {
	f := newFixture(t, offPolicies)
	tok := f.token("user-1", nil)
	f.do("POST", "/auth/v1/verification", tok, `{"email":"user@example.com","target":"ANY"}`).wantError(t, http.StatusNotImplemented, "unimplemented")
	f.do("POST", "/auth/v1/verification/verify", "", `{"verification_id":"x","verification_code":"123456"}`).wantError(t, http.StatusNotImplemented, "unimplemented")
}
