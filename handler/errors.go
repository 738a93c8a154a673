package handler

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
)

// apiError is one answer of the error catalog (docs/api.md#error-catalog).
// Handlers return it; only writeError turns it into a response, so every
// error body has the one shape {"error", "error_code", "error_description"}.
type apiError struct {
	code        string
	status      int
	description string
	// retryAfter, when positive, becomes a Retry-After header (whole
	// seconds, rounded up).
	retryAfter time.Duration
	// allow is the Allow header of a 405.
	allow string
	// waitedOnRedis marks a 503 for a wait on Redis that ran out: a
	// client that hung up meanwhile is why it ended (settle).
	waitedOnRedis bool
	// challenge is the WWW-Authenticate header of a 401 (RFC 6750).
	challenge string
	// acceptEncoding is the Accept-Encoding header of a 415 refusing a
	// content coding: RFC 9110 12.5.3 tells the client that way that the
	// coding, not the media type, was refused.
	acceptEncoding string
}

func (e *apiError) Error() string { return e.code + ": " + e.description }

// logLevel is the level a request refused with e is logged at. Refusals
// are expected (bad tokens, taken usernames), so they never log above
// debug, except the server's own failures. A client that hung up (a 499:
// settle) is no failure of the server; and a made-up kid while the JWKS
// cannot be fetched (errKeysUnavailable), a 503 anyone could cause per
// request without a token, stays at debug too: it is answered without
// any key, the outage being logged where the fetch fails
// (token.RemoteJWKS).
func (e *apiError) logLevel() zapcore.Level {
	if e.status >= http.StatusInternalServerError && e.status != http.StatusNotImplemented && e != errKeysUnavailable {
		return zapcore.WarnLevel
	}
	return zapcore.DebugLevel
}

func newError(status int, code, description string) *apiError {
	return &apiError{code: code, status: status, description: description}
}

func invalidArgument(description string) *apiError {
	return newError(http.StatusBadRequest, "invalid_argument", description)
}

// unauthenticated answers a token that was sent but is not valid.
func unauthenticated(description string) *apiError {
	e := newError(http.StatusUnauthorized, "unauthenticated", description)
	e.challenge = `Bearer realm="authedge", error="invalid_token", error_description=` + quoteHeader(description)
	return e
}

// errMissingToken answers a request without credentials: RFC 6750 3.1 says
// such a challenge carries no error code.
var errMissingToken = &apiError{
	code: "unauthenticated", status: http.StatusUnauthorized,
	description: "an access token is required: Authorization: Bearer <token>",
	challenge:   `Bearer realm="authedge"`,
}

func permissionDenied(description string) *apiError {
	return newError(http.StatusForbidden, "permission_denied", description)
}

// insufficientScope answers a valid token that lacks scope: 403
// permission_denied with the challenge that RFC 6750 3 requires of a
// token that does not enable access (3.1's insufficient_scope), naming
// the scope, so that a client can ask its provider for a token with it.
// A scope with a character outside printable ASCII (RFC 6749's
// scope-token has none) is not named: quoteHeader would drop the
// character, naming another scope.
func insufficientScope(scope, description string) *apiError {
	e := permissionDenied(description)
	e.challenge = `Bearer realm="authedge", error="insufficient_scope", error_description=` +
		quoteHeader(description)
	if strings.IndexFunc(scope, func(r rune) bool { return r < 0x21 || r > 0x7e }) < 0 {
		e.challenge += `, scope=` + quoteHeader(scope)
	}
	return e
}

func resourceExhausted(retryAfter time.Duration) *apiError {
	e := newError(http.StatusTooManyRequests, "resource_exhausted", "too many requests; retry later")
	// A 429 always tells the client to wait: a window that ends within
	// this second still ends in the future.
	e.retryAfter = max(retryAfter, time.Second)
	return e
}

func unavailable() *apiError {
	e := newError(http.StatusServiceUnavailable, "unavailable", "the profile store is unavailable; retry later")
	e.retryAfter = time.Second
	e.waitedOnRedis = true
	return e
}

