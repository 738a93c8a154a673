package stdwebhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The receiver's check that docs/webhooks.md gives, copied here word for
// word: it must accept what SetHeaders signs and refuse a changed body.

// verifyDelivery checks an authedge code delivery; body is the raw request
// body, exactly as received.
func verifyDelivery(h http.Header, body []byte, secret string) error {
	key := []byte(secret)
	if b64, ok := strings.CutPrefix(secret, "whsec_"); ok {
		var err error
		if key, err = base64.StdEncoding.DecodeString(b64); err != nil {
			return err
		}
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || id == "" {
		return errors.New("missing webhook-id or webhook-timestamp")
	}
	if d := time.Since(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("webhook-timestamp too far from now")
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("no valid signature")
}

// TestDocsReceiverExampleIsTheDocs keeps the copy above the docs' own
// text: users paste the docs, so a fix made to one and not the other
// would leave the tests checking code nobody runs.
func TestDocsReceiverExampleIsTheDocs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/webhooks.md")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile("docs_example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```go\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/webhooks.md has no Go example")
	}
	if !strings.Contains(string(self), string(m[1])) {
		t.Fatal("docs/webhooks.md's Go example differs from verifyDelivery here: copy it again")
	}
}

func TestDocsReceiverExample(t *testing.T) {
	body := []byte(`{"verification_id":"vid","code":"042137"}`)
	for _, secret := range []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "a raw secret"} {
		key, err := ParseSecret(secret)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		key.SetHeaders(h, "vid", time.Now(), body)
		if err := verifyDelivery(h, body, secret); err != nil {
			t.Errorf("%q: the docs' check refuses our signature: %v", secret, err)
		}
		if err := verifyDelivery(h, append(body, ' '), secret); err == nil {
			t.Errorf("%q: the docs' check accepts a changed body", secret)
		}
	}
}

// TestSecretLoadsOnlyIfReceiversDecodeIt: a whsec_ secret whose base64 has
// its padding left off decodes in Go's lenient decoder but not in the docs'
// example (nor in the Go and Python Standard Webhooks libraries, which
// decode padded base64): the config would load and the receiver refuse
// every delivery. ParseSecret refuses it; the padded form works on both
// sides.
func TestSecretLoadsOnlyIfReceiversDecodeIt(t *testing.T) {
	body := []byte(`{"verification_id":"vid","code":"042137"}`)
	padded := "whsec_" + base64.StdEncoding.EncodeToString([]byte("twenty-five random bytes!"))
	unpadded := strings.TrimRight(padded, "=")
	if unpadded == padded {
		t.Fatal("the test secret needs padding")
	}
	key, err := ParseSecret(padded)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	key.SetHeaders(h, "vid", time.Now(), body)
	if err := verifyDelivery(h, body, padded); err != nil {
		t.Fatalf("the docs' check refuses the padded secret: %v", err)
	}
	if err := verifyDelivery(h, body, unpadded); err == nil {
		t.Fatal("the docs' check took the unpadded secret; the premise changed")
	}
	if _, err := ParseSecret(unpadded); err == nil {
		t.Fatal("ParseSecret accepted a secret the receivers cannot decode")
	}
}
