package handler

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/authedge/caddy-authedge/config"
)

// The OIDC profile (PATCH user/profile), the username checks and the
// admins' user/query (docs/api.md).

const (
	pathProfile     = "/auth/v1/user/profile"
	pathCheckName   = "/auth/v1/checkUsername"
	pathUserExists  = "/auth/v1/checkIfUserExist"
	pathQueryUsers  = "/auth/v1/user/query"
	profileBodyFull = `{"name":"Zhang San","picture":"https://a.example/z.png","gender":"MALE","birthdate":"1990-05-17",` +
		`"zoneinfo":"Asia/Shanghai","locale":"zh-hans-cn","username":"ZhangSan","description":"hi"}`
)

// setProfile is PATCH user/profile as sub.
func (e *env) setProfile(sub, body string, opts ...reqOpt) *result {
	e.t.Helper()
	return e.serve(http.MethodPatch, pathProfile, body, append([]reqOpt{bearer(e.token(sub))}, opts...)...)
}

func fromIP(addr string) reqOpt { return func(r *http.Request) { r.RemoteAddr = addr + ":40000" } }

// TestSetProfile: every field is stored through the same script, the
// answer is the whole profile as user/me answers it, locale is stored
// canonical, and "" clears the new fields.
func TestSetProfile(t *testing.T) {
	e := newEnv(t)
	got := e.setProfile("u1", profileBodyFull).wantOK(t)
	want := map[string]string{
		"sub": "u1", "name": "Zhang San", "picture": "https://a.example/z.png", "gender": "MALE",
		"birthdate": "1990-05-17", "zoneinfo": "Asia/Shanghai", "locale": "zh-Hans-CN", "username": "ZhangSan", "description": "hi",
	}
	for k, v := range want {
		if got.str(k) != v {
			t.Errorf("answer %s = %q, want %q", k, got.str(k), v)
		}
	}
	if got.str("created_at") == "" || got.str("updated_at") == "" {
		t.Errorf("answer without times: %s", got.body)
	}
	me := e.me("u1")
	if string(me.body) != string(got.body) {
		t.Errorf("user/me %s\nanswer   %s", me.body, got.body)
	}

	// Partial: only what is given changes; "" clears an optional field.
	e.clock.Advance(time.Second)
	got = e.setProfile("u1", `{"birthdate":"","zoneinfo":"Europe/Paris","locale":null}`).wantOK(t)
	if got.str("birthdate") != "" || got.str("zoneinfo") != "Europe/Paris" || got.str("locale") != "zh-Hans-CN" || got.str("name") != "Zhang San" {
		t.Errorf("after a partial edit: %s", got.body)
	}
	if got.str("updated_at") == me.str("updated_at") {
		t.Error("updated_at did not move")
	}
	// basic/edit's view of the same profile.
	e.edit("u1", `{"nickname":"Zhang Si"}`).wantOK(t)
	if e.me("u1").str("name") != "Zhang Si" {
		t.Error("a basic/edit nickname is not the profile's name")
	}
}

// TestSetProfileRules: each bad value is 400 naming its field, and
// nothing is written (the caller's profile is not even created).
func TestSetProfileRules(t *testing.T) {
	e := newEnv(t)
	tomorrowEverywhere := e.clock.Now().UTC().Add(48 * time.Hour).Format(time.DateOnly)
	cases := []struct{ name, body, field string }{
		{"impossible date", `{"birthdate":"2023-02-29"}`, "birthdate"},
		{"future birthdate", `{"birthdate":"` + tomorrowEverywhere + `"}`, "birthdate"},
		{"not a date", `{"birthdate":"17/05/1990"}`, "birthdate"},
		{"Mars", `{"zoneinfo":"Mars/Olympus"}`, "zoneinfo"},
		{"Local", `{"zoneinfo":"Local"}`, "zoneinfo"},
		{"malformed locale", `{"locale":"en--US"}`, "locale"},
		{"POSIX locale", `{"locale":"en_US"}`, "locale"},
		{"region in three letters", `{"locale":"en-USA"}`, "locale"},
		{"singleton twice", `{"locale":"en-u-ca-gregory-u-nu-latn"}`, "locale"},
		{"phone", `{"phone_number":"+86 13000000000"}`, "phone_number"},
		{"email", `{"email":"a@example.com"}`, "email"},
		{"empty name", `{"name":""}`, "name"},
		{"short name", `{"name":"Z"}`, "name"},
		{"bad picture", `{"picture":"ftp://a.example/x"}`, "picture"},
		{"bad username", `{"username":"a b"}`, "username"},
		{"empty username", `{"username":""}`, "username"},
		{"bad gender", `{"gender":"OTHER"}`, "gender"},
		{"wrong type", `{"birthdate":19900517}`, "birthdate"},
		{"basic/edit name", `{"nickname":"Zhang San"}`, "nickname"},
		{"good fields do not save a bad one", `{"name":"Zhang San","locale":"en--US"}`, "locale"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.setProfile("u1", tc.body).wantError(t, 400, "invalid_argument").wantDescription(t, tc.field)
		})
	}
	if _, ok, err := e.store.Profile(context.Background(), "u1"); err != nil || ok {
		t.Fatalf("a refused edit created the profile: %v, %v", ok, err)
	}
	// A null contact is "not given": allowed.
	e.setProfile("u1", `{"email":null,"phone_number":null,"name":"Zhang San"}`).wantOK(t)
}

