package caddymodule

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/authedge/caddy-authedge/handler"
	"github.com/authedge/caddy-authedge/notify"
	"github.com/authedge/caddy-authedge/token"
)

// Timeouts of the outside services authedge calls, which
// docs/configuration.md#what-is-fixed leaves unconfigurable.
const (
	// webhookTimeout bounds one code delivery, retries included: the
	// client waiting for its verification_id waits this long at most.
	webhookTimeout = 5 * time.Second
)

// jwksPool shares one remote JWKS per URL between all handlers, across
// config reloads: a reload finds the keys already fetched and kept fresh,
// instead of fetching again and leaving the old refresher running.
var jwksPool = caddy.NewUsagePool()

// pooledJWKS lets the pool stop a remote JWKS when its last user is gone.
type pooledJWKS struct {
	*token.RemoteJWKS
	log *sharedLog
}

func (p pooledJWKS) Destruct() error { return p.Close() }

// Provision fills in the defaults, resolves secret placeholders, checks the
// configuration and then builds what serves requests: the token verifier
// (reading key files, fetching a remote JWKS), the Redis store (connected
// lazily), the code sender and the API. When it fails, Caddy calls Cleanup,
// which releases whatever was built.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.proxies = new(proxyWarnings)
	if err := resolveNames(&h.Config); err != nil {
		return err
	}
	h.ApplyDefaults()

	// Checking first means a bad config costs no key fetch and gets the
	// message that names the directive, not a follow-on failure.
	if err := h.Config.Validate(); err != nil {
		return err
	}
	secrets, err := resolveSecrets(h)
	if err != nil {
		return err
	}

	if h.metrics, err = registerMetrics(ctx); err != nil {
		return err
	}
	var remote *token.RemoteJWKS
	if h.JWT.JWKSURL != "" {
		if remote, err = h.acquireJWKS(ctx, h.JWT.JWKSURL); err != nil {
			return fmt.Errorf("jwt jwks_url: %w", err)
		}
	}
	verifier, err := h.newVerifier(remote)
	if err != nil {
		return err
	}

	shared, err := h.acquireBackend(secrets)
	if err != nil {
		return err
	}
	h.store = shared.store

	sender, err := h.sender(secrets.webhookSecret)
	if err != nil {
		return err
	}
	codeKey, err := codeKey(secrets.webhookSecret)
	if err != nil {
		return err
	}
	if err := h.startEvents(ctx, secrets); err != nil {
		return err
	}
	h.api, err = handler.New(&h.Config, handler.Deps{
		Verifier: verifier,
		Store:    h.store,
		Sender:   sender,
		Logger:   h.logger,
		ClientIP: clientIP,
		Metrics:  h.metrics,
		CodeKey:  codeKey,

		Revocations: shared.revocations,
	})
	if err != nil {
		return err
	}
	return h.provisionIdentity(ctx)
}

// clientIP is the client IP Caddy determined for r, which honours the
// server's trusted_proxies; outside a Caddy server (no such variable), the
// host of RemoteAddr.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// newVerifier builds the token verifier from every configured key source.
// A key file that does not load fails the config with the directive that
// names it.
func (h *Handler) newVerifier(remote *token.RemoteJWKS) (*token.Verifier, error) {
	tc := h.JWT.TokenConfig()
	tc.Remote = remote
	tc.Logger = h.logger
	tc.Observer = tokenObserver(h.metrics)
	v, err := token.New(tc)
	var keyFile *token.KeyFileError
	switch {
	case errors.As(err, &keyFile):
		return nil, fmt.Errorf("jwt %s: %w", keyFile.Source, err)
	case err != nil:
		return nil, fmt.Errorf("jwt: %w", err)
	}
	return v, nil
}

