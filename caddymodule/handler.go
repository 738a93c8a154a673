package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// ServeHTTP answers authedge's endpoints and hands every other request to
// next as it came: this check is all that authedge costs the app's traffic.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !h.api.Handles(r) {
		return next.ServeHTTP(w, r)
	}
	// The API writes every answer itself, errors included, in the JSON
	// shape clients expect; nothing is left for Caddy's error handling.
	h.api.ServeHTTP(w, r)
	return nil
}
