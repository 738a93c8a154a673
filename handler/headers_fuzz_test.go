package handler

import (
	"context"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"

	"github.com/authedge/caddy-authedge/config"
)

// FuzzRequestHeaders: steps 1 to 3 of every endpoint (docs/api.md's order
// of checks) read outside input from the Content-Type, the query's
// client_id, X-Device-Id and Authorization. Whatever they hold, a
// basic/edit answers 415 exactly when mime.ParseMediaType's reading of
// the Content-Type is refused; a 200 needs what the docs name (a bearer
// token that verifies, for this client_id, with its device); nothing
// answers 5xx; and a refusal changes nothing in Redis. "TOKEN" and
// "BOUND" stand for a valid token, and one bound to device dev-1.
func FuzzRequestHeaders(f *testing.F) {
	e := newEnv(f, verificationOff(), sudoOff(), withConfig(func(c *config.Config) {
		c.Events = &config.Events{StreamMaxLen: 1000}
	}))
	tok, bound := e.token("u1"), e.token("u1", withDevice("dev-1"))
	for _, s := range [][4]string{
		{"Bearer TOKEN", "", "application/json", ""},
		{"bearer   TOKEN  ", "dev-2", "text/plain;charset=UTF-8", "client_id=" + testEnvID},
		{"BEARER BOUND", "dev-1", "", ""},
		{"Bearer BOUND", "dev-2", "application/json", ""},
		{"Bearer BOUND", "", "application/json", ""},
		{"Bearer TOKEN", "dev 1", "application/json", ""},
		{"Bearer TOKEN", "", "application/x-www-form-urlencoded", ""},
		{"Bearer TOKEN", "", "text/plain; charset=latin1", ""},
		{"Bearer TOKEN", "", "application/json; charset=\"utf-8\"", ""},
		{"Bearer TOKEN", "", "application/JSON ; foo=bar", ""},
		{"Bearer TOKEN", "", `application/json; charset=""`, ""},
		{"Bearer TOKEN", "", "application/json", "client_id=" + otherClient},
		{"Bearer TOKEN", "", "application/json", "client_id=nobody"},
		{"Bearer TOKEN", "", "application/json", "client_id=a&client_id=b"},
		{"Basic TOKEN", "", "", ""}, {"Bearer", "", "", ""}, {"Bearer x.y.z", "", "", ""}, {"", "", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	ctx := context.Background()
	raw := e.rawRedis()
	f.Fuzz(func(t *testing.T, authorization, device, contentType, query string) {
		for _, v := range []string{authorization, device, contentType} {
			if !httpguts.ValidHeaderFieldValue(v) {
				return // no HTTP server hands such a value on
			}
		}
		e.t = t
		if err := raw.FlushDB(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		e.editWith(tok, `{"nickname":"Alice"}`).wantOK(t)
		authorization = strings.ReplaceAll(strings.ReplaceAll(authorization, "TOKEN", tok), "BOUND", bound)
		before := e.redisState("}:rl:")
		res := e.serve(http.MethodPost, pathEdit, `{"nickname":"Alicia"}`, func(r *http.Request) {
			r.URL.RawQuery = query
			r.Header.Del("Content-Type")
			for name, v := range map[string]string{"Authorization": authorization, "X-Device-Id": device, "Content-Type": contentType} {
				if v != "" {
					r.Header.Set(name, v)
				}
			}
		})
		if res.status >= 500 {
			t.Fatalf("%d %s", res.status, res.body)
		}
		mediaType, params, err := mime.ParseMediaType(contentType)
		// A charset given, even as "", must be utf-8 (docs/api.md).
		charset, hasCharset := params["charset"]
		badType := contentType != "" && (err != nil || (mediaType != "application/json" && mediaType != "text/plain") ||
			(hasCharset && !strings.EqualFold(charset, "utf-8")))
		if badType != (res.status == http.StatusUnsupportedMediaType) {
			t.Fatalf("Content-Type %q: %d %s", contentType, res.status, res.body)
		}
		if res.status != http.StatusOK {
			after := e.redisState("}:rl:")
			for k, v := range before {
				if after[k] != v {
					t.Fatalf("%d %s, and %s changed", res.status, res.body, k)
				}
			}
			if len(after) != len(before) {
				t.Fatalf("%d %s, and keys were added", res.status, res.body)
			}
			return
		}
		scheme, given, _ := strings.Cut(authorization, " ")
		given = strings.TrimSpace(given)
		if !strings.EqualFold(scheme, "bearer") || (given != tok && given != bound) {
			t.Fatalf("Authorization %q accepted", authorization)
		}
		if (device != "" && !validDeviceID(device)) || (given == bound && device != "dev-1") {
			t.Fatalf("x-device-id %q accepted with %q", device, authorization)
		}
		values, _ := url.ParseQuery(query) // what it can read: others are not step 2's business
		if id := values.Get("client_id"); id != "" && id != testEnvID {
			t.Fatalf("query %q accepted", query)
		}
	})
}
