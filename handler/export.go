package handler

import (
	"net/http"

	"go.uber.org/zap/zapcore"

	"github.com/authedge/caddy-authedge/token"
)

// Error is one answer of the API's error catalog: a status, a code
// and a description. Only WriteError turns it into a response, so whoever
// answers with it (the API, the identity edge) answers in the one shape
// {"error", "error_code", "error_description"}.
type Error = apiError

// Status is the HTTP status of the answer.
func (e *apiError) Status() int { return e.status }

// Code is the catalog code of the answer, such as "unauthenticated".
func (e *apiError) Code() string { return e.code }

// LogLevel is the level a request refused with e is logged at, as the
// API logs its own: debug for what clients cause, warn for outages.
func (e *apiError) LogLevel() zapcore.Level { return e.logLevel() }

// WriteError writes e as the API writes its own errors, with the headers
// its status calls for (WWW-Authenticate, Retry-After, Allow).
func WriteError(w http.ResponseWriter, e *Error) { writeError(w, e) }

// InsufficientScope is 403 permission_denied for a valid token without
// scope, with RFC 6750's insufficient_scope challenge naming it.
func InsufficientScope(scope, description string) *Error {
	return insufficientScope(scope, description)
}

// Unavailable is 503 unavailable with Retry-After: the store could not be
// reached in time.
func Unavailable() *Error { return unavailable() }

// Settle is the answer to r for e, as the API settles its own: a 503
// that r's client brought about by hanging up is 499 cancelled
// (docs/api.md#error-catalog).
func Settle(r *http.Request, e *Error) *Error { return settle(r, e) }

// MethodNotAllowed is 405 method_not_allowed with Allow.
func MethodNotAllowed(allow string) *Error { return methodNotAllowed(allow) }

// AppendJSONString appends s as a JSON string, as every response body
// does.
func AppendJSONString(b []byte, s string) []byte { return appendJSONString(b, s) }

// Authenticate verifies r's bearer token exactly as the API's endpoints
// verify theirs: client_id and x-device-id first, then the token, its
// audience for the effective client_id, its subject and its device binding
// (and whatever else authenticate checks). The identity edge calls it for
// the app's requests, so that the app and the API can never disagree on
// who is calling. A request without a token gets the 401 that carries no
// error code (RFC 6750 3.1).
func (a *API) Authenticate(r *http.Request) (*token.Claims, *Error) {
	c := &call{r: r, endpoint: "identity"}
	var err *apiError
	if c.clientID, err = a.clientID(r); err != nil {
		return nil, err
	}
	if c.deviceID, err = deviceID(r); err != nil {
		return nil, err
	}
	if err = a.authenticate(c); err != nil {
		return nil, err
	}
	return c.claims, nil
}

// OnAuthenticated makes the API tell f of every request whose token one of
// its endpoints accepted, before the endpoint runs (caddymodule puts the
// user in Caddy's access log). Call it before serving.
func (a *API) OnAuthenticated(f func(r *http.Request, claims *token.Claims)) {
	a.authenticated = f
}