// TestSetProfileSharesEditRules: uniqueness and the per-caller rate limit
// are basic/edit's, through the same script.
func TestSetProfileSharesEditRules(t *testing.T) {
	e := newEnv(t, withEditLimit(3, time.Minute))
	e.edit("u1", `{"username":"Taken"}`).wantOK(t)
	e.setProfile("u2", `{"username":"TAKEN"}`).wantError(t, 409, "username_already_exists")
	e.setProfile("u1", `{"username":"taken"}`).wantOK(t) // own, new spelling
	e.edit("u2", `{"nickname":"Li Si"}`).wantOK(t)
	e.setProfile("u2", `{"locale":"fr"}`).wantOK(t) // u2's third edit, the conflict included
	r := e.setProfile("u2", `{"locale":"en"}`).wantError(t, 429, "resource_exhausted")
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if p, _, _ := e.store.Profile(context.Background(), "u2"); p.Locale != "fr" {
		t.Error("a rate-limited edit was written")
	}
}

// TestCheckUsername: free and own are 200 {}, taken is 409, a name that
// breaks the rule is 400, and a token is required.
func TestCheckUsername(t *testing.T) {
	e := newEnv(t)
	e.edit("owner", `{"username":"Alice"}`).wantOK(t)
	check := func(sub, q string) *result {
		return e.serve(http.MethodGet, pathCheckName+"?"+q, "", bearer(e.token(sub)))
	}
	if r := check("u1", "username=Bob").wantOK(t); string(r.body) != "{}" {
		t.Errorf("free: %s", r.body)
	}
	check("owner", "username=ALICE").wantOK(t)
	check("u1", "username=alice").wantError(t, 409, "username_already_exists")
	check("u1", "username=a").wantError(t, 400, "invalid_argument").wantDescription(t, "username")
	check("u1", "username=12345").wantError(t, 400, "invalid_argument")
	check("u1", "username=a%40b").wantError(t, 400, "invalid_argument")
	check("u1", "").wantError(t, 400, "invalid_argument").wantDescription(t, "username")
	check("u1", "username=Bob&username=Eve").wantError(t, 400, "invalid_argument")
	check("u1", "name=Bob").wantError(t, 400, "invalid_argument").wantDescription(t, "name")
	check("u1", "username=%zz").wantError(t, 400, "invalid_argument")
	check("u1", "username=Bob&client_id="+testEnvID).wantOK(t)
	e.serve(http.MethodGet, pathCheckName+"?username=Bob", "").wantError(t, 401, "unauthenticated")
	e.serve(http.MethodPost, pathCheckName+"?username=Bob", "{}", bearer(e.token("u1"))).wantError(t, 405, "method_not_allowed")
}

