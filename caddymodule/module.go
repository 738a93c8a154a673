// Package caddymodule is authedge's Caddy glue and nothing more: it
// registers the http.handlers.authedge module and its Caddyfile directive,
// parses the Caddyfile, builds the verifier, store, code sender and API from
// the configuration in Provision and releases them in Cleanup. Requests are
// served by package handler; configuration rules live in package config.
package caddymodule

import (
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/edge"
	"github.com/authedge/caddy-authedge/handler"
	"github.com/authedge/caddy-authedge/metrics"
	"github.com/authedge/caddy-authedge/store"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterDirective("authedge", parseDirective)
	// Before basic_auth puts authedge ahead of respond, reverse_proxy,
	// file_server, handle and route, so a Caddyfile needs no order line.
	httpcaddyfile.RegisterDirectiveOrder("authedge", httpcaddyfile.Before, "basic_auth")
}

// Handler is authedge as a Caddy HTTP handler: it serves the CloudBase
// profile endpoints under /auth/v1/ and passes every other request to the
// next handler: untouched, or through the identity edge when the config has
// an identity block (docs/identity.md).
//
// Its JSON fields are those of config.Config, at the top level of the
// handler object (beside "handler": "authedge").
type Handler struct {
	config.Config

	logger *zap.Logger
	api    *handler.API
	edge   *edge.Edge // nil without an identity block
	store  *store.Store
	// metrics are the process's collectors, registered with this config's
	// registry (metrics.go).
	metrics *metrics.Set
	// jwksURL is the key under which this handler holds a reference to a
	// shared remote JWKS in jwksPool; "" when it holds none.
	jwksURL string
	// eventsKey is the key under which this handler holds a reference to
	// a shared events worker in eventsPool; "" when it holds none.
	eventsKey string
	// backendKey is the key under which this handler holds a reference to
	// its environment's store and revocation checker in backendPool; ""
	// when it holds none.
	backendKey string
	// proxies warns once per server about lenient trusted_proxies
	// (proxywarn.go).
	proxies *proxyWarnings
	// eventsURL is this handler's entry in eventsURLs; nil when it has
	// none.
	eventsURL *eventsURLKey
	// sharedLogs are the logs of the shared components this handler
	// holds (sharedlog.go), which Cleanup lets go.
	sharedLogs []*sharedLog
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.authedge",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
