package handler

import (
	"net/http"
	"net/url"
	"time"

	"github.com/authedge/caddy-authedge/store"
)

// serveMe is GET /auth/v1/user/me: the caller's profile under CloudBase's
// field names, created empty on the first call
// (docs/api.md#read-your-profile: a profile exists once its user has called
// me).
func (a *API) serveMe(w http.ResponseWriter, c *call) *apiError {
	if c.r.URL.RawQuery != "" {
		// A malformed pair elsewhere is ignored, as the other parameters
		// are: only whether user_id is given matters here.
		q, _ := url.ParseQuery(c.r.URL.RawQuery)
		if err := namesNoUser(q); err != nil {
			return err
		}
	}
	p, err := a.deps.Store.EnsureProfile(c.r.Context(), c.claims.Subject)
	if err != nil {
		return a.storeError(c, err)
	}
	writeProfileJSON(w, &p)
	return nil
}

// writeProfile answers user's profile as user/me does, read after an edit
// of it (PATCH user/profile).
func (a *API) writeProfile(w http.ResponseWriter, c *call, user string) *apiError {
	p, ok, err := a.deps.Store.Profile(c.r.Context(), user)
	if err != nil {
		return a.storeError(c, err)
	}
	if !ok {
		// Only a deletion behind the API's back, between the edit and
		// this read, gets here.
		return errUserNotFound
	}
	writeProfileJSON(w, &p)
	return nil
}

// appendProfile renders p as CloudBase's user object; absent values are
// omitted, times are RFC 3339.
func appendProfile(b []byte, p *store.Profile) []byte {
	b = append(b, `{"sub":`...)
	b = appendJSONString(b, p.UserID)
	b = appendOptional(b, "name", p.Nickname)
	b = appendOptional(b, "picture", p.AvatarURL)
	b = appendOptional(b, "username", p.Username)
	b = appendOptional(b, "email", p.Email)
	b = appendOptional(b, "phone_number", p.Phone)
	b = appendOptional(b, "gender", p.Gender)
	b = appendOptional(b, "description", p.Description)
	b = appendOptional(b, "birthdate", p.Birthdate)
	b = appendOptional(b, "zoneinfo", p.Zoneinfo)
	b = appendOptional(b, "locale", p.Locale)
	b = appendTime(b, "created_at", p.CreatedAt)
	b = appendTime(b, "updated_at", p.UpdatedAt)
	return append(b, '}')
}

func appendOptional(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, value)
}

func appendTime(b []byte, name string, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':', '"')
	b = t.UTC().AppendFormat(b, time.RFC3339)
	return append(b, '"')
}
