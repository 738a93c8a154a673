package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// Caddy hands a server's handle_errors routes the errors of what runs
// before authedge too (its own refusals, try_files with a status,
// request_body's 413), with the request as the client sent it: identity
// headers and all, no path checked. An error route that proxies such a
// request to the app without an identity edge of its own delivers the
// client's X-User-Id as if authedge had set it
// (docs/configuration.md#other-directives-in-the-site). Which upstream is
// the app and which a static error-page server, no config says; so this
// is a warning at start, which the same authedge first in the error
// routes silences, not a refusal.

// reverseProxyID is the module that sends a request upstream:
// reverse_proxy and php_fastcgi alike.
const reverseProxyID = "http.handlers.reverse_proxy"

// warnUnguardedErrorRoutes warns once per server of the config's http app
// whose routes run an identity edge and whose error routes reach a
// reverse_proxy that no identity edge runs before.
func warnUnguardedErrorRoutes(ctx caddy.Context, logger *zap.Logger) {
	v, err := ctx.AppIfConfigured("http")
	if err != nil {
		return
	}
	app, ok := v.(*caddyhttp.App)
	if !ok {
		return
	}
	for name, srv := range app.Servers {
		if srv.Errors == nil || !runsEdge(srv.Routes) {
			continue
		}
		if reached, _ := unguardedProxy(srv.Errors.Routes, false); reached {
			logger.Warn("this server's handle_errors sends requests upstream (reverse_proxy, php_fastcgi) "+
				"without authedge before it: errors raised before authedge (Caddy's own refusals, "+
				"try_files =404, request_body's 413) reach it with the client's own identity headers; "+
				"if the upstream is the app, put the same authedge first in handle_errors "+
				"(docs/configuration.md#other-directives-in-the-site)",
				zap.String("server", name))
		}
	}
}

// runsEdge reports whether routes hold an authedge handler with an
// identity block, at any depth.
func runsEdge(routes caddyhttp.RouteList) bool {
	for _, rt := range routes {
		for _, h := range rt.Handlers {
			switch h := h.(type) {
			case *Handler:
				if h.edge != nil {
					return true
				}
			case *caddyhttp.Subroute:
				if runsEdge(h.Routes) {
					return true
				}
			}
		}
	}
	return false
}

// unguardedProxy reports whether routes, entered after an identity edge
// ran if guarded, reach a reverse_proxy before any identity edge, and
// whether they run an edge for every request they are given (so that it
// guards what follows them). An edge guards the handlers after it in its
// route, and the routes after its route when that route has no matcher
// (the Caddyfile puts each directive of a block in a route of its own).
func unguardedProxy(routes caddyhttp.RouteList, guarded bool) (reached, ranEdge bool) {
	for _, rt := range routes {
		g := guarded
		for _, h := range rt.Handlers {
			switch h := h.(type) {
			case *Handler:
				g = g || h.edge != nil
			case *caddyhttp.Subroute:
				inner, ran := unguardedProxy(h.Routes, g)
				if inner {
					return true, false
				}
				g = g || ran
			default:
				if m, ok := h.(caddy.Module); ok && m.CaddyModule().ID == reverseProxyID && !g {
					return true, false
				}
			}
		}
		if len(rt.MatcherSets) == 0 {
			guarded = g
		}
	}
	return false, guarded
}
