package handler

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/authedge/caddy-authedge/profile"
)

// Fuzz targets for the request decoder and what follows it in step 4. The
// seed corpus runs in every go test; `go test -fuzz FuzzX ./handler/`
// explores further.

var editSeeds = []string{
	`{}`,
	`{"nickname":"Zhang San","username":"zhangsan","phone":"+86 13000000000","email":"z@example.com"}`,
	`{"avatar_url":"https://example.com/a.png","gender":"MALE","description":"line\nline"}`,
	`{"phone":"","email":"","avatar_url":"","gender":"","description":""}`,
	`{"user_id":"u2","nickname":"Jose\u0301"}`,
	`{"verification_token":"","sudo_token":null,"password":null}`,
	`{"password":"x"}`,
	`{"NICKNAME":"ab"}`,
	`{"nickname":"ab","nickname":"cd"}`,
	`{"nickname":1}`,
	`{"nickname":"ab"} {}`,
	`[]`,
	`{"nickname":"\ud800\udc00"}`,
	"{\"nickname\":\"a\xffb\"}",
	`{"phone":"+1 (415) 555-2671"}`,
	`{"email":"\u00e9@example"}`,
	`{"username":"+123"}`,
	`{"nickname":"a\u2028b"}`,
	`  {"gender":"FEMALE"}  `,
	`{"description":"` + strings.Repeat("x", 500) + `"}`,
}

func FuzzDecodeEdit(f *testing.F) {
	for _, s := range editSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var b editBody
		if err := decodeBody(body, &b); err != nil {
			checkRefusal(t, err)
			return
		}
		checkAcceptedJSON(t, body, &b)
		p, err := b.plan()
		if err != nil {
			checkRefusal(t, err)
			return
		}
		// Every planned value is what its rule returns for itself: stored
		// values are fixed points, so editing with what me returned is a
		// no-op.
		ch := p.changes
		fixed(t, "nickname", ch.Nickname, false, profile.Nickname)
		fixed(t, "username", ch.Username, false, func(s string) (string, error) {
			d, _, err := profile.Username(s)
			return d, err
		})
		fixed(t, "phone", ch.Phone, true, phoneDisplay)
		fixed(t, "email", ch.Email, true, emailDisplay)
		fixed(t, "avatar_url", ch.AvatarURL, true, profile.AvatarURL)
		fixed(t, "gender", ch.Gender, true, profile.Gender)
		fixed(t, "description", ch.Description, true, profile.Description)
		if ch.Phone != nil && *ch.Phone != "" {
			if strings.Count(*ch.Phone, " ") != 1 || !strings.HasPrefix(*ch.Phone, "+") {
				t.Fatalf("stored phone %q is not +<cc> <number>", *ch.Phone)
			}
		}
		if given(b.Password) || given(b.NewPassword) {
			t.Fatal("a password was accepted")
		}
	})
}

// fixed checks that a planned value re-validates to itself.
func fixed(t *testing.T, field string, v *string, removable bool, rule func(string) (string, error)) {
	t.Helper()
	if v == nil {
		return
	}
	if *v == "" {
		if !removable {
			t.Fatalf("%s planned as removed", field)
		}
		return
	}
	again, err := rule(*v)
	if err != nil || again != *v {
		t.Fatalf("%s %q re-validates to %q, %v", field, *v, again, err)
	}
}

// checkRefusal: every refusal at step 4 is a 400 invalid_argument whose
// description can be sent and logged as it is.
func checkRefusal(t *testing.T, err *apiError) {
	t.Helper()
	if err.status != 400 || err.code != "invalid_argument" {
		t.Fatalf("refused with %d %s", err.status, err.code)
	}
	if err.description == "" || !utf8.ValidString(err.description) || len(err.description) > 400 {
		t.Fatalf("description %q", err.description)
	}
}

// checkAcceptedJSON: what decodeBody accepts is one JSON object whose
// names are all, exactly, fields of dst.
func checkAcceptedJSON(t *testing.T, body []byte, dst any) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("accepted a body encoding/json refuses: %v", err)
	}
	known := fieldNames(dst)
	for k := range m {
		if !known[k] {
			t.Fatalf("accepted the unknown field %q", k)
		}
	}
}

