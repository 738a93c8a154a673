package stdwebhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseSecret(t *testing.T) {
	raw := []byte{0x00, 0xff, 0x10, 'a', 'b', 'c', 0x80, 0x7f}
	b64 := base64.StdEncoding.EncodeToString(raw)
	good := map[string][]byte{
		"whsec_" + b64: raw,
		"hook-secret":  []byte("hook-secret"),
		// Without the prefix even base64-looking text is its own bytes.
		b64: []byte(b64),
	}
	for secret, want := range good {
		key, err := ParseSecret(secret)
		if err != nil || !bytes.Equal(key, want) {
			t.Errorf("ParseSecret(%q) = %x, %v; want %x", secret, key, err, want)
		}
	}
	// Unpadded base64, or base64 broken by a line break, decodes in Go's
	// lenient decoders but not in the padded decoding of docs/webhooks.md's
	// example and the Standard Webhooks libraries: the config would load
	// and the receiver would then refuse every delivery.
	unpadded := "whsec_" + strings.TrimRight(b64, "=")
	wrapped := "whsec_" + b64[:4] + "\n" + b64[4:]
	for _, bad := range []string{"", "whsec_", "whsec_***", "whsec_ab$d", "whsec_==", unpadded, wrapped, "whsec_YQ", "whsec_YWI"} {
		key, err := ParseSecret(bad)
		if err == nil {
			t.Errorf("ParseSecret(%q) = %x, want an error", bad, key)
			continue
		}
		if len(bad) > len(SecretPrefix) && strings.Contains(err.Error(), bad[len(SecretPrefix):]) {
			t.Errorf("error %q quotes the secret", err)
		}
	}
}

func TestSignIsSpecHMAC(t *testing.T) {
	// Computed here the plain way: HMAC-SHA256 over "<id>.<ts>.<body>".
	key := Key("a key of twenty-four+ bytes")
	body := []byte(`{"code":"042137"}`)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("msg_1.1674087231." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := key.Sign("msg_1", 1674087231, body); got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestSetHeaders(t *testing.T) {
	now := time.Unix(1700000000, 999e6)
	h := http.Header{}
	key := Key("k")
	key.SetHeaders(h, "vid-1", now, []byte("{}"))
	if h.Get(HeaderID) != "vid-1" || h.Get(HeaderTimestamp) != "1700000000" ||
		h.Get(HeaderSignature) != key.Sign("vid-1", 1700000000, []byte("{}")) {
		t.Fatalf("headers %v", h)
	}
	// Unsigned: id and timestamp still go, no signature.
	h = http.Header{}
	Key(nil).SetHeaders(h, "vid-1", now, []byte("{}"))
	if h.Get(HeaderID) != "vid-1" || h.Get(HeaderTimestamp) == "" {
		t.Fatalf("unsigned headers %v", h)
	}
	if h.Get(HeaderSignature) != "" {
		t.Fatalf("unsigned delivery has a signature: %v", h)
	}
}

func TestVerify(t *testing.T) {
	key := Key("secret-key-for-tests")
	now := time.Unix(1700000000, 0)
	body := []byte(`{"a":1}`)
	signed := func() http.Header {
		h := http.Header{}
		key.SetHeaders(h, "id-1", now, body)
		return h
	}
	if err := key.Verify(signed(), body, now); err != nil {
		t.Fatalf("own signature: %v", err)
	}
	// Lower-case names (a header map built by hand) verify too.
	lower := http.Header{}
	for k, v := range signed() {
		lower[strings.ToLower(k)] = v
	}
	if err := key.Verify(lower, body, now); err != nil {
		t.Fatalf("lower-case names: %v", err)
	}
	// A rotation list: an unknown version and a wrong v1 before the good one.
	rot := signed()
	rot.Set(HeaderSignature, "v1a,AAAA v1,d3Jvbmc= "+rot.Get(HeaderSignature))
	if err := key.Verify(rot, body, now); err != nil {
		t.Fatalf("rotation list: %v", err)
	}

	bad := map[string]func() (http.Header, []byte, time.Time){
		"tampered body": func() (http.Header, []byte, time.Time) { return signed(), []byte(`{"a":2}`), now },
		"other key": func() (http.Header, []byte, time.Time) {
			h := http.Header{}
			Key("other").SetHeaders(h, "id-1", now, body)
			return h, body, now
		},
		"other id": func() (http.Header, []byte, time.Time) {
			h := signed()
			h.Set(HeaderID, "id-2")
			return h, body, now
		},
		"moved timestamp": func() (http.Header, []byte, time.Time) {
			h := signed()
			h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10))
			return h, body, now
		},
		"too old":      func() (http.Header, []byte, time.Time) { return signed(), body, now.Add(Tolerance + time.Second) },
		"too new":      func() (http.Header, []byte, time.Time) { return signed(), body, now.Add(-Tolerance - time.Second) },
		"no signature": func() (http.Header, []byte, time.Time) { h := signed(); h.Del(HeaderSignature); return h, body, now },
		"no id":        func() (http.Header, []byte, time.Time) { h := signed(); h.Del(HeaderID); return h, body, now },
		"no timestamp": func() (http.Header, []byte, time.Time) { h := signed(); h.Del(HeaderTimestamp); return h, body, now },
		"timestamp not int": func() (http.Header, []byte, time.Time) {
			h := signed()
			h.Set(HeaderTimestamp, "17e8")
			return h, body, now
		},
		"unsigned (nil key)": func() (http.Header, []byte, time.Time) {
			h := http.Header{}
			Key(nil).SetHeaders(h, "id-1", now, body)
			return h, body, now
		},
		"v1a only": func() (http.Header, []byte, time.Time) {
			h := signed()
			h.Set(HeaderSignature, "v1a"+h.Get(HeaderSignature)[2:])
			return h, body, now
		},
	}
	for name, mk := range bad {
		t.Run(name, func(t *testing.T) {
			h, b, at := mk()
			if err := key.Verify(h, b, at); err == nil {
				t.Fatal("verified")
			}
		})
	}
}

