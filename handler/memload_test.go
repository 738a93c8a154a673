package handler

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/authedge/caddy-authedge/config"
)

// TestMemoryPerToken is bench/README.md's P5 without Caddy: GET user/me
// for AUTHEDGE_MEMLOAD distinct ES256 tokens, each of its own user, as
// bench/memload rss sends them, metrics on. It logs the live heap before
// and after, per token, fails if the growth exceeds what the bounded
// caches hold, and writes a heap profile to
// AUTHEDGE_MEMLOAD_PROFILE if set (go tool pprof -sample_index=inuse_space).
// Not run by default: 200,000 tokens take about a minute.
//
//	AUTHEDGE_MEMLOAD=200000 AUTHEDGE_MEMLOAD_PROFILE=/tmp/heap.out \
//	    go test -run TestMemoryPerToken -v ./handler/
func TestMemoryPerToken(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("AUTHEDGE_MEMLOAD"))
	if n <= 0 {
		t.Skip("set AUTHEDGE_MEMLOAD to a number of tokens")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "es256.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withMetrics(prometheus.NewRegistry()), withConfig(func(c *config.Config) {
		c.JWT.PublicKeys = []string{keyFile}
	}))
	e.api.log = zap.NewNop()

	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"ES256","typ":"JWT","kid":"bench"}`))
	now := e.clock.Now()
	mint := func(i int) string {
		payload, _ := json.Marshal(struct {
			Iss   string   `json:"iss"`
			Sub   string   `json:"sub"`
			Aud   string   `json:"aud"`
			Iat   int64    `json:"iat"`
			Exp   int64    `json:"exp"`
			Roles []string `json:"roles"`
		}{testIssuer, "bench-user-" + strconv.Itoa(1_000_000_000 + i)[1:], testEnvID, now.Unix(), now.Unix() + 7200, []string{"user"}})
		content := header + "." + enc.EncodeToString(payload)
		d := sha256.Sum256([]byte(content))
		r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return content + "." + enc.EncodeToString(sig)
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	if code := serveBench(e, http.MethodGet, pathMe, "Bearer "+mint(-1), ""); code != http.StatusOK {
		t.Fatalf("warm-up: status %d", code)
	}
	before := heap()
	for i := range n {
		if code := serveBench(e, http.MethodGet, pathMe, "Bearer "+mint(i), ""); code != http.StatusOK {
			t.Fatalf("token %d: status %d", i, code)
		}
	}
	after := heap()
	t.Logf("%d tokens: live heap %.1f MB before, %.1f MB after, %.0f B per token",
		n, float64(before)/(1<<20), float64(after)/(1<<20), (float64(after)-float64(before))/float64(n))
	// Whatever n, what stays is bounded: the token cache (10,000 entries)
	// and nothing per token (the revocation replica judges them all). The
	// verdicts once kept per token held 50 MB at 200,000 tokens.
	const liveBound = 16 << 20
	if after > before+liveBound {
		t.Errorf("the live heap grew by %.1f MB over %d tokens, more than the bounded caches hold (%d MB)",
			float64(after-before)/(1<<20), n, liveBound>>20)
	}
	if path := os.Getenv("AUTHEDGE_MEMLOAD_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			t.Fatal(err)
		}
	}
}
