package edge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/authedge/caddy-authedge/config"
)

// benchEdge runs the pipeline on a protected path with a repeated valid
// token (the verifier's cache hit, as in bench scenario E1), reusing one
// request whose headers are reset between runs.
func benchEdge(b *testing.B, id *config.Identity) {
	e := newEnv(b, id)
	tok := e.token("user-1", map[string]any{"scope": "openid", "tenant": "t"})
	if _, err := e.store.EnsureProfile(b.Context(), "user-1"); err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "http://app.test/app/x", nil)
	// Inside Caddy every request carries a replacer; without one the edge
	// adds it, which would count here.
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	auth := "Bearer " + tok
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.Header = http.Header{"Authorization": {auth}, "Accept": {"*/*"}, "User-Agent": {"bench"}}
		if _, ok := e.edge.Serve(w, r); !ok {
			b.Fatalf("refused: %d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkEdgeUserID is scenario E1's edge: protect, X-User-Id from sub.
func BenchmarkEdgeUserID(b *testing.B) {
	benchEdge(b, &config.Identity{
		Protect: []string{"/app/*"},
		Headers: []config.IdentityHeader{{Name: "X-User-Id", Source: "sub"}},
	})
}

// BenchmarkEdgeAssertionProfile is scenario E2's edge: E1 plus the signed
// assertion (ES256) and two profile headers (one Redis read).
func BenchmarkEdgeAssertionProfile(b *testing.B) {
	benchEdge(b, &config.Identity{
		Protect: []string{"/app/*"},
		Headers: []config.IdentityHeader{
			{Name: "X-User-Id", Source: "sub"},
			{Name: "X-Nickname", Source: "profile.nickname"},
			{Name: "X-Email", Source: "profile.email"},
		},
		Assertion: &config.Assertion{Key: privatePEM(b, newECKey(b))},
	})
}

// BenchmarkEdgeAssertionEdDSA is E2's edge with an Ed25519 key.
func BenchmarkEdgeAssertionEdDSA(b *testing.B) {
	benchEdge(b, &config.Identity{
		Protect:   []string{"/app/*"},
		Headers:   []config.IdentityHeader{{Name: "X-User-Id", Source: "sub"}},
		Assertion: &config.Assertion{Key: privatePEM(b, newEdKey(b))},
	})
}