// TestCheckIfUserExist: no token, matched case-insensitively, and a storm
// from one client IP is refused after 30 in a minute while another IP is
// still served.
func TestCheckIfUserExist(t *testing.T) {
	e := newEnv(t)
	e.edit("owner", `{"username":"Alice"}`).wantOK(t)
	exists := func(ip, name string) *result {
		return e.serve(http.MethodGet, pathUserExists+"?username="+url.QueryEscape(name)+"&client_id="+testEnvID, "", fromIP(ip))
	}
	for i := 0; i < 30; i++ {
		name, want := "ALICE", true
		if i%2 == 1 {
			name, want = "Bob", false
		}
		r := exists("198.51.100.7", name).wantOK(t)
		if got, ok := r.json["exist"].(bool); !ok || got != want || len(r.json) != 1 {
			t.Fatalf("lookup %d of %s: %s", i+1, name, r.body)
		}
	}
	r := exists("198.51.100.7", "Alice").wantError(t, 429, "resource_exhausted")
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After = %q", r.header.Get("Retry-After"))
	}
	if got := exists("198.51.100.8", "alice").wantOK(t).json["exist"]; got != true {
		t.Errorf("another IP: exist = %v", got)
	}
	// An IPv6 client counts with its /64: another address in it is the
	// same budget. (The limit here is the default, 30 per minute.)
	for i := 0; i < 30; i++ {
		exists("[2001:db8::"+strconv.Itoa(i+1)+"]", "Bob").wantOK(t)
	}
	e.serve(http.MethodGet, pathUserExists+"?username=Bob", "", func(r *http.Request) { r.RemoteAddr = "[2001:db8::ff]:1" }).
		wantError(t, 429, "resource_exhausted")
	// The window ends.
	e.clock.Advance(time.Minute) // the store counts in Redis time: drop the counters
	if err := e.rawRedis().Del(context.Background(), lookupCounterKeys(t, e)...).Err(); err != nil {
		t.Fatal(err)
	}
	exists("198.51.100.7", "Alice").wantOK(t)
	// Bad requests are 400 and not counted.
	exists("198.51.100.9", "a").wantError(t, 400, "invalid_argument")
	e.serve(http.MethodGet, pathUserExists+"?username=Alice&client_id=stranger", "").wantError(t, 400, "invalid_argument")
}

func lookupCounterKeys(t *testing.T, e *env) []string {
	t.Helper()
	keys, err := e.rawRedis().Keys(context.Background(), "*:lk:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("lookup counters: %v, %v", keys, err)
	}
	return keys
}

// TestCheckIfUserExistLimitIsConfigured: rate_limit lookups is what
// counts.
func TestCheckIfUserExistLimitIsConfigured(t *testing.T) {
	e := newEnv(t, withConfig(func(c *config.Config) {
		c.RateLimit.Lookups = &config.Limit{Count: 2, Window: caddy.Duration(time.Hour)}
	}))
	for i := 0; i < 2; i++ {
		e.serve(http.MethodGet, pathUserExists+"?username=Bob", "").wantOK(t)
	}
	r := e.serve(http.MethodGet, pathUserExists+"?username=Bob", "").wantError(t, 429, "resource_exhausted")
	if s, _ := strconv.Atoi(r.header.Get("Retry-After")); s < 3000 {
		t.Errorf("Retry-After = %q, want about an hour", r.header.Get("Retry-After"))
	}
}

// TestCheckUsernameCountsLookups: checkUsername tells whether a name is
// taken, so it spends the client IP's lookups budget, the one
// checkIfUserExist spends: a token holder cannot walk the index either.
// A name that breaks the rule is 400 and not counted.
func TestCheckUsernameCountsLookups(t *testing.T) {
	e := newEnv(t, withConfig(func(c *config.Config) {
		c.RateLimit.Lookups = &config.Limit{Count: 3, Window: caddy.Duration(time.Hour)}
	}))
	e.edit("owner", `{"username":"Alice"}`).wantOK(t)
	check := func(ip, name string) *result {
		return e.serve(http.MethodGet, pathCheckName+"?username="+name, "", bearer(e.token("u1")), fromIP(ip))
	}
	check("198.51.100.7", "a").wantError(t, 400, "invalid_argument")
	check("198.51.100.7", "Bob").wantOK(t)
	check("198.51.100.7", "alice").wantError(t, 409, "username_already_exists")
	e.serve(http.MethodGet, pathUserExists+"?username=Bob", "", fromIP("198.51.100.7")).wantOK(t)
	r := check("198.51.100.7", "Carol").wantError(t, 429, "resource_exhausted")
	if s, _ := strconv.Atoi(r.header.Get("Retry-After")); s < 3000 {
		t.Errorf("Retry-After = %q, want about an hour", r.header.Get("Retry-After"))
	}
	e.serve(http.MethodGet, pathUserExists+"?username=Bob", "", fromIP("198.51.100.7")).wantError(t, 429, "resource_exhausted")
	// Another client IP has its own budget.
	check("198.51.100.8", "Bob").wantOK(t)
}

