// Package handler serves authedge's HTTP endpoints with plain net/http. It
// knows nothing of Caddy: caddymodule builds an API in Provision and hands it
// the requests for which Handles reports true.
package handler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/metrics"
	"github.com/authedge/caddy-authedge/notify"
	"github.com/authedge/caddy-authedge/revoke"
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
	// ClientIP is the address a request comes from, for the per-IP limits
	// (caddymodule gives Caddy's client IP, which honours
	// trusted_proxies). nil: the host of RemoteAddr.
	ClientIP func(*http.Request) string
	// Metrics receives the requests, token checks, code sends and refused
	// edits (docs/metrics.md); nil: none.
	Metrics *metrics.Set
	// Revocations checks verified tokens against the revocations of
	// Store's environment. It may be shared: caddymodule keeps one per
	// environment across handlers and config reloads, so that a reload
	// reloads nothing it already knows. nil: New makes one on Store, and
	// Close stops it; one given is left to its owner.
	Revocations *revoke.Checker
	// CodeKey keys the digests under which verification codes are kept in
	// Redis (docs/storage.md): with it, Redis's contents (a backup, a
	// replica, MONITOR) do not give away a pending code, which an unkeyed
	// digest of six digits would after a million guesses. Every instance
	// that verifies another's codes needs the same key; caddymodule
	// derives it from the verification webhook's secret. nil: unkeyed.
	CodeKey []byte
}

// API serves authedge's endpoints (the table below). It checks every
// verified token against the revocations (docs/revocation.md), reading
// their log in the background from the first check on; Close stops that.
type API struct {
	// authenticated, if set, is told of every request whose token an
	// endpoint accepted (OnAuthenticated).
	authenticated func(r *http.Request, claims *token.Claims)

	cfg       *config.Config
	deps      Deps
	log       *zap.Logger
	now       func() time.Time
	clientIDs map[string]struct{}
	routes    map[string]*endpoint
	// prefixed are the endpoints whose path ends in a parameter.
	prefixed []*endpoint
	policy   policy
	// revocations answers whether a verified token is revoked.
	revocations *revoke.Checker
	// ownsRevocations: New made revocations, and Close stops it.
	ownsRevocations bool
	obs             apiMetrics
}

// endpoint is one intercepted path: the method it accepts and what serves it
// once the common checks (docs/api.md#order-of-checks) have passed.
type endpoint struct {
	name    string // for logs
	path    string
	method  string
	hasBody bool
	// anonymous: no access token: verification/verify
	// (docs/api.md#authorization), checkIfUserExist (docs/api.md) and
	// revoke (docs/revocation.md#the-endpoints).
	anonymous bool
	// prefix: path is a prefix, the rest of the request's path a
	// parameter that serve validates.
	prefix bool
	serve  func(a *API, w http.ResponseWriter, c *call) *apiError
}

const apiPrefix = "/auth/v1/"

