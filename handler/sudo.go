package handler

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/authedge/caddy-authedge/internal/secret"
)

// sudoBody is POST /auth/v1/user/sudo's body.
type sudoBody struct {
	VerificationToken *string         `json:"verification_token"`
	Password          json.RawMessage `json:"password"`
}

// serveSudo trades a verification token for one of the caller's bound
// sensitive contacts, from a CUR_USER code, for a sudo token: proof of a
// fresh secondary verification.
func (a *API) serveSudo(w http.ResponseWriter, c *call) *apiError {
	var body sudoBody
	if err := decodeBody(c.body, &body); err != nil {
		return err
	}
	if given(body.Password) {
		return invalidArgument("password: passwords are not handled by this server; verify a code sent to your bound phone or email (target CUR_USER) and send its verification_token")
	}
	vt := deref(body.VerificationToken)
	if vt == "" {
		return invalidArgument("verification_token: required, from POST /auth/v1/verification/verify of a code sent with target CUR_USER")
	}
	sudo := secret.Token()
	if err := a.deps.Store.IssueSudo(c.r.Context(), c.claims.Subject, vt, sudo, a.policy.sudoTTL, a.policy.sensitiveSet); err != nil {
		return a.storeError(c, err)
	}
	b := make([]byte, 0, 96)
	b = append(b, `{"sudo_token":`...)
	b = appendJSONString(b, sudo)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, int64(seconds(a.policy.sudoTTL)), 10)
	writeJSON(w, http.StatusOK, append(b, '}'))
	return nil
}
