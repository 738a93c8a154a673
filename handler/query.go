package handler

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/authedge/caddy-authedge/profile"
	"github.com/authedge/caddy-authedge/store"
)

// queryKeys are user/query's keys, of which a request gives exactly one.
var queryKeys = []string{"username", "email", "phone_number", "id"}

// serveQueryUsers is GET /auth/v1/user/query (the SDK's
// queryUserProfile), for admins: the users holding a username, email or
// phone (matched as the unique index matches them), or up to 100 users
// by ID, in one Redis round trip.
func (a *API) serveQueryUsers(w http.ResponseWriter, c *call) *apiError {
	key, value, err := queryKey(c)
	if err != nil {
		return err
	}
	var ids []string
	if key == "id" {
		if ids, err = queryIDs(value); err != nil {
			return err
		}
	} else if value, err = queryValue(key, value); err != nil {
		return err
	}
	// Step 5: permission, after the request's own rules.
	if !c.claims.Admin {
		return insufficientScope(a.cfg.JWT.AdminScope, "user/query needs the admin scope")
	}

	ctx := c.r.Context()
	var found []store.Profile
	if key == "id" {
		var serr error
		if found, serr = a.deps.Store.ProfilesByID(ctx, ids); serr != nil {
			return a.storeError(c, serr)
		}
	} else {
		field := key
		if key == "phone_number" {
			field = "phone"
		}
		p, ok, serr := a.deps.Store.ProfileByValue(ctx, field, value)
		if serr != nil {
			return a.storeError(c, serr)
		}
		if ok {
			found = []store.Profile{p}
		}
	}
	writeJSON(w, http.StatusOK, appendQueryResult(make([]byte, 0, 64+192*len(found)), found))
	return nil
}

// queryKey is the one key a query gives, and its value.
func queryKey(c *call) (key, value string, err *apiError) {
	params, err := queryParams(c, queryKeys...)
	if err != nil {
		return "", "", err
	}
	// queryUserProfile builds its query with URLSearchParams, which
	// writes a property its caller left unset as email=undefined (or
	// email=null): beside another key, such a key is not given. Alone,
	// the word is looked up as written (a username or ID may be "null").
	if len(params) > 1 {
		for k, v := range params {
			if unsetBySDK(v) {
				delete(params, k)
			}
		}
	}
	if len(params) != 1 {
		return "", "", invalidArgument("give exactly one of username, email, phone_number and id")
	}
	for k, v := range params {
		key, value = k, v
	}
	if value == "" {
		return "", "", invalidArgument(key + ": must not be empty")
	}
	return key, value, nil
}

// unsetBySDK reports whether v is how the SDK writes an unset value
// (undefined or null) into a URL.
func unsetBySDK(v string) bool { return v == "undefined" || v == "null" }

// queryValue is a username, email or phone as the profile rules store it,
// from which the store computes the index's key.
func queryValue(key, value string) (string, *apiError) {
	var display string
	var err error
	switch key {
	case "username":
		display, _, err = profile.Username(value)
	case "email":
		display, _, err = profile.Email(value)
	case "phone_number":
		var p profile.Phone
		p, err = profile.ParsePhone(value)
		display = p.Display
	}
	if err != nil {
		return "", fieldError(key, err)
	}
	return display, nil
}

// queryIDs splits id's comma-separated list.
func queryIDs(value string) ([]string, *apiError) {
	if n := strings.Count(value, ",") + 1; n > store.MaxQueryIDs {
		return nil, invalidArgument("id: at most " + strconv.Itoa(store.MaxQueryIDs) + " IDs, got " + strconv.Itoa(n))
	}
	ids := strings.Split(value, ",")
	for _, id := range ids {
		if id == "" || !validUserID(id) {
			return nil, invalidArgument("id: a comma-separated list of user IDs, none empty, each at most 256 bytes without control characters")
		}
	}
	return ids, nil
}

// appendQueryResult renders {"total", "data"} with CloudBase's
// SimpleUserProfile fields; absent values are omitted.
func appendQueryResult(b []byte, found []store.Profile) []byte {
	b = append(b, `{"total":`...)
	b = strconv.AppendInt(b, int64(len(found)), 10)
	b = append(b, `,"data":[`...)
	for i := range found {
		p := &found[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"sub":`...)
		b = appendJSONString(b, p.UserID)
		b = appendOptional(b, "name", p.Nickname)
		b = appendOptional(b, "picture", p.AvatarURL)
		b = appendOptional(b, "gender", p.Gender)
		b = appendOptional(b, "email", p.Email)
		b = appendOptional(b, "phone_number", p.Phone)
		b = appendOptional(b, "username", p.Username)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}
