package handler

import (
	"context"
	"net/http"
	"testing"

	"github.com/authedge/caddy-authedge/config"
)

// FuzzEditChangesNothing: docs/api.md's promise that bad input gets a
// clear error and changes nothing, over the real store. Whatever the body
// of basic/edit, user/contact or user/profile, by the user or by an admin
// naming anyone: the answer is a 200 or an error of the catalog, never a
// 5xx; an error leaves Redis as it was (the caller's rate-limit counter
// aside: an edit that reaches the store counts); and a 200 repeated is a
// 200 that changes nothing more (a value set to itself records nothing).
func FuzzEditChangesNothing(f *testing.F) {
	e := newEnv(f, verificationOff(), sudoOff(), withConfig(func(c *config.Config) {
		c.Events = &config.Events{StreamMaxLen: 1000}
	}))
	tokens := []string{e.token("u1"), e.adminToken()}
	u2 := e.token("u2")
	endpoints := []struct{ method, path string }{
		{http.MethodPost, pathEdit}, {http.MethodPatch, pathContact}, {http.MethodPatch, pathProfile},
	}
	for _, s := range editSeeds {
		f.Add(uint8(0), false, s)
	}
	for _, s := range []string{
		`{"username":"BOB"}`, `{"phone":"+8613000000001"}`, `{"email":"B@EXAMPLE.COM"}`, `{"username":"ALICE","phone":"+86 130 0000 0000"}`,
		`{"user_id":"u2","nickname":"Bobby","email":""}`, `{"user_id":"nobody","nickname":"ab"}`, `{"user_id":"u1","username":"bob"}`,
		`{"nickname":"Al","username":"al","phone":"","email":"x@y"}`,
	} {
		f.Add(uint8(0), true, s)
		f.Add(uint8(0), false, s)
	}
	for _, s := range []string{`{"phone_number":"+86 13000000002"}`, `{"email":"b@example.com"}`, `{"email":""}`,
		`{"phone_number":"+8613000000000","conflict_resolution":"0"}`, `{"email":"c@d","conflict_resolution":1}`} {
		f.Add(uint8(1), false, s)
	}
	for _, s := range []string{profileBodyFull, `{"username":"bob"}`, `{"name":"Al","birthdate":"2000-02-30"}`, `{"locale":"EN-us","zoneinfo":"UTC"}`} {
		f.Add(uint8(2), false, s)
	}
	ctx := context.Background()
	raw := e.rawRedis()
	seed := func() {
		if err := raw.FlushDB(ctx).Err(); err != nil {
			e.t.Fatal(err)
		}
		e.editWith(tokens[0], `{"nickname":"Alice","username":"alice","phone":"+86 13000000000","email":"a@example.com"}`).wantOK(e.t)
		e.editWith(u2, `{"nickname":"Bob","username":"bob","phone":"+86 13000000001","email":"b@example.com"}`).wantOK(e.t)
	}
	// snapshot is every key's DUMP, but the edit rate limit's.
	f.Fuzz(func(t *testing.T, which uint8, admin bool, body string) {
		e.t = t
		seed()
		ep := endpoints[int(which)%len(endpoints)]
		tok := tokens[0]
		if admin {
			tok = tokens[1]
		}
		before := e.redisState("}:rl:")
		res := e.serve(ep.method, ep.path, body, bearer(tok))
		after := e.redisState("}:rl:")
		switch {
		case res.status >= 500:
			t.Fatalf("%s %q: %d %s", ep.path, body, res.status, res.body)
		case res.status != http.StatusOK:
			if k := changedKey(before, after); k != "" {
				t.Fatalf("%s %q: %d %s, and %s changed", ep.path, body, res.status, res.body, k)
			}
			return
		}
		again := e.serve(ep.method, ep.path, body, bearer(tok))
		if again.status != http.StatusOK {
			t.Fatalf("%s %q: 200, then %d %s", ep.path, body, again.status, again.body)
		}
		if k := changedKey(after, e.redisState("}:rl:")); k != "" {
			t.Fatalf("%s %q repeated changed %s", ep.path, body, k)
		}
	})
}