// jsCase is one input of tests/webhookjs/verify.mjs.
type jsCase struct {
	Secret  string            `json:"secret"`
	Raw     bool              `json:"raw"`
	Body    string            `json:"body"`
	Headers map[string]string `json:"headers"`
}

// TestReferenceLibraryVerifies runs our signatures through the Standard
// Webhooks project's own npm library (standardwebhooks), the one a Node
// receiver uses: it must accept what Sign makes, with a whsec_ secret and
// with a raw one, and refuse a tampered body. Skipped only where there is
// no node; with node, missing packages are a failure.
func TestReferenceLibraryVerifies(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH")
	}
	dir := filepath.Join("..", "..", "tests", "webhookjs")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks", "package.json")); err != nil {
		t.Fatalf("standardwebhooks is not installed: run `npm ci` in tests/webhookjs (./test.sh does): %v", err)
	}

	body := `{"verification_id":"vid-1","channel":"email","to":"zhang.san@bücher.example","code":"042137","usage":"","expires_in":600}`
	now := time.Now()
	keyBytes := []byte("0123456789abcdef0123456789abcdef\x00\xff")
	whsec := SecretPrefix + base64.StdEncoding.EncodeToString(keyBytes)
	const raw = "a plain ascii secret, used as its bytes"

	sign := func(secret, id string, at time.Time, b string) map[string]string {
		key, err := ParseSecret(secret)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		key.SetHeaders(h, id, at, []byte(b))
		out := map[string]string{}
		for k, v := range h {
			out[k] = v[0]
		}
		return out
	}
	cases := []struct {
		jsCase
		wantOK bool
	}{
		{jsCase{whsec, false, body, sign(whsec, "vid-1", now, body)}, true},
		{jsCase{raw, true, body, sign(raw, "vid-2", now, body)}, true},
		{jsCase{whsec, false, body + " ", sign(whsec, "vid-1", now, body)}, false},
		{jsCase{whsec, false, body, sign(whsec, "vid-1", now.Add(-10*time.Minute), body)}, false},
		{jsCase{whsec, false, body, sign(raw, "vid-1", now, body)}, false},
	}
	in := make([]jsCase, len(cases))
	for i, c := range cases {
		in[i] = c.jsCase
	}
	stdin, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "verify.mjs")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("verify.mjs: %v\n%s", err, stderr.String())
	}
	var got []struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(cases) {
		t.Fatalf("verify.mjs answered %q (%v)", out, err)
	}
	for i, c := range cases {
		if got[i].OK != c.wantOK {
			t.Errorf("case %d (raw %v, id %s): library ok=%v (%s), want %v", i, c.Raw, c.Headers[http.CanonicalHeaderKey(HeaderID)], got[i].OK, got[i].Error, c.wantOK)
		}
	}
}

// FuzzVerify: no header, body or timestamp makes Verify panic, and only
// the exact signed triple verifies.
func FuzzVerify(f *testing.F) {
	key := Key("fuzz-key")
	now := time.Unix(1700000000, 0)
	f.Add("id-1", "1700000000", key.Sign("id-1", 1700000000, []byte("{}")), []byte("{}"))
	f.Add("", "", "", []byte(nil))
	f.Add("a.b", "-1", "v1,=== v1a,x", []byte("x"))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{HeaderID: {id}, HeaderTimestamp: {ts}, HeaderSignature: {sig}}
		if key.Verify(h, body, now) != nil {
			return
		}
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			t.Fatalf("verified an unparsable timestamp %q", ts)
		}
		if !strings.Contains(" "+sig+" ", " "+key.Sign(id, n, body)+" ") {
			t.Fatalf("verified %q without its signature", sig)
		}
	})
}

// FuzzParseSecret: any configured string either is refused or gives a
// non-empty key, which is the base64 after whsec_ or the string itself.
func FuzzParseSecret(f *testing.F) {
	f.Add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	f.Add("plain")
	f.Add("whsec_")
	f.Add("whsec_a")
	f.Fuzz(func(t *testing.T, secret string) {
		key, err := ParseSecret(secret)
		if err != nil {
			return
		}
		if len(key) == 0 {
			t.Fatalf("empty key from %q", secret)
		}
		b64, ok := strings.CutPrefix(secret, SecretPrefix)
		if !ok {
			if string(key) != secret {
				t.Fatalf("raw secret %q became %x", secret, key)
			}
			return
		}
		// Exactly padded standard base64, which the receivers' decoders
		// (docs/webhooks.md, the Standard Webhooks libraries) take alike.
		if base64.StdEncoding.EncodeToString(key) != b64 {
			t.Fatalf("whsec_ secret %q decoded to %x", secret, key)
		}
	})
}
