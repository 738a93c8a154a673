package handler

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzHistoryQuery: security/history's query string (limit, page_token,
// the SDK's query[action] and ne_query[action]) is outside input parsed
// in serveHistory itself. Whatever it is, the answer is a page or 400
// invalid_argument; a page holds at most limit entries, newest first,
// all before the page token's place, and its next_page_token starts
// after its last entry; and reading changes nothing.
func FuzzHistoryQuery(f *testing.F) {
	e := newEnv(f, verificationOff(), sudoOff())
	for i, body := range []string{`{"nickname":"Alice"}`, `{"username":"alice"}`, `{"gender":"FEMALE"}`,
		`{"nickname":"Alicia"}`, `{"description":"hi"}`, `{"avatar_url":"https://a.example/a.png"}`} {
		e.clock.Advance(time.Duration(i+1) * time.Second)
		e.edit("u1", body).wantOK(f)
	}
	tok := e.token("u1")
	first := e.serve(http.MethodGet, pathHistory+"?limit=2", "", bearer(tok)).page(f)
	for _, q := range []string{
		"", "limit=2", "limit=undefined", "limit=0", "limit=101", "limit=100", "limit=+1", "limit=1&limit=2", "limit=007",
		"ne_query[action]=USER_LOGIN&limit=10", "ne_query%5Baction%5D=USER_LOGIN", "query[action]=USER_LOGIN",
		"query[action]=USER_MODIFY&ne_query[action]=USER_LOGIN", "query[action]=X", "query[action]=USER_MODIFY&query[action]=USER_MODIFY",
		"page_token=" + *first.NextPageToken, "limit=1&page_token=" + *first.NextPageToken, "page_token=x", "page_token=",
		"%zz", "limit=1;page_token=x", "client_id=" + otherClient, "client_id=nobody",
	} {
		f.Add(q)
	}
	stored := e.redisState()
	f.Fuzz(func(t *testing.T, q string) {
		e.t = t
		r := e.serve(http.MethodGet, pathHistory, "", bearer(tok), query(q))
		for k, v := range e.redisState() {
			if stored[k] != v {
				t.Fatalf("%q: %s changed", q, k)
			}
		}
		if r.status != http.StatusOK {
			// The token's audience is this environment: another client's
			// is 401.
			audience := r.status == http.StatusUnauthorized && strings.Contains(q, "client")
			if !audience && (r.status != http.StatusBadRequest || r.code() != "invalid_argument") {
				t.Fatalf("%q: %d %s", q, r.status, r.body)
			}
			return
		}
		values, err := url.ParseQuery(q)
		if err != nil {
			t.Fatalf("%q: a query ParseQuery refuses was answered", q)
		}
		limit := 20
		if n, err := strconv.Atoi(values.Get("limit")); err == nil {
			limit = n
		}
		p := r.page(t)
		if len(p.Data) > limit || limit < 1 || limit > 100 {
			t.Fatalf("%q: %d entries, limit %d", q, len(p.Data), limit)
		}
		before := int64(1) << 62
		if pt := values.Get("page_token"); pt != "" {
			if before, err = decodePageToken("u1", pt); err != nil {
				t.Fatalf("%q: answered with a bad page token", q)
			}
		}
		for _, d := range p.Data {
			id, err := strconv.ParseInt(d.ID, 10, 64)
			if err != nil || id >= before {
				t.Fatalf("%q: entry %s after %d", q, d.ID, before)
			}
			before = id
		}
		if p.NextPageToken != nil {
			next, err := decodePageToken("u1", *p.NextPageToken)
			if err != nil || len(p.Data) != limit || next != before {
				t.Fatalf("%q: next_page_token %q (%d, %v) after %s", q, *p.NextPageToken, next, err, r.body)
			}
		}
	})
}