var endpoints = []*endpoint{
	{name: "user.basic.edit", path: apiPrefix + "user/basic/edit", method: http.MethodPost, hasBody: true, serve: (*API).serveEdit},
	{name: "user.me", path: apiPrefix + "user/me", method: http.MethodGet, serve: (*API).serveMe},
	{name: "verification", path: apiPrefix + "verification", method: http.MethodPost, hasBody: true, serve: (*API).serveSendCode},
	{name: "verification.verify", path: apiPrefix + "verification/verify", method: http.MethodPost, hasBody: true, anonymous: true, serve: (*API).serveVerifyCode},
	{name: "user.sudo", path: apiPrefix + "user/sudo", method: http.MethodPost, hasBody: true, serve: (*API).serveSudo},
	{name: "user.contact", path: apiPrefix + "user/contact", method: http.MethodPatch, hasBody: true, serve: (*API).serveEditContact},
	{name: "revoke", path: apiPrefix + "revoke", method: http.MethodPost, hasBody: true, anonymous: true, serve: (*API).serveRevoke},
	{name: "user.signout", path: apiPrefix + "user/signout", method: http.MethodPost, hasBody: true, serve: (*API).serveSignout},
	{name: "user.revoke.all", path: apiPrefix + "user/revoke/all", method: http.MethodDelete, serve: (*API).serveRevokeAll},
	{name: "user.authorized.devices", path: apiPrefix + "user/authorized/devices/", prefix: true, method: http.MethodDelete, serve: (*API).serveRevokeDevice},
	// More of CloudBase's user API (docs/api.md): the OIDC profile, the
	// username checks and the admins' user query.
	{name: "user.profile", path: apiPrefix + "user/profile", method: http.MethodPatch, hasBody: true, serve: (*API).serveSetProfile},
	{name: "check_username", path: apiPrefix + "checkUsername", method: http.MethodGet, serve: (*API).serveCheckUsername},
	{name: "check_if_user_exist", path: apiPrefix + "checkIfUserExist", method: http.MethodGet, anonymous: true, serve: (*API).serveCheckIfUserExist},
	{name: "user.query", path: apiPrefix + "user/query", method: http.MethodGet, serve: (*API).serveQueryUsers},
	{name: "user.security.history", path: apiPrefix + "user/security/history", method: http.MethodGet, serve: (*API).serveHistory},
}

// New builds an API. cfg must have had ApplyDefaults and pass Validate.
func New(cfg *config.Config, deps Deps) (*API, error) {
	if deps.Verifier == nil || deps.Store == nil {
		return nil, errors.New("handler: a Verifier and a Store are required")
	}
	a := &API{
		cfg:       cfg,
		deps:      deps,
		log:       deps.Logger,
		now:       deps.Now,
		clientIDs: map[string]struct{}{cfg.EnvironmentID: {}},
	}
	var err error
	if a.policy, err = newPolicy(cfg); err != nil {
		return nil, fmt.Errorf("handler: %w", err)
	}
	if a.log == nil {
		a.log = zap.NewNop()
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.deps.ClientIP == nil {
		a.deps.ClientIP = remoteHost
	}
	a.obs = newAPIMetrics(deps.Metrics)
	for _, id := range cfg.ClientIDs {
		a.clientIDs[id] = struct{}{}
	}
	a.routes, a.prefixed = routeTable()
	a.revocations = deps.Revocations
	if a.revocations == nil {
		if a.revocations, err = revoke.New(deps.Store, revoke.Options{Logger: a.log}); err != nil {
			return nil, fmt.Errorf("handler: %w", err)
		}
		a.ownsRevocations = true
	}
	return a, nil
}

// Close stops what the API runs in the background (the revocation log
// reader it made, not one given in Deps). The API still serves
// afterwards, checking revocations in Redis on every request; the Store
// stays the caller's to close.
func (a *API) Close() error {
	if !a.ownsRevocations {
		return nil
	}
	return a.revocations.Close()
}

// routeTable indexes endpoints: exact paths in a map, prefixes in a list.
func routeTable() (exact map[string]*endpoint, prefixed []*endpoint) {
	exact = make(map[string]*endpoint, len(endpoints))
	for _, ep := range endpoints {
		if ep.prefix {
			prefixed = append(prefixed, ep)
			continue
		}
		exact[ep.path] = ep
	}
	return exact, prefixed
}

// route is the endpoint that serves path, or nil.
func (a *API) route(path string) *endpoint {
	if ep, ok := a.routes[path]; ok {
		return ep
	}
	for _, ep := range a.prefixed {
		if strings.HasPrefix(path, ep.path) {
			return ep
		}
	}
	return nil
}

// Handles reports whether r's path is one of the endpoints this API serves
// (whatever the method: a wrong method is answered 405 here). Every other
// request belongs to the next handler.
func (a *API) Handles(r *http.Request) bool {
	path := r.URL.Path
	if !strings.HasPrefix(path, apiPrefix) {
		return false
	}
	return a.route(path) != nil
}

// ServeHTTP answers a request for which Handles reported true.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep := a.route(r.URL.Path)
	if ep == nil {
		http.NotFound(w, r) // only when a caller skipped Handles
		return
	}
	c := calls.Get().(*call)
	*c = call{r: r, endpoint: ep.name}
	defer func() {
		// No panic reaches a client as a dropped connection: it is an
		// internal error, logged with its endpoint and nothing of the request.
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.log.Error("panic while serving", zap.String("endpoint", ep.name), panicField(v), zap.Stack("stack"))
			e := internalError()
			a.obs.answered(ep, e)
			writeError(w, e)
		}
	}()
	err := settle(r, a.serve(w, ep, c))
	a.obs.answered(ep, err)
	if err != nil {
		a.logRejection(ep, c, err)
		writeError(w, err)
	}
	// Only after a normal return: what a panic left half done is not
	// reused.
	if c.bodyBuffer != nil {
		putBuffer(c.bodyBuffer)
	}
	*c = call{}
	calls.Put(c)
}

