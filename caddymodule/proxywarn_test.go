package caddymodule

import (
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// TestLenientTrustedProxiesWarnOncePerServer: a request that reached a
// server through a trusted proxy, on a server without
// trusted_proxies_strict, logs one warning for that server however many
// requests follow; a strict server, or a request not from a trusted
// proxy, logs none. (A Unix socket peer, "@", stands in for a trusted
// proxy: the server's trusted_proxies ranges are not settable from
// outside Caddy.)
func TestLenientTrustedProxiesWarnOncePerServer(t *testing.T) {
	serve := func(p *proxyWarnings, logger *zap.Logger, srv *caddyhttp.Server, remote string) {
		r := httptest.NewRequest("GET", "/auth/v1/checkIfUserExist?username=a", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", "10.0.0.1, 198.51.100.7")
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, srv)
		p.check(r, logger)
	}
	for _, c := range []struct {
		name   string
		srv    *caddyhttp.Server
		remote string
		want   int
	}{
		{"lenient, through a trusted proxy", &caddyhttp.Server{TrustedProxiesUnix: true}, "@", 1},
		{"strict, through a trusted proxy", &caddyhttp.Server{TrustedProxiesUnix: true, TrustedProxiesStrict: 1}, "@", 0},
		{"lenient, not through a proxy", &caddyhttp.Server{TrustedProxiesUnix: true}, "198.51.100.7:4000", 0},
		{"no trusted proxies", &caddyhttp.Server{}, "198.51.100.7:4000", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.WarnLevel)
			logger := zap.New(core)
			p := new(proxyWarnings)
			for range 5 {
				serve(p, logger, c.srv, c.remote)
			}
			if got := logs.FilterMessageSnippet("trusted_proxies_strict").Len(); got != c.want {
				t.Errorf("%d warnings after 5 requests, want %d: %v", got, c.want, logs.All())
			}
		})
	}
	// Each server is warned about once.
	core, logs := observer.New(zapcore.WarnLevel)
	logger := zap.New(core)
	p := new(proxyWarnings)
	a, b := &caddyhttp.Server{TrustedProxiesUnix: true}, &caddyhttp.Server{TrustedProxiesUnix: true}
	for range 3 {
		serve(p, logger, a, "@")
		serve(p, logger, b, "@")
	}
	if got := logs.Len(); got != 2 {
		t.Errorf("%d warnings for two lenient servers, want 2", got)
	}
	// A Handler built without Provision checks nothing, and does not panic.
	var none *proxyWarnings
	serve(none, logger, a, "@")
}
