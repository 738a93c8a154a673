package caddymodule

import (
	"net/http"
	"sync"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// proxyWarnings warns, once per Caddy server, that the server trusts
// proxies without trusted_proxies_strict. Caddy then takes the left-most
// X-Forwarded-For entry as {client_ip}, and a proxy that appends to the
// header (as most do) lets the client choose it: every forged address is
// a fresh budget of the per-IP limits (checkIfUserExist lookups, wrong
// codes). docs/configuration.md#rate_limit says what to set.
type proxyWarnings struct {
	// checked holds the *caddyhttp.Server values already decided: warned,
	// or strict.
	checked sync.Map
}

// check looks at a request authedge serves. Caddy zeroes the server's
// trusted_proxies JSON once loaded, so a request that came through a
// trusted proxy (Caddy's trusted_proxy variable) is what shows the server
// trusts some. A nil p checks nothing.
func (p *proxyWarnings) check(r *http.Request, logger *zap.Logger) {
	if p == nil {
		return
	}
	srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if !ok || srv == nil {
		return
	}
	if _, done := p.checked.Load(srv); done {
		return
	}
	if srv.TrustedProxiesStrict > 0 {
		p.checked.Store(srv, struct{}{})
		return
	}
	if trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool); !trusted {
		return
	}
	if _, loaded := p.checked.LoadOrStore(srv, struct{}{}); !loaded {
		logger.Warn("this server trusts proxies without trusted_proxies_strict: Caddy takes the left-most "+
			"X-Forwarded-For entry as the client IP, which a client behind an appending proxy chooses, "+
			"so the per-IP limits (checkIfUserExist lookups, wrong codes) can be bypassed; "+
			"add trusted_proxies_strict to the server's options (docs/configuration.md)",
			zap.Strings("listen", srv.Listen))
	}
}