func FuzzDecodeContact(f *testing.F) {
	for _, s := range []string{
		`{"phone_number":"+86 13000000000"}`,
		`{"email":"z@example.com","verification_token":"vt","sudo_token":"st"}`,
		`{"phone_number":"","conflict_resolution":"DEFAULT"}`,
		`{"email":"z@example.com","conflict_resolution":0}`,
		`{"email":"z@example.com","conflict_resolution":"0"}`,
		`{"email":"z@example.com","conflict_resolution":"OVERWRITE"}`,
		`{"phone_number":"+86 13000000000","email":"z@example.com"}`,
		`{"phone_number":null,"email":"z@example.com"}`,
		`{"phone":"+86 13000000000"}`,
		`{}`,
		`{"phone_number":"13000000000"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var b contactBody
		if err := decodeBody(body, &b); err != nil {
			checkRefusal(t, err)
			return
		}
		checkAcceptedJSON(t, body, &b)
		p, err := b.plan()
		if err != nil {
			checkRefusal(t, err)
			if strings.HasPrefix(err.description, "phone:") {
				t.Fatalf("user/contact's error names basic/edit's field: %q", err.description)
			}
			return
		}
		ch := p.changes
		if (ch.Phone == nil) == (ch.Email == nil) {
			t.Fatalf("planned %+v: not exactly one contact", ch)
		}
		if ch.Nickname != nil || ch.Username != nil || ch.AvatarURL != nil || ch.Gender != nil || ch.Description != nil || p.userID != "" {
			t.Fatalf("a contact edit planned other changes: %+v", p)
		}
		fixed(t, "phone", ch.Phone, true, phoneDisplay)
		fixed(t, "email", ch.Email, true, emailDisplay)
		if !defaultConflictResolution(b.ConflictResolution) {
			t.Fatalf("accepted conflict_resolution %s", b.ConflictResolution)
		}
	})
}

func FuzzDecodeSendCode(f *testing.F) {
	for _, s := range []string{
		`{"phone_number":"+86 13000000000","target":"ANY","usage":"bind"}`,
		`{"email":"Z@Example.com","target":"NOT_USER"}`,
		`{"phone_number":"","target":"CUR_USER"}`,
		`{"email":"***","target":"CUR_USER"}`,
		`{"email":"z@example.com","target":"SOMEONE"}`,
		`{"email":"z@example.com","usage":"a\u202eb"}`,
		`{"email":"z@example.com","usage":"\u0085"}`,
		`{"phone_number":"+86 13000000000","email":"z@example.com"}`,
		`{"target":"ANY"}`,
		`{"phone_number":"+86 +1 (415) 555-2671"}`,
		`{"phone_number":"+86 +86 +8613000000000"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var b sendCodeBody
		if err := decodeBody(body, &b); err != nil {
			checkRefusal(t, err)
			return
		}
		checkAcceptedJSON(t, body, &b)
		req, err := b.check()
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if utf8.RuneCountInString(req.usage) > 64 {
			t.Fatalf("usage of %d characters accepted", utf8.RuneCountInString(req.usage))
		}
		for _, r := range req.usage {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("usage %q accepted", req.usage)
			}
		}
		switch req.target {
		case targetCurUser:
			if req.to != (contact{}) {
				t.Fatalf("CUR_USER resolved a recipient from the body: %+v", req.to)
			}
			return
		case targetAny, targetNotUser:
		default:
			t.Fatalf("target %q accepted", req.target)
		}
		to := req.to
		switch to.channel {
		case channelPhone:
			p, err := profile.ParsePhone(to.display)
			if err != nil || p.Display != to.display || p.E164 != to.key || profile.PhoneKey(to.display) != to.key {
				t.Fatalf("phone recipient %+v does not re-parse to itself (%+v, %v)", to, p, err)
			}
			if to.wireChannel() != "sms" {
				t.Fatalf("phone sent over %q", to.wireChannel())
			}
		case channelEmail:
			d, k, err := profile.Email(to.display)
			if err != nil || d != to.display || k != to.key || profile.EmailKey(to.display) != to.key {
				t.Fatalf("email recipient %+v does not re-parse to itself", to)
			}
			if to.wireChannel() != "email" {
				t.Fatalf("email sent over %q", to.wireChannel())
			}
		default:
			t.Fatalf("recipient %+v has no channel", to)
		}
	})
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `"quoted" \ back`, "<script>&amp;</script>", "tab\tnew\nline\rcr",
		"\x00\x01\x1f\x7f", "\u2028\u2029", "é中文😀", "bad\xffutf8\xc3", "\xed\xa0\x80", "\ufffd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendJSONString([]byte("x"), s)
		if out[0] != 'x' {
			t.Fatal("the prefix was overwritten")
		}
		out = out[1:]
		if !json.Valid(out) {
			t.Fatalf("%q encoded as invalid JSON %q", s, out)
		}
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		// Valid UTF-8 comes back as it was; each invalid byte becomes
		// U+FFFD, as with encoding/json (and as ranging over s does).
		want := s
		if !utf8.ValidString(s) {
			want = string([]rune(s))
		}
		if back != want {
			t.Fatalf("%q came back as %q", s, back)
		}
		// Nothing that an HTML or JavaScript context would read as markup
		// or a line break is left raw.
		if strings.ContainsAny(string(out), "<>&\u2028\u2029\n\r") {
			t.Fatalf("%q left raw in %q", s, out)
		}
	})
}

