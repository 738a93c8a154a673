// Package handler serves authedge's HTTP endpoints with plain net/http. It
// knows nothing of Caddy: caddymodule builds an API in Provision and hands it
// the requests for which Handles reports true.
package handler

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/notify"
	"github.com/authedge/caddy-authedge/store"
	"github.com/authedge/caddy-authedge/token"
)

// Verifier checks an access token for the request's effective client_id.
// *token.Verifier implements it; every failure is a *token.Error.
type Verifier interface {
	Verify(ctx context.Context, raw, clientID string) (*token.Claims, error)
}

// Deps are the parts an API is built from.
type Deps struct {
	Verifier Verifier
	Store    *store.Store
	// Sender delivers verification codes; nil makes the verification
	// endpoints answer 501 unimplemented.
	Sender notify.Sender
	// Logger receives one debug line per rejected request and one info
	// audit line per successful change. nil: no logs.
	Logger *zap.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// API serves the six authedge endpoints.
type API struct {
	cfg  *config.Config
	deps Deps
}

// New builds an API. cfg must have had ApplyDefaults and pass Validate.
func New(cfg *config.Config, deps Deps) (*API, error) {
	return &API{cfg: cfg, deps: deps}, nil
}

// Handles reports whether r's path is one of the endpoints this API serves
// (whatever the method: a wrong method is answered 405 here). Every other
// request belongs to the next handler.
func (a *API) Handles(r *http.Request) bool { return false }

// ServeHTTP answers a request for which Handles reported true.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not implemented", http.StatusNotImplemented)
}
