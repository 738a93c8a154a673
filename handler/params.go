package handler

import (
	"net/url"
	"sort"
)

// queryParams is step 4's syntax half for the endpoints that take their
// arguments in the query string (GET): it parses it strictly and refuses
// a name given twice or one the endpoint does not take, as bodies refuse
// unknown fields. client_id, which step 2 read, is always allowed.
func queryParams(c *call, allowed ...string) (map[string]string, *apiError) {
	if c.r.URL.RawQuery == "" {
		return nil, nil // nothing given: a nil map reads as empty
	}
	values, err := url.ParseQuery(c.r.URL.RawQuery)
	if err != nil {
		return nil, invalidArgument("the query string is malformed")
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	sort.Strings(names) // the first bad name is the same on every call
	out := make(map[string]string, len(values))
	for _, name := range names {
		if name == "client_id" {
			continue
		}
		if !contains(allowed, name) {
			return nil, invalidArgument(quoteFieldName(name) + ": unknown query parameter")
		}
		if len(values[name]) > 1 {
			return nil, invalidArgument(name + ": given more than once")
		}
		out[name] = values[name][0]
	}
	return out, nil
}

// namesNoUser refuses a user_id in the query string of an endpoint that
// answers the caller's own data (user/me, user/security/history), whose
// other parameters it does not hold to queryParams's rules: an admin tool
// naming another user there would otherwise be answered with the admin's
// own profile or history, as if it were that user's.
func namesNoUser(q url.Values) *apiError {
	if _, ok := q["user_id"]; ok {
		return invalidArgument("user_id: this endpoint answers for the caller only and names no other user")
	}
	return nil
}
