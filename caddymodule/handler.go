package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// ServeHTTP answers authedge's endpoints; every other request is the app's:
// without an identity block it passes untouched (this check is all that
// authedge then costs the app's traffic), with one it goes through the
// identity edge first (docs/identity.md).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !h.api.Handles(r) {
		if h.edge == nil {
			return next.ServeHTTP(w, r)
		}
		if !h.serveApp(w, r) {
			return nil // answered by the edge
		}
		return next.ServeHTTP(w, r)
	}
	h.proxies.check(r, h.logger)
	// The API writes every answer itself, errors included, in the JSON
	// shape clients expect; nothing is left for Caddy's error handling.
	h.api.ServeHTTP(w, r)
	return nil
}
