package caddymodule

import (
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/edge"
	"github.com/authedge/caddy-authedge/token"
)

// Placeholder prefixes of the identity edge (docs/identity.md).
const (
	userPlaceholder    = "http.auth.user."
	profilePlaceholder = "authedge.profile."
)

// provisionIdentity makes Caddy's access log show the user of every call
// authedge's endpoints authenticate, and builds the identity edge when the
// config has an identity block. It loads the authedge app then, whose
// Start looks for handle_errors routes that go round the edge
// (errorroutes.go).
func (h *Handler) provisionIdentity(ctx caddy.Context) error {
	h.api.OnAuthenticated(setUserPlaceholder)
	if h.Identity == nil {
		return nil
	}
	if _, err := appOf(ctx); err != nil {
		return err
	}
	var err error
	h.edge, err = edge.New(edge.Options{
		Identity:      h.Identity,
		EnvironmentID: h.EnvironmentID,
		Auth:          h.api,
		Profiles:      laggingProfiles{h.store},
		Logger:        h.logger,
	})
	return err
}

// serveApp runs a request for the app through the edge, then hands it to
// next with the caller's placeholders set.
// It reports whether the request goes on; if not, it has been answered.
func (h *Handler) serveApp(w http.ResponseWriter, r *http.Request) bool {
	if h.edge.HandlesJWKS(r) {
		h.edge.ServeJWKS(w, r)
		return false
	}
	id, ok := h.edge.Serve(w, r)
	switch {
	case ok && id != nil:
		setIdentityPlaceholders(r, id)
	case ok:
		setAnonymousPlaceholders(r)
	}
	return ok
}

// setAnonymousPlaceholders makes the identity placeholders empty for a
// request without a valid token: Caddy leaves an unknown placeholder as
// written in header_up, and the app must never take the text
// "{http.auth.user.id}" for a user. Caddy's vars directive, which runs
// before authedge, may have set {http.auth.user.id} (its way to name the
// access log's user), from a header the client chose: a value set so
// outranks every provider, so it is cleared.
func setAnonymousPlaceholders(r *http.Request) {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Delete(userPlaceholder + "id")
		repl.Map(anonymousPlaceholders)
	}
}

func anonymousPlaceholders(key string) (any, bool) {
	if strings.HasPrefix(key, userPlaceholder) || strings.HasPrefix(key, profilePlaceholder) {
		return "", true
	}
	return nil, false
}

// setUserPlaceholder sets {http.auth.user.id}, which Caddy's access log
// reads, for a request one of authedge's endpoints authenticated.
func setUserPlaceholder(r *http.Request, claims *token.Claims) {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set(userPlaceholder+"id", claims.Subject)
	}
}

// setIdentityPlaceholders sets {http.auth.user.id} (the sub) as Caddy's
// authentication handler does, and a provider for the rest, which costs
// nothing until something uses it: {http.auth.user.<claim>} for the
// token's top-level string, number and boolean claims, and
// {authedge.profile.<field>}, read from Redis at the first use (and not
// again in the same request). A missing claim, an unknown profile field
// and a profile that cannot be read resolve to the empty string.
func setIdentityPlaceholders(r *http.Request, id *edge.Identity) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	repl.Set(userPlaceholder+"id", id.Claims.Subject)
	repl.Map(func(key string) (any, bool) {
		if name, ok := strings.CutPrefix(key, userPlaceholder); ok {
			v, _ := id.Claim(name) // a missing claim is empty, as for anonymous requests
			return v, true
		}
		if field, ok := strings.CutPrefix(key, profilePlaceholder); ok {
			if !slices.Contains(config.ProfileFields, field) {
				return "", true // as for anonymous requests: never the placeholder's text
			}
			v, err := id.ProfileField(field)
			if err != nil {
				return "", true
			}
			return v, true
		}
		return nil, false
	})
}
