package handler

import (
	"encoding/json"
	"net/http"
	"strings"
)

// contactBody is PATCH /auth/v1/user/contact's body, the path CloudBase's
// SDK (editContact) uses to bind or change a phone or email.
type contactBody struct {
	PhoneNumber        *string         `json:"phone_number"`
	Email              *string         `json:"email"`
	VerificationToken  *string         `json:"verification_token"`
	SudoToken          *string         `json:"sudo_token"`
	ConflictResolution json.RawMessage `json:"conflict_resolution"`
}

// serveEditContact is a basic/edit that changes only one contact: the same
// rules and the same store script.
func (a *API) serveEditContact(w http.ResponseWriter, c *call) *apiError {
	return a.serveEditBody(w, c, &contactBody{})
}

// plan is step 4's field rules for the one contact, expressed as the
// basic/edit it stands for.
func (b *contactBody) plan() (*editPlan, *apiError) {
	if (b.PhoneNumber == nil) == (b.Email == nil) {
		return nil, invalidArgument("give exactly one of phone_number and email")
	}
	if !defaultConflictResolution(b.ConflictResolution) {
		return nil, invalidArgument("conflict_resolution: only DEFAULT is supported (refuse a contact bound to another user)")
	}
	edit := editBody{
		Phone:             b.PhoneNumber,
		Email:             b.Email,
		VerificationToken: b.VerificationToken,
		SudoToken:         b.SudoToken,
	}
	edit.phoneName = "phone_number"
	return edit.plan()
}

// defaultConflictResolution accepts conflict_resolution absent, null, or
// CloudBase's default spelled "DEFAULT", 0 or "0".
func defaultConflictResolution(raw json.RawMessage) bool {
	switch strings.TrimSpace(string(raw)) {
	case "", "null", `"DEFAULT"`, "0", `"0"`:
		return true
	}
	return false
}