// seedUsers gives u1 a username, phone and an email with an IDNA domain,
// through an admin (who skips verification and sudo), and u2 a nickname.
func seedUsers(t *testing.T, e *env) {
	t.Helper()
	e.me("u1")
	e.editWith(e.adminToken(), `{"user_id":"u1","nickname":"Zhang San","username":"ZhangSan","phone":"+86 13000000000",`+
		`"email":"Zhang@Bücher.example","gender":"MALE","avatar_url":"https://a.example/z.png"}`).wantOK(t)
	e.setProfile("u1", `{"birthdate":"1990-05-17"}`).wantOK(t)
	e.edit("u2", `{"nickname":"Li Si"}`).wantOK(t)
}

func (e *env) queryUsers(tok, q string) *result {
	e.t.Helper()
	return e.serve(http.MethodGet, pathQueryUsers+"?"+q, "", bearer(tok))
}

// querySubs checks a user/query answer's shape and returns its subs.
func querySubs(t *testing.T, r *result) []string {
	t.Helper()
	r.wantOK(t)
	data, ok := r.json["data"].([]any)
	if !ok || len(r.json) != 2 {
		t.Fatalf("answer %s: want exactly total and data", r.body)
	}
	if n, _ := r.json["total"].(float64); int(n) != len(data) {
		t.Fatalf("total %v for %d items", r.json["total"], len(data))
	}
	allowed := map[string]bool{"sub": true, "name": true, "picture": true, "gender": true, "email": true, "phone_number": true, "username": true}
	var subs []string
	for _, d := range data {
		item := d.(map[string]any)
		for k := range item {
			if !allowed[k] {
				t.Errorf("item key %q is not one of user/query's", k)
			}
		}
		subs = append(subs, item["sub"].(string))
	}
	return subs
}

// TestQueryUsers: each key, every spelling the index treats as one value,
// the whole item for a match, and total 0 for none.
func TestQueryUsers(t *testing.T) {
	e := newEnv(t)
	seedUsers(t, e)
	admin := e.adminToken()

	r := e.queryUsers(admin, "username=zhangsan")
	if subs := querySubs(t, r); len(subs) != 1 {
		t.Fatalf("by username: %s", r.body)
	}
	item := r.json["data"].([]any)[0].(map[string]any)
	want := map[string]any{"sub": "u1", "name": "Zhang San", "picture": "https://a.example/z.png", "gender": "MALE",
		"email": "Zhang@Bücher.example", "phone_number": "+86 13000000000", "username": "ZhangSan"}
	for k, v := range want {
		if item[k] != v {
			t.Errorf("item %s = %v, want %v", k, item[k], v)
		}
	}
	if len(item) != len(want) {
		t.Errorf("item %v has more than %v", item, want)
	}

	for _, q := range []string{
		"username=ZHANGSAN", "username=ZhangSan",
		"email=" + url.QueryEscape("zhang@BÜCHER.example"), "email=" + url.QueryEscape("ZHANG@xn--bcher-kva.example"),
		"email=" + url.QueryEscape("Zhang@Bücher.example"),
		"phone_number=" + url.QueryEscape("+86 13000000000"), "phone_number=" + url.QueryEscape("+8613000000000"),
		"phone_number=" + url.QueryEscape("+86 130 0000 0000"),
		"id=u1", "id=nobody,u1",
	} {
		if subs := querySubs(t, e.queryUsers(admin, q)); len(subs) != 1 || subs[0] != "u1" {
			t.Errorf("%s: %v", q, subs)
		}
	}
	for _, q := range []string{"username=ZhangSi", "email=zhang%40bucher.example", "phone_number=%2B8613000000001", "id=nobody",
		"username=null", "id=undefined"} { // alone, the SDK's words are looked up as written
		if subs := querySubs(t, e.queryUsers(admin, q)); len(subs) != 0 {
			t.Errorf("%s matched %v", q, subs)
		}
	}
	// The SDK's URLSearchParams writes properties left unset as the words
	// undefined and null: beside a real key they are not given.
	for _, q := range []string{
		"username=ZhangSan&email=undefined", "email=undefined&phone_number=null&id=u1",
		"username=null&phone_number=" + url.QueryEscape("+8613000000000"),
	} {
		if subs := querySubs(t, e.queryUsers(admin, q)); len(subs) != 1 || subs[0] != "u1" {
			t.Errorf("%s: %v", q, subs)
		}
	}
	// IDs in the order given, each once; u2 has only a name.
	r = e.queryUsers(admin, "id=u2,u1,u2")
	if subs := querySubs(t, r); strings.Join(subs, ",") != "u2,u1" {
		t.Errorf("id=u2,u1,u2: %v", subs)
	}
	if got := r.json["data"].([]any)[0].(map[string]any); len(got) != 2 || got["name"] != "Li Si" {
		t.Errorf("u2's item = %v, want only sub and name", got)
	}
}

