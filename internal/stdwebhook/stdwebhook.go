// Package stdwebhook signs outgoing webhooks the Standard Webhooks way
// (https://www.standardwebhooks.com), so that a receiver checks them with
// that project's libraries instead of code of its own. Code deliveries use
// it today, change events will too: one receiver, one check.
//
// A signed request carries three headers:
//
//	webhook-id:        the message ID, the same on every retry (an idempotency key)
//	webhook-timestamp: the attempt's time, Unix seconds
//	webhook-signature: "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body))
//
// See docs/webhooks.md for the receiver's side.
package stdwebhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names as the specification spells them; HTTP header names are
// case-insensitive, and net/http sends them as Webhook-Id and so on.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix marks a secret written as base64, the form the
// specification recommends ("whsec_" + base64 of random bytes).
const SecretPrefix = "whsec_"

// Tolerance is how far a timestamp may be from the receiver's clock, the
// specification's (and its libraries') five minutes: what ends replays.
const Tolerance = 5 * time.Minute

// Key is an HMAC key for v1 signatures.
type Key []byte

// ParseSecret turns a configured secret into its key. A secret that starts
// with "whsec_" is standard padded base64 after the prefix, as the
// specification serialises secrets; any other secret's bytes are the key
// themselves, what the libraries call a "raw" secret. An empty secret, or a
// "whsec_" one that is not exactly padded base64 (no padding left off, no
// line breaks) or decodes to nothing, is an error: the receivers' decoders
// (docs/webhooks.md's example, the Standard Webhooks libraries) refuse
// those, so such a config would load and every delivery be refused.
func ParseSecret(secret string) (Key, error) {
	if secret == "" {
		return nil, errors.New("stdwebhook: empty secret")
	}
	b64, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return Key(secret), nil
	}
	// The error would quote the secret's bytes; say only what is wrong.
	key, err := base64.StdEncoding.Strict().DecodeString(b64)
	// The decoder skips line breaks; only the canonical text is admitted.
	if err != nil || base64.StdEncoding.EncodeToString(key) != b64 {
		return nil, errors.New("stdwebhook: a secret starting with whsec_ must be standard base64, padded with '=', after the prefix")
	}
	if len(key) == 0 {
		return nil, errors.New("stdwebhook: the secret after whsec_ is empty")
	}
	return key, nil
}

// Sign returns the webhook-signature value of body sent as message id at
// unix seconds ts: "v1," and the base64 HMAC-SHA256 of "<id>.<ts>.<body>".
func (k Key) Sign(id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, k)
	var buf [20]byte
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(buf[:0], ts, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	sum := mac.Sum(buf[:0])
	return "v1," + base64.StdEncoding.EncodeToString(sum)
}

// SetHeaders sets the three headers of a delivery of body as message id,
// attempted at now. With a nil key (no secret configured) the message is
// sent unsigned: webhook-id and webhook-timestamp only.
func (k Key) SetHeaders(h http.Header, id string, now time.Time, body []byte) {
	ts := now.Unix()
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	if k != nil {
		h.Set(HeaderSignature, k.Sign(id, ts, body))
	}
}

// Verify is the receiver's check: the headers must all be present, the
// timestamp within Tolerance of now, and one of the space-separated
// signatures a v1 signature of body under k. Signatures of other versions
// are skipped, as the specification asks. Header names are matched
// case-insensitively.
func (k Key) Verify(h http.Header, body []byte, now time.Time) error {
	id, tsText, sigs := header(h, HeaderID), header(h, HeaderTimestamp), header(h, HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return errors.New("stdwebhook: missing webhook-id, webhook-timestamp or webhook-signature")
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return errors.New("stdwebhook: webhook-timestamp is not an integer")
	}
	tol := int64(Tolerance / time.Second)
	if d := now.Unix() - ts; d > tol || d < -tol {
		return fmt.Errorf("stdwebhook: webhook-timestamp is %d s away from now", d)
	}
	want := k.Sign(id, ts, body)
	for _, sig := range strings.Split(sigs, " ") {
		if !strings.HasPrefix(sig, "v1,") {
			continue
		}
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("stdwebhook: no matching v1 signature")
}

// header finds a header by its lower-case name or its canonical form.
func header(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return h.Get(name)
}