// sender builds the configured code sender, or nil (the verification
// endpoints then answer 501). A webhook secret that cannot be a key (a
// whsec_ one that is not base64) fails the config.
func (h *Handler) sender(webhookSecret string) (notify.Sender, error) {
	v := &h.Verification
	switch {
	case v.Webhook != nil:
		if v.Webhook.InClearText() {
			h.logger.Warn("the verification webhook is plain http to another host: codes, phone numbers " +
				"and emails cross the network unencrypted; use https unless that network is private")
		}
		// notify.NewClient: the one production client, which follows no
		// redirect (docs/webhooks.md).
		w, err := notify.NewWebhook(v.Webhook.URL, webhookSecret, notify.NewClient(), webhookTimeout)
		if err != nil {
			return nil, fmt.Errorf("verification webhook: %w", err)
		}
		return w, nil
	case v.Log:
		h.logger.Warn("verification codes are written to this log: for development only; " +
			"configure `verification { webhook <url> [<secret>] }` for real users")
		return notify.NewLog(h.logger.Named("codes")), nil
	}
	return nil, nil
}

// codeKey is the key of the digests under which verification codes are
// kept in Redis (handler.Deps.CodeKey), derived from the verification
// webhook's secret: every instance sharing the Redis has that secret
// already, and no one who reads Redis need have it. HKDF keeps the two
// uses apart. Without a secret, nil: the digests are unkeyed
// (docs/webhooks.md says so).
func codeKey(webhookSecret string) ([]byte, error) {
	if webhookSecret == "" {
		return nil, nil
	}
	key, err := hkdf.Key(sha256.New, []byte(webhookSecret), nil, "authedge verification code digests", 32)
	if err != nil {
		return nil, fmt.Errorf("verification webhook secret: %w", err)
	}
	return key, nil
}

// acquireJWKS takes a reference to the shared remote JWKS for url, fetching
// it first if no handler holds it yet, and again if one does (a reload).
// Cleanup gives the reference back.
func (h *Handler) acquireJWKS(ctx caddy.Context, url string) (*token.RemoteJWKS, error) {
	val, loaded, err := jwksPool.LoadOrNew(url, func() (caddy.Destructor, error) {
		// token bounds every fetch, the first one included, to 10 s; a
		// config whose keys cannot be had does not load.
		log := newSharedLog(h)
		remote, err := token.NewRemoteJWKS(ctx, url, nil, log.logger())
		if err != nil {
			return nil, err
		}
		return pooledJWKS{RemoteJWKS: remote, log: log}, nil
	})
	if err != nil {
		// A failed construction leaves no entry behind to release.
		return nil, err
	}
	h.jwksURL = url
	p := val.(pooledJWKS)
	h.holdLog(p.log, loaded)
	if loaded {
		// A set kept from the config before is fetched again: reloading
		// is how an operator has a withdrawn key refused now. A failed
		// fetch keeps the set as it was (and is logged): the reload
		// goes on.
		_ = p.Refetch(ctx)
	}
	return p.RemoteJWKS, nil
}

// Validate checks the configuration (config.Validate): only checks, no I/O.
// Provision has run it already, before building anything; Caddy calls it
// again after Provision, and it is what `caddy validate` reports.
func (h *Handler) Validate() error {
	return h.Config.Validate()
}

// Cleanup releases what Provision built: the Redis connections and this
// handler's reference to a shared remote JWKS. Caddy calls it when the
// config is unloaded, and also after a failed Provision or Validate, so it
// copes with a handler built only in part.
func (h *Handler) Cleanup() error {
	var errs []error
	for _, log := range h.sharedLogs {
		log.letGo(h)
	}
	h.sharedLogs = nil
	if h.api != nil {
		if err := h.api.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stopping the API: %w", err))
		}
	}
	// The store and its revocation reader close with the last handler of
	// the environment (backend.go).
	h.store = nil
	if h.backendKey != "" {
		if _, err := backendPool.Delete(h.backendKey); err != nil {
			errs = append(errs, fmt.Errorf("releasing redis: %w", err))
		}
		h.backendKey = ""
	}
	if h.eventsKey != "" {
		if _, err := eventsPool.Delete(h.eventsKey); err != nil {
			errs = append(errs, fmt.Errorf("releasing the events worker: %w", err))
		}
		h.eventsKey = ""
	}
	h.releaseEventsURL()
	if h.jwksURL != "" {
		if _, err := jwksPool.Delete(h.jwksURL); err != nil {
			errs = append(errs, fmt.Errorf("releasing jwks_url: %w", err))
		}
		h.jwksURL = ""
	}
	return errors.Join(errs...)
}
