package handler

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/authedge/caddy-authedge/metrics"
	"github.com/authedge/caddy-authedge/revoke"
	"github.com/authedge/caddy-authedge/store"
	"github.com/authedge/caddy-authedge/token"
)

// The four ways to revoke access tokens (docs/revocation.md), and the check
// that refuses them everywhere a token is checked.

// errRevoked answers a verified token that was revoked.
var errRevoked = unauthenticated("the access token has been revoked")

// checkRevoked is the last step of authenticate: a verified token that
// was revoked is refused, and one whose revocation state cannot be read
// (Redis unreachable) is not accepted either.
func (a *API) checkRevoked(ctx context.Context, raw string, claims *token.Claims) *apiError {
	revoked, err := a.revocations.Revoked(ctx, revoke.Token{
		Raw:           raw,
		ContentDigest: claims.ContentDigest, // raw's, hashed once by the verifier
		Subject:       claims.Subject,
		DeviceID:      claims.DeviceID,
		IssuedAt:      claims.IssuedAt,
	})
	switch {
	case err != nil && (errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)):
		return unavailable()
	case err != nil:
		a.log.Error("revocation check failed", zap.Error(err))
		return internalError()
	case revoked:
		a.obs.tokenRefused(metrics.TokenRevoked)
		return errRevoked
	}
	return nil
}

// revokeBody is POST /auth/v1/revoke's body: RFC 7009's parameters, as
// JSON. A public client sends its client_id in the body, and may send
// token_type_hint, which is only a hint (RFC 7009 2.1): the token is
// looked at as an access token whatever it says.
type revokeBody struct {
	Token         *string `json:"token"`
	TokenTypeHint *string `json:"token_type_hint"`
	ClientID      *string `json:"client_id"`
}

// serveRevoke is POST /auth/v1/revoke (the SDK's signOut()): holding the
// token is the proof, so no Authorization is needed. A token that does
// not verify is answered 200 {} like one that does (RFC 7009 2.2): the
// answer tells nothing about it.
func (a *API) serveRevoke(w http.ResponseWriter, c *call) *apiError {
	var body revokeBody
	if err := decodeBody(c.body, &body); err != nil {
		return err
	}
	raw := strings.TrimSpace(deref(body.Token))
	if raw == "" {
		return invalidArgument("token: required, the access token to revoke")
	}
	if err := a.checkBodyClientID(c, body.ClientID); err != nil {
		return err
	}
	claims, err := a.verifyForRevocation(c, raw)
	if err != nil {
		return err
	}
	if claims != nil {
		revoked, err := a.alreadyRevoked(c, raw, claims)
		if err != nil {
			return err
		}
		if !revoked {
			if err := a.revokeToken(c, raw, claims); err != nil {
				return err
			}
		}
	}
	writeEmpty(w)
	return nil
}

// alreadyRevoked reports whether a verified token is revoked already, by
// itself or by its user's or device's revocation: there is nothing left
// to revoke, so nothing is written or logged. This endpoint needs no
// Authorization and has no limit; without this, anyone holding one token
// could have authedge write and log a revocation per request until the
// token ends. If Redis does not answer within the timeout, that is 503
// at once: the write would wait as long again, and the client is owed
// its 503 within the timeout (docs/api.md). Another failure to read the
// revocations revokes the token as if it were not revoked. Nor is a token
// that may outlive the cutoff covering it (issued more than
// store.RevocationHorizon before its end, or without iat) taken as
// revoked by a cutoff: the cutoff would end first and the token pass
// again, though its holder revoked it; only its own key counts for it. (A covering cutoff is no earlier than iat's
// second, as covers compares them, and its key lasts the horizon from
// when it was set; the token is accepted to its exp plus the leeway.)
func (a *API) alreadyRevoked(c *call, raw string, claims *token.Claims) (bool, *apiError) {
	t := revoke.Token{
		Raw:           raw,
		ContentDigest: claims.ContentDigest,
		Subject:       claims.Subject,
		DeviceID:      claims.DeviceID,
		IssuedAt:      claims.IssuedAt,
	}
	check := a.revocations.Revoked
	accepted := claims.Expiry.Add(a.cfg.JWT.EffectiveLeeway())
	if claims.IssuedAt.IsZero() || accepted.Sub(claims.IssuedAt.Truncate(time.Second)) > store.RevocationHorizon {
		// Its own key, though, lasts as long as it does.
		check = a.revocations.RevokedItself
	}
	revoked, err := check(c.r.Context(), t)
	if err != nil && (errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)) {
		return false, unavailable()
	}
	return err == nil && revoked, nil
}

