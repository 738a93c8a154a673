package handler

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/authedge/caddy-authedge/profile"
)

// profileBody is PATCH /auth/v1/user/profile's body (CloudBase's SDK
// setUserProfile): the OIDC names of the profile's fields. Pointers tell
// "not given" (absent or null) from a given value.
type profileBody struct {
	Name        *string `json:"name"`    // the nickname
	Picture     *string `json:"picture"` // the avatar URL
	Gender      *string `json:"gender"`
	Birthdate   *string `json:"birthdate"`
	Zoneinfo    *string `json:"zoneinfo"`
	Locale      *string `json:"locale"`
	Username    *string `json:"username"`
	Description *string `json:"description"`
	// Contacts change through PATCH user/contact, with verification; they
	// are named so that the answer can say so rather than "unknown field".
	PhoneNumber json.RawMessage `json:"phone_number"`
	Email       json.RawMessage `json:"email"`

	now func() time.Time
}

// serveSetProfile is PATCH /auth/v1/user/profile: the caller's own edit,
// through the same rules, store script and rate limit as basic/edit,
// answered with the whole profile.
func (a *API) serveSetProfile(w http.ResponseWriter, c *call) *apiError {
	return a.serveEditBody(w, c, &profileBody{now: a.now})
}

// plan is step 4's field rules under the OIDC names.
func (b *profileBody) plan() (*editPlan, *apiError) {
	for _, contact := range []struct {
		name string
		raw  json.RawMessage
	}{{"phone_number", b.PhoneNumber}, {"email", b.Email}} {
		if given(contact.raw) {
			return nil, invalidArgument(contact.name + ": contacts are changed with PATCH /auth/v1/user/contact, which verifies them")
		}
	}
	p := &editPlan{answerProfile: true}
	ch := &p.changes
	var err error
	if ch.Nickname, err = required(b.Name, profile.Nickname); err != nil {
		return nil, fieldError("name", err)
	}
	if ch.Username, err = required(b.Username, usernameDisplay); err != nil {
		return nil, fieldError("username", err)
	}
	if ch.AvatarURL, err = removable(b.Picture, profile.AvatarURL); err != nil {
		return nil, fieldError("picture", err)
	}
	if ch.Gender, err = removable(b.Gender, profile.Gender); err != nil {
		return nil, fieldError("gender", err)
	}
	if ch.Description, err = removable(b.Description, profile.Description); err != nil {
		return nil, fieldError("description", err)
	}
	birthdate := func(s string) (string, error) { return profile.Birthdate(s, b.now()) }
	if ch.Birthdate, err = removable(b.Birthdate, birthdate); err != nil {
		return nil, fieldError("birthdate", err)
	}
	if ch.Zoneinfo, err = removable(b.Zoneinfo, profile.Zoneinfo); err != nil {
		return nil, fieldError("zoneinfo", err)
	}
	if ch.Locale, err = removable(b.Locale, profile.Locale); err != nil {
		return nil, fieldError("locale", err)
	}
	return p, nil
}

func usernameDisplay(s string) (string, error) {
	display, _, err := profile.Username(s)
	return display, err
}