// TestQueryUsersRules: exactly one well-formed key, at most 100 IDs, and
// the admin scope; the request's own rules are checked before the
// permission (docs/api.md's order of checks: field rules, then permission).
func TestQueryUsersRules(t *testing.T) {
	e := newEnv(t)
	seedUsers(t, e)
	admin, user := e.adminToken(), e.token("u2")
	ids := func(n int) string {
		list := make([]string, n)
		for i := range list {
			list[i] = "id" + strconv.Itoa(i)
		}
		return strings.Join(list, ",")
	}
	for _, tc := range []struct{ name, q string }{
		{"no key", ""},
		{"two keys", "username=ZhangSan&id=u1"},
		{"only keys the SDK left unset", "username=undefined&email=null"},
		{"a key twice", "id=u1&id=u2"},
		{"unknown key", "nickname=Zhang"},
		{"empty value", "username="},
		{"101 IDs", "id=" + ids(101)},
		{"an empty ID", "id=u1,,u2"},
		{"a trailing comma", "id=u1,"},
		{"a control character in an ID", "id=u%01"},
		{"invalid UTF-8 in an ID", "id=u%FF"},
		{"a bad username", "username=a"},
		{"a bad email", "email=not-an-email"},
		{"a phone without country code", "phone_number=13000000000"},
		{"a phone with its + unescaped", "phone_number=+86%2013000000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.queryUsers(admin, tc.q).wantError(t, 400, "invalid_argument")
			e.queryUsers(user, tc.q).wantError(t, 400, "invalid_argument")
		})
	}
	if subs := querySubs(t, e.queryUsers(admin, "id="+ids(99)+",u1")); len(subs) != 1 {
		t.Errorf("100 IDs: %v", subs)
	}
	// A non-admin is refused whether or not the user exists.
	for _, q := range []string{"username=ZhangSan", "username=Nobody", "id=u2", "email=zhang%40b%C3%BCcher.example"} {
		e.queryUsers(user, q).wantError(t, 403, "permission_denied")
	}
	e.serve(http.MethodGet, pathQueryUsers+"?id=u1", "").wantError(t, 401, "unauthenticated")
	e.serve(http.MethodGet, pathQueryUsers+"?id="+ids(101), "", bearer("bad.token")).wantError(t, 401, "unauthenticated")
	e.serve(http.MethodPost, pathQueryUsers+"?id=u1", "{}", bearer(admin)).wantError(t, 405, "method_not_allowed")
}

// TestNewEndpointsAreRouted: the four paths are intercepted, with their
// one method each.
func TestNewEndpointsAreRouted(t *testing.T) {
	e := newEnv(t)
	var allowed []string
	for path, method := range map[string]string{pathProfile: http.MethodPatch, pathCheckName: http.MethodGet, pathUserExists: http.MethodGet, pathQueryUsers: http.MethodGet} {
		r := e.serve(http.MethodPut, path, "", bearer(e.token("u1"))).wantError(t, 405, "method_not_allowed")
		if got := r.header.Get("Allow"); got != method {
			t.Errorf("%s: Allow = %q, want %q", path, got, method)
		}
		allowed = append(allowed, path)
	}
	sort.Strings(allowed)
	if len(allowed) != 4 {
		t.Fatal(allowed)
	}
}