func FuzzQuoteHeader(f *testing.F) {
	for _, s := range []string{"", "token expired", `say "hi" \ bye`, "ctl\r\nInjected: yes", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := quoteHeader(s)
		if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
			t.Fatalf("%q quoted as %q", s, q)
		}
		inner := q[1 : len(q)-1]
		for i := 0; i < len(inner); i++ {
			c := inner[i]
			if c < 0x20 || c >= 0x7f {
				t.Fatalf("%q: byte %#x in a header value", s, c)
			}
			if c == '\\' {
				i++ // the escaped byte
				if i == len(inner) {
					t.Fatalf("%q: a trailing backslash escapes the closing quote", s)
				}
				continue
			}
			if c == '"' {
				t.Fatalf("%q: an unescaped quote in %q", s, q)
			}
		}
	})
}

func BenchmarkDecodeEdit(b *testing.B) {
	body := []byte(`{"nickname":"Zhang San","username":"zhangsan","phone":"+86 13000000000","email":"zhangsan@example.com",` +
		`"avatar_url":"https://example.com/avatars/zhangsan.png","gender":"MALE","description":"Hello, I like hiking.",` +
		`"verification_token":"","sudo_token":""}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var eb editBody
		if err := decodeBody(body, &eb); err != nil {
			b.Fatal(err)
		}
		if _, err := eb.plan(); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzUnknownName checks the hand-written name scanner against
// encoding/json's tokenizer on every valid object.
func FuzzUnknownName(f *testing.F) {
	for _, s := range editSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		`{"a":{"nickname":1},"nickname":"x"}`, `{"nickname":[1,{"b":"}"}],"x":2}`, `{"nick\u006eame":"x"}`,
		`{"nickname":"a\"b\\","bogus":1}`, `{ "nickname" : -1.5e3 , "x" : null }`, `{"":1}`, `{"nickname":true,"email":false}`,
	} {
		f.Add([]byte(s))
	}
	known := fieldNames(&editBody{})
	f.Fuzz(func(t *testing.T, body []byte) {
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		if !utf8.Valid(body) || len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
			return
		}
		name, unknown := unknownName(trimmed, known)
		slow := checkFieldNames(trimmed, known)
		if unknown != (slow != nil) {
			t.Fatalf("scanner says unknown=%v (%q), tokenizer says %v", unknown, name, slow)
		}
		if unknown && slow.description != quoteFieldName(name)+": unknown field" {
			t.Fatalf("scanner names %q, tokenizer %q", name, slow.description)
		}
	})
}

// FuzzProfileBody: PATCH user/profile's decoder and rules. Whatever the
// body, the plan holds only values that pass their own rule again, never
// a contact, and always answers the profile.
func FuzzProfileBody(f *testing.F) {
	for _, s := range []string{
		profileBodyFull, `{}`, `{"birthdate":"2023-02-29"}`, `{"zoneinfo":"Mars/Olympus"}`, `{"locale":"en--US"}`,
		`{"locale":"EN-us","zoneinfo":"","birthdate":null}`, `{"email":"a@b"}`, `{"phone_number":null}`, `{"name":""}`,
	} {
		f.Add(s)
	}
	now := func() time.Time { return time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC) }
	f.Fuzz(func(t *testing.T, body string) {
		b := &profileBody{now: now}
		if err := decodeBody([]byte(body), b); err != nil {
			return
		}
		plan, err := b.plan()
		if err != nil {
			if err.status != 400 {
				t.Fatalf("rule failure %d", err.status)
			}
			return
		}
		ch := plan.changes
		if ch.Phone != nil || ch.Email != nil || !plan.answerProfile {
			t.Fatalf("plan %+v", plan)
		}
		for _, v := range []struct {
			value *string
			rule  func(string) (string, error)
		}{
			{ch.Birthdate, func(s string) (string, error) { return profile.Birthdate(s, now()) }},
			{ch.Zoneinfo, profile.Zoneinfo}, {ch.Locale, profile.Locale},
		} {
			if v.value == nil || *v.value == "" {
				continue
			}
			if again, err := v.rule(*v.value); err != nil || again != *v.value {
				t.Fatalf("stored %q does not pass its rule again: %q, %v", *v.value, again, err)
			}
		}
	})
}

// FuzzQueryParams: user/query's query string. An accepted one names
// exactly one key; IDs are 1 to 100, none empty.
func FuzzQueryParams(f *testing.F) {
	for _, s := range []string{"username=ZhangSan", "id=a,b,c", "id=a,,b", "id=a&id=b", "email=a%40b", "phone_number=%2B8613000000000",
		"", "x=1", "%zz", "id=" + strings.Repeat("a,", 100) + "a", "client_id=e&username=ab", "username=a;b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest(http.MethodGet, "/auth/v1/user/query", nil)
		r.URL.RawQuery = raw
		key, value, err := queryKey(&call{r: r})
		if err != nil {
			return
		}
		if !contains(queryKeys, key) || value == "" {
			t.Fatalf("accepted key %q = %q", key, value)
		}
		if key != "id" {
			_, _ = queryValue(key, value)
			return
		}
		ids, err := queryIDs(value)
		if err != nil {
			return
		}
		if len(ids) < 1 || len(ids) > 100 {
			t.Fatalf("%d IDs accepted", len(ids))
		}
		for _, id := range ids {
			if id == "" || !validUserID(id) {
				t.Fatalf("ID %q accepted", id)
			}
		}
	})
}

// FuzzClientIDParam: a client_id accepted is the one url.ParseQuery reads,
// and the only one any reader splitting on '&' or ';' could read.
func FuzzClientIDParam(f *testing.F) {
	for _, s := range []string{"", "client_id=a", "client_id=", "client_id=a&client_id=b", "client_id=%zz", "client_id=a;b",
		"x=1;client_id=a", "client%5Fid=a", "client_id=a%20b&x=%zz", "a=1&b=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		id, err := clientIDParam(raw)
		if err != nil {
			return
		}
		values, _ := url.ParseQuery(raw)
		switch got := values["client_id"]; {
		case len(got) > 1:
			t.Fatalf("%q: accepted %q of %q", raw, id, got)
		case len(got) == 1 && got[0] != id, len(got) == 0 && id != "":
			t.Fatalf("%q: accepted %q, ParseQuery reads %q", raw, id, got)
		}
		for _, part := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' }) {
			key, value, _ := strings.Cut(part, "=")
			if k, err := url.QueryUnescape(key); err == nil && k == "client_id" {
				if v, err := url.QueryUnescape(value); err != nil || v != id {
					t.Fatalf("%q: accepted %q, a reader splitting on ';' reads %q", raw, id, v)
				}
			}
		}
	})
}

// refEditBody is editBody decoded by encoding/json alone: decodeBody's
// fast path takes *editBody only.
type refEditBody editBody

// FuzzDecodeEditFast: basic/edit's own decoder and encoding/json agree on
// every body: the same refusal, or the same fields.
func FuzzDecodeEditFast(f *testing.F) {
	for _, s := range editSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		`{"nickname":null,"nickname":"a","username":"b","username":null}`,
		`{"nick\u006eame":"x","password":{"a":[1]},"new_password":null}`,
		`{"user_id":"u","nickname":"a\"b\\c\/d","sudo_token":"s","verification_token":"v"}`,
		`{"gender":true}`, `{"phone":["x"]}`, `{"email":{}}`, `{"nickname":"ok","description":12}`,
		` { "nickname" : "a" , "username" : "b" } `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast editBody
		var ref refEditBody
		errFast := decodeBody(body, &fast)
		errRef := decodeBody(body, &ref)
		if (errFast == nil) != (errRef == nil) || (errFast != nil && errFast.description != errRef.description) {
			t.Fatalf("%q: fast decoder %v, encoding/json %v", body, errFast, errRef)
		}
		if errFast != nil {
			return
		}
		want := editBody(ref)
		for _, f := range []struct {
			name      string
			got, want *string
		}{
			{"user_id", fast.UserID, want.UserID}, {"nickname", fast.Nickname, want.Nickname},
			{"username", fast.Username, want.Username}, {"phone", fast.Phone, want.Phone},
			{"email", fast.Email, want.Email}, {"avatar_url", fast.AvatarURL, want.AvatarURL},
			{"gender", fast.Gender, want.Gender}, {"description", fast.Description, want.Description},
			{"verification_token", fast.VerificationToken, want.VerificationToken},
			{"sudo_token", fast.SudoToken, want.SudoToken},
		} {
			if (f.got == nil) != (f.want == nil) || (f.got != nil && *f.got != *f.want) {
				t.Fatalf("%q: %s = %s, encoding/json says %s", body, f.name, show(f.got), show(f.want))
			}
		}
		if !bytes.Equal(fast.Password, want.Password) || !bytes.Equal(fast.NewPassword, want.NewPassword) {
			t.Fatalf("%q: passwords %q %q, encoding/json says %q %q", body, fast.Password, fast.NewPassword, want.Password, want.NewPassword)
		}
	})
}

func show(s *string) string {
	if s == nil {
		return "nil"
	}
	return strconv.Quote(*s)
}