// verifyForRevocation verifies raw for any client of this environment,
// the request's own first: a token is revocable whichever client it was
// issued to. nil, nil: it does not verify. A token whose key could not be
// looked up (a kid the key set lacks while jwks_url is unreachable) may
// be good: it is errKeysUnavailable, for a 200 would tell its holder it
// was revoked while it stays valid.
func (a *API) verifyForRevocation(c *call, raw string) (*token.Claims, *apiError) {
	ctx := c.r.Context()
	claims, err := a.deps.Verifier.Verify(ctx, raw, c.clientID)
	if err == nil {
		return claims, nil
	}
	if token.KindOf(err) == token.KindKeysUnavailable {
		// The signature, not the client, is what could not be checked:
		// no other client would fare better.
		return nil, errKeysUnavailable
	}
	if token.KindOf(err) != token.KindOther {
		// A bad signature, an expiry or a malformed token fails for
		// every client alike: only the audience (a KindOther) depends
		// on the client. Trying each anyway made one anonymous request
		// cost a signature check per configured client.
		return nil, nil
	}
	for id := range a.clientIDs {
		if id == c.clientID {
			continue
		}
		if claims, err := a.deps.Verifier.Verify(ctx, raw, id); err == nil {
			return claims, nil
		}
	}
	return nil, nil
}

// signoutBody is POST /auth/v1/user/signout's body: the SDK's
// signOut(params) posts whatever params its caller gives, which are the
// identity provider's logout parameters (OpenID Connect RP-initiated
// logout's). They are accepted and ignored, client_id once checked: a
// signout refused for a parameter meant for the provider would leave the
// token valid while the SDK, which drops its credentials whatever the
// answer, shows the user signed out. No URL is ever echoed, so this
// endpoint is no open redirect.
type signoutBody struct {
	RedirectURI           *string `json:"redirect_uri"`
	PostLogoutRedirectURI *string `json:"post_logout_redirect_uri"`
	State                 *string `json:"state"`
	ClientID              *string `json:"client_id"`
	IDTokenHint           *string `json:"id_token_hint"`
	LogoutHint            *string `json:"logout_hint"`
	UILocales             *string `json:"ui_locales"`
}

// serveSignout is POST /auth/v1/user/signout (the SDK's signOut(params)):
// the presented token is revoked.
func (a *API) serveSignout(w http.ResponseWriter, c *call) *apiError {
	var body signoutBody
	if len(strings.TrimSpace(string(c.body))) > 0 {
		if err := decodeBody(c.body, &body); err != nil {
			return err
		}
		if err := a.checkBodyClientID(c, body.ClientID); err != nil {
			return err
		}
	}
	if err := a.revokeToken(c, c.token, c.claims); err != nil {
		return err
	}
	writeEmpty(w)
	return nil
}

// checkBodyClientID checks a client_id given in a revocation's body, as
// public clients send it (RFC 7009 2.1, OpenID Connect logout): a client
// of this environment, and the one the query named if it named one. It
// selects nothing: a token is revocable whichever client it was issued to.
func (a *API) checkBodyClientID(c *call, id *string) *apiError {
	if id == nil || *id == "" {
		return nil
	}
	if _, ok := a.clientIDs[*id]; !ok {
		return invalidArgument("client_id is not a client of this environment")
	}
	if q, _ := clientIDParam(c.r.URL.RawQuery); q != "" && q != *id {
		return invalidArgument("client_id: the body and the query name different clients")
	}
	return nil
}

// revokeToken revokes one token until no verifier would accept it anyway:
// its exp plus the leeway.
func (a *API) revokeToken(c *call, raw string, claims *token.Claims) *apiError {
	// The holder of a token revokes it: its subject is the actor, whether
	// it signs out or posts the token to revoke without Authorization.
	r := a.revocation(c, store.RevokedToken, claims.Subject, claims.Subject)
	r.TokenDigest, r.Until = store.TokenDigest(raw), claims.Expiry.Add(a.cfg.JWT.EffectiveLeeway())
	if _, err := a.deps.Store.Revoke(c.r.Context(), r); err != nil {
		return a.storeError(c, err)
	}
	a.revoked(c, "token revoked", claims.Subject)
	return nil
}

