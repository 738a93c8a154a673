package handler

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// FuzzVerificationRequests: the bodies of verification (send a code),
// verification/verify and user/sudo, over the real store. The answer is
// a 200 or a catalog error below 500; a code is delivered exactly when
// a send answers 200; and an error changes nothing in Redis, except that
// a wrong code for a live verification counts (against it and the IP),
// and a NOT_USER refusal counts against the caller's limits and the IP's
// lookups. "LIVE" and "CODE" in a
// body stand for the live verification's ID and its code.
func FuzzVerificationRequests(f *testing.F) {
	e := newEnv(f, verificationOff(), sudoOff())
	for _, s := range []string{
		`{"phone_number":"+86 13000000002","target":"ANY"}`, `{"email":"new@example.com","target":"NOT_USER","usage":"bind"}`,
		`{"email":"B@EXAMPLE.COM","target":"NOT_USER"}`, `{"phone_number":"+8613000000001","target":"NOT_USER"}`,
		`{"phone_number":"","target":"CUR_USER"}`, `{"email":"***","target":"CUR_USER"}`, `{"email":"x@y","target":"ELSE"}`,
		`{"phone_number":"+86 13000000002","email":"a@b"}`, `{"usage":"\u202e"}`, `{}`, `[]`,
	} {
		f.Add(uint8(0), s)
	}
	for _, s := range []string{`{"verification_id":"LIVE","verification_code":"CODE"}`, `{"verification_id":"LIVE","verification_code":"000000"}`,
		`{"verification_id":"LIVE","verification_code":"12345"}`, `{"verification_id":"AAAAAAAAAAAAAAAAAAAAAA","verification_code":"123456"}`,
		`{"verification_id":"","verification_code":""}`, `{"verification_id":"LIVE"}`, `{"verification_id":1}`} {
		f.Add(uint8(1), s)
	}
	for _, s := range []string{`{"verification_token":"x"}`, `{"verification_token":""}`, `{"password":"p"}`, `{"verification_token":null,"password":null}`, `{}`} {
		f.Add(uint8(2), s)
	}
	ctx := context.Background()
	raw := e.rawRedis()
	u1 := e.token("u1")
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		e.t = t
		if err := raw.FlushDB(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		e.editWith(u1, `{"nickname":"Alice","phone":"+86 13000000000","email":"a@example.com"}`).wantOK(t)
		e.edit("u2", `{"nickname":"Bob","phone":"+86 13000000001","email":"b@example.com"}`).wantOK(t)
		live := e.serve(http.MethodPost, pathSend, `{"phone_number":"","target":"CUR_USER"}`, bearer(u1)).wantOK(t)
		id, code := live.str("verification_id"), e.sender.Last(t).Code
		body = strings.ReplaceAll(strings.ReplaceAll(body, "LIVE", id), "CODE", code)
		sent := len(e.sender.Attempts())
		before := e.redisState()
		var res *result
		var allowed []string
		switch which % 3 {
		case 0:
			res = e.serve(http.MethodPost, pathSend, body, bearer(u1))
			if res.status == http.StatusConflict {
				// A NOT_USER refusal tells the contact is registered: it
				// counts against the caller's own limits and the client
				// IP's lookups (docs/api.md#limits).
				allowed = []string{"}:cm:", "}:cd:", "}:lk:"}
			}
		case 1:
			res = e.serve(http.MethodPost, pathVerify, body, noHeader("Authorization"))
			if res.code() == "invalid_verification_code" {
				allowed = []string{"}:v:" + id, "}:vf:"}
			}
		case 2:
			res = e.serve(http.MethodPost, pathSudo, body, bearer(u1))
		}
		after := e.redisState()
		delivered := len(e.sender.Attempts()) - sent
		switch {
		case res.status >= 500:
			t.Fatalf("%d %q: %d %s", which%3, body, res.status, res.body)
		case which%3 == 0 && (delivered == 1) != (res.status == http.StatusOK), which%3 != 0 && delivered != 0:
			t.Fatalf("%d %q: %d %s, and %d codes delivered", which%3, body, res.status, res.body, delivered)
		case res.status != http.StatusOK:
			if k := changedKey(before, after, allowed...); k != "" {
				t.Fatalf("%d %q: %d %s, and %s changed", which%3, body, res.status, res.body, k)
			}
		}
	})
}
