package handler

import (
	"net/http"

	"github.com/authedge/caddy-authedge/profile"
)

// serveCheckUsername is GET /auth/v1/checkUsername?username=: may the
// caller take this username? 200 {} if it is valid and free or already
// the caller's (in any case), 409 username_already_exists if someone else
// holds it, 400 if it breaks the username rule. Each answer tells whether
// a name is taken, so it counts against the client IP's lookups like
// checkIfUserExist (one budget, which code requests spend too): a token alone does not buy an
// unlimited walk of the index.
func (a *API) serveCheckUsername(w http.ResponseWriter, c *call) *apiError {
	name, err := usernameParam(c)
	if err != nil {
		return err
	}
	ip := ipLimitKey(a.deps.ClientIP(c.r))
	owner, held, serr := a.deps.Store.LookupOwner(c.r.Context(), ip, "username", name, a.policy.lookupLimit)
	if serr != nil {
		return a.storeError(c, serr)
	}
	if held && owner != c.claims.Subject {
		return conflict("username")
	}
	writeEmptyObject(w)
	return nil
}

// serveCheckIfUserExist is GET /auth/v1/checkIfUserExist?username= (the
// SDK's checkIfUserExist, called without a token): {"exist": bool},
// matched as the index matches. The lookup and its per-IP count are one
// script, so every answer, true or false, is counted.
func (a *API) serveCheckIfUserExist(w http.ResponseWriter, c *call) *apiError {
	name, err := usernameParam(c)
	if err != nil {
		return err
	}
	ip := ipLimitKey(a.deps.ClientIP(c.r))
	held, serr := a.deps.Store.Exists(c.r.Context(), ip, "username", name, a.policy.lookupLimit)
	if serr != nil {
		return a.storeError(c, serr)
	}
	if held {
		writeJSON(w, http.StatusOK, []byte(`{"exist":true}`))
	} else {
		writeJSON(w, http.StatusOK, []byte(`{"exist":false}`))
	}
	return nil
}

// usernameParam is the one query parameter of the username checks,
// validated by the username rule.
func usernameParam(c *call) (string, *apiError) {
	params, err := queryParams(c, "username")
	if err != nil {
		return "", err
	}
	raw, ok := params["username"]
	if !ok || raw == "" {
		return "", invalidArgument("username: required, in the query string")
	}
	name, _, ferr := profile.Username(raw)
	if ferr != nil {
		return "", fieldError("username", ferr)
	}
	return name, nil
}