// serveRevokeAll is DELETE /auth/v1/user/revoke/all (the SDK's
// revokeAllDevices): every token of the caller, or with ?user_id= of the
// user an admin names, issued up to now is revoked. A user need not have a
// profile to have tokens, so no existence check is made.
func (a *API) serveRevokeAll(w http.ResponseWriter, c *call) *apiError {
	target := c.claims.Subject
	// Strictly: a misspelt or malformed user_id must not fall back to
	// the caller and revoke the admin's own tokens instead.
	params, err := queryParams(c, "user_id")
	if err != nil {
		return err
	}
	if id, ok := params["user_id"]; ok {
		if id == "" || !validUserID(id) {
			return invalidArgument("user_id: one user ID of at most 256 bytes without control characters")
		}
		target = id
	}
	if target != c.claims.Subject && !c.claims.Admin {
		return insufficientScope(a.cfg.JWT.AdminScope, "only an admin may revoke another user's tokens")
	}
	r := a.revocation(c, store.RevokedUser, target, c.claims.Subject)
	r.Cutoff = a.cutoff(c)
	if _, err := a.deps.Store.Revoke(c.r.Context(), r); err != nil {
		return a.storeError(c, err)
	}
	a.revoked(c, "user's tokens revoked", target)
	writeEmpty(w)
	return nil
}

// devicesPath is where DELETE .../devices/<device_id> starts.
const devicesPath = apiPrefix + "user/authorized/devices/"

// serveRevokeDevice is DELETE /auth/v1/user/authorized/devices/<device_id>
// (the SDK's revokeDevice): the caller's tokens bound to that device and
// issued up to now are revoked.
func (a *API) serveRevokeDevice(w http.ResponseWriter, c *call) *apiError {
	device := strings.TrimPrefix(c.r.URL.Path, devicesPath)
	if !validDeviceID(device) {
		return invalidArgument("device_id: the path must end in 1 to 128 characters of A-Z a-z 0-9 . _ : -")
	}
	// The SDK appends params.device_id as it is: revokeDevice({}) sends
	// "undefined" and {device_id: null} "null". A 200 would tell the app
	// a device was signed out when no token was touched (docs/revocation.md).
	if unsetBySDK(device) {
		return invalidArgument("device_id: required (the path ends in \"" + device + "\": revokeDevice was called without a device_id)")
	}
	// It takes no parameter: a user_id meant as revoke/all's would
	// otherwise be ignored, and the caller's own device revoked instead.
	if _, err := queryParams(c); err != nil {
		return err
	}
	r := a.revocation(c, store.RevokedDevice, c.claims.Subject, c.claims.Subject)
	r.DeviceID, r.Cutoff = device, a.cutoff(c)
	// The device is the caller's to name and the caller's token survives
	// it: without a limit one token could loop over made-up devices, each
	// a key kept 30 days and an entry in every instance's replica.
	// revoke/all, which revokes the caller's own token, needs none.
	r.Limited = true
	if _, err := a.deps.Store.Revoke(c.r.Context(), r); err != nil {
		return a.storeError(c, err)
	}
	a.revoked(c, "device's tokens revoked", c.claims.Subject)
	writeEmpty(w)
	return nil
}

// revocation is a revocation of kind of user's tokens by actor, recorded
// like an edit: with events on, its script appends a user.tokens_revoked
// event (docs/events.md).
func (a *API) revocation(c *call, kind store.RevocationKind, user, actor string) store.Revoke {
	return store.Revoke{Kind: kind, UserID: user, Actor: actor, Origin: a.origin(c), Events: a.policy.events}
}

// cutoff is "now" for revoke/all and a device: this instance's clock, or
// the caller's token's iat when that is later. An issuer whose clock is
// ahead of this one (by up to the leeway the verifier allows) issues
// tokens whose iat is in this instance's future; the caller's own token,
// at least, is then covered too, and so are tokens issued with it.
func (a *API) cutoff(c *call) time.Time {
	now := a.now()
	if c.claims.IssuedAt.After(now) {
		return c.claims.IssuedAt
	}
	return now
}

// revoked follows a revocation Redis has acknowledged: this instance
// applies it before answering, so the client's next request here is
// refused whatever it had remembered, and it logs the audit line.
func (a *API) revoked(c *call, msg, target string) {
	if err := a.revocations.CatchUp(c.r.Context()); err != nil {
		if ce := a.log.Check(zap.DebugLevel, "revocation log not read after a revocation"); ce != nil {
			ce.Write(zap.Error(err))
		}
	}
	a.logRevocation(c, msg, target)
}

// logRevocation is the info audit line of a revocation: who did it and
// whose tokens, never the token.
func (a *API) logRevocation(c *call, msg, target string) {
	if ce := a.log.Check(zap.InfoLevel, msg); ce != nil {
		fields := []zap.Field{zap.String("endpoint", c.endpoint), zap.String("target", target)}
		if c.claims != nil {
			fields = append(fields, zap.String("sub", c.claims.Subject))
		}
		ce.Write(fields...)
	}
}

// writeEmpty answers 200 {}.
func writeEmpty(w http.ResponseWriter) { writeJSON(w, http.StatusOK, []byte("{}")) }