// errKeysUnavailable answers a token whose key the remote JWKS may hold
// but could not be fetched to say: a 401 would make the client drop a
// token that may be good (CloudBase's SDK signs its user out).
var errKeysUnavailable = func() *apiError {
	e := newError(http.StatusServiceUnavailable, "unavailable",
		"the access token's signing key is not among the keys known, and the key set (jwks_url) could not be fetched to look for it; retry later")
	e.retryAfter = 5 * time.Second
	return e
}()

// errClientGone answers a request whose client hung up while authedge
// waited on Redis for it, which is why the wait ended in a 503: 499
// cancelled, as Google's API design maps the canonical code CANCELLED (the
// family the catalog's codes come from) and as Caddy's reverse_proxy
// records a client that closed its request. Access logs and metrics then
// tell hang-ups from outages. No client reads it: it has gone.
var errClientGone = newError(499, "cancelled", "the client closed the request before it was answered")

// settle is the answer to r for e: errClientGone in place of an outage
// that r's client brought about by hanging up. Only a wait on Redis, which
// runs on the request's context, can be: a failed code delivery (detached
// from the client) or an unreachable jwks_url is an outage whatever the
// client does, and stays a 503.
func settle(r *http.Request, e *apiError) *apiError {
	if e != nil && e.waitedOnRedis && errors.Is(r.Context().Err(), context.Canceled) {
		return errClientGone
	}
	return e
}

func internalError() *apiError {
	return newError(http.StatusInternalServerError, "internal", "internal error")
}

var (
	errVerificationRequired = newError(http.StatusBadRequest, "verification_required",
		"changing this contact needs a verification_token: request a code with POST /auth/v1/verification, then verify it")
	errInvalidVerificationToken = newError(http.StatusBadRequest, "invalid_verification_token",
		"the verification_token is expired, used, or issued for another user or contact")
	errInvalidVerificationCode = newError(http.StatusBadRequest, "invalid_verification_code",
		"the verification code is wrong, or the verification is unknown, expired or closed after too many attempts")
	errSudoRequired = newError(http.StatusForbidden, "sudo_required",
		"changing an already bound phone or email, or binding one beside the other, needs secondary verification: a sudo_token from POST /auth/v1/user/sudo")
	errUserNotFound = newError(http.StatusNotFound, "user_not_found", "no such user")
	errTooLarge     = newError(http.StatusRequestEntityTooLarge, "request_too_large",
		"the request body exceeds "+strconv.Itoa(maxBodyBytes>>10)+" KiB")
	errUnsupportedMediaType = newError(http.StatusUnsupportedMediaType, "unsupported_media_type",
		"the body must be JSON, sent as application/json or text/plain")
	// The media type was right: the answer says what was not.
	errUnsupportedCharset = newError(http.StatusUnsupportedMediaType, "unsupported_media_type",
		"the body must be UTF-8: a charset parameter, if given, must be utf-8")
	errContentEncoding = &apiError{
		code: "unsupported_media_type", status: http.StatusUnsupportedMediaType,
		description:    "the body must be sent without a Content-Encoding (no gzip or other compression)",
		acceptEncoding: "identity",
	}
	errUnimplemented = newError(http.StatusNotImplemented, "unimplemented",
		"no verification code sender is configured on this server")
)

func conflict(field string) *apiError {
	return newError(http.StatusConflict, field+"_already_exists", "this "+field+" is already bound to another user")
}

func methodNotAllowed(allow string) *apiError {
	e := newError(http.StatusMethodNotAllowed, "method_not_allowed", "this endpoint accepts "+allow)
	e.allow = allow
	return e
}

// writeError writes e with the headers its status calls for.
func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	if e.retryAfter > 0 {
		secs := int64((e.retryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	if e.allow != "" {
		h.Set("Allow", e.allow)
	}
	if e.challenge != "" {
		h.Set("WWW-Authenticate", e.challenge)
	}
	if e.acceptEncoding != "" {
		h.Set("Accept-Encoding", e.acceptEncoding)
	}
	body := make([]byte, 0, 96+len(e.description))
	body = append(body, `{"error":`...)
	body = appendJSONString(body, e.code)
	body = append(body, `,"error_code":`...)
	body = strconv.AppendInt(body, int64(e.status), 10)
	body = append(body, `,"error_description":`...)
	body = appendJSONString(body, e.description)
	body = append(body, '}')
	writeJSON(w, e.status, body)
}