// calls are reused: nothing keeps a call past its ServeHTTP (the store,
// the token checks and the log lines take what they need from it and
// return), and a request's one allocation of it was garbage under load.
var calls = sync.Pool{New: func() any { return new(call) }}

// panicField describes a panic for the log without its value, which may
// hold request data (a contact, a token), unless it is the runtime's own
// error (a nil dereference, an index out of range), which holds none.
func panicField(v any) zap.Field {
	if re, ok := v.(runtime.Error); ok {
		return zap.String("panic", re.Error())
	}
	return zap.String("panic", fmt.Sprintf("a %T (value not logged)", v))
}

// serve runs the common steps 1 to 3 (docs/api.md#order-of-checks) in order,
// then the endpoint.
func (a *API) serve(w http.ResponseWriter, ep *endpoint, c *call) *apiError {
	if c.r.Method != ep.method {
		return methodNotAllowed(ep.method)
	}
	if ep.hasBody {
		c.bodyBuffer = buffers.Get().(*[]byte)
		body, err := readBody(c.r, c.bodyBuffer)
		if err != nil {
			return err
		}
		c.body = body
	}
	var err *apiError
	if c.clientID, err = a.clientID(c.r); err != nil {
		return err
	}
	if c.deviceID, err = deviceID(c.r); err != nil {
		return err
	}
	if !ep.anonymous {
		if err := a.authenticate(c); err != nil {
			return err
		}
		if a.authenticated != nil {
			a.authenticated(c.r, c.claims)
		}
	}
	return ep.serve(a, w, c)
}

// storeError maps a store failure that no endpoint handles itself.
func (a *API) storeError(c *call, err error) *apiError {
	var conflictErr *store.ConflictError
	var limited *store.RateLimitedError
	switch {
	case errors.As(err, &conflictErr):
		return conflict(conflictErr.Field)
	case errors.As(err, &limited):
		return resourceExhausted(limited.RetryAfter)
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return unavailable()
	case errors.Is(err, store.ErrUserNotFound):
		return errUserNotFound
	case errors.Is(err, store.ErrSudoRequired):
		return errSudoRequired
	case errors.Is(err, store.ErrVerificationRequired):
		return errVerificationRequired
	case errors.Is(err, store.ErrInvalidVerificationToken):
		return errInvalidVerificationToken
	case errors.Is(err, store.ErrInvalidCode):
		return errInvalidVerificationCode
	}
	a.log.Error("store failed", zap.String("endpoint", c.endpoint), zap.Error(err))
	return internalError()
}

// logRejection is the one line per rejected request, at its error's
// logLevel.
func (a *API) logRejection(ep *endpoint, c *call, e *apiError) {
	ce := a.log.Check(e.logLevel(), "request rejected")
	if ce == nil {
		return
	}
	fields := []zap.Field{
		zap.String("endpoint", ep.name),
		zap.Int("status", e.status),
		zap.String("error", e.code),
		zap.String("reason", e.description),
	}
	if c.claims != nil {
		fields = append(fields, zap.String("sub", c.claims.Subject))
	}
	ce.Write(fields...)
}
