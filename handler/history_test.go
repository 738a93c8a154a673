package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/authedge/caddy-authedge/config"
)

// GET /auth/v1/user/security/history: the caller's own changes, written by
// the script of each change.

const pathHistory = "/auth/v1/user/security/history"

// historyEntry is an entry as the SDK reads it.
type historyEntry struct {
	ID        string   `json:"id"`
	Action    string   `json:"action"`
	Fields    []string `json:"fields"`
	IP        string   `json:"ip"`
	UserAgent string   `json:"user_agent"`
	ClientID  string   `json:"client_id"`
	DeviceID  string   `json:"device_id"`
	CreatedAt string   `json:"created_at"`
	Meta      struct {
		From string `json:"from"`
	} `json:"meta"`
}

type historyPage struct {
	Data          []historyEntry `json:"data"`
	NextPageToken *string        `json:"next_page_token"`
}

// history asks for sub's history with the query q, as the SDK's
// getUserBehaviorLog({type: "MODIFY"}) does unless q says otherwise.
func (e *env) history(sub, q string) *result {
	e.t.Helper()
	return e.serve(http.MethodGet, pathHistory+"?"+q, "", bearer(e.token(sub)))
}

func (r *result) page(t testing.TB) historyPage {
	t.Helper()
	r.wantOK(t)
	var p historyPage
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("%v in %s", err, r.body)
	}
	if p.Data == nil {
		t.Fatalf("no data array in %s", r.body)
	}
	return p
}

func TestHistoryListsOwnChanges(t *testing.T) {
	e := newEnv(t, verificationOff(), sudoOff())
	e.edit("u1", `{"nickname":"Alice","email":"alice@example.com"}`).wantOK(t)
	e.clock.Advance(1e9)
	e.editWith(e.token("u1", withClaim("aud", otherClient)), `{"avatar_url":"https://cdn.example.com/a.png","gender":"FEMALE"}`,
		header("User-Agent", "TestAgent/1.0"), header("X-Device-Id", "dev-7"), query("client_id="+otherClient)).wantOK(t)
	e.clock.Advance(1e9)
	e.editWith(e.adminToken(), `{"user_id":"u1","nickname":"Alice B"}`,
		header("User-Agent", "AdminConsole/2.0"), header("X-Device-Id", "admin-laptop")).wantOK(t)
	// Changes nothing: no entry.
	e.edit("u1", `{"nickname":"Alice B","gender":"FEMALE"}`).wantOK(t)
	e.edit("u2", `{"nickname":"Bob"}`).wantOK(t)

	res := e.history("u1", "ne_query[action]=USER_LOGIN&limit=10")
	p := res.page(t)
	if len(p.Data) != 3 || p.NextPageToken != nil {
		t.Fatalf("page = %s", res.body)
	}
	admin, second, first := p.Data[0], p.Data[1], p.Data[2]
	if admin.Meta.From != "admin" || fmt.Sprint(admin.Fields) != "[nickname]" {
		t.Errorf("admin's entry = %+v", admin)
	}
	// Where an admin works from is not the edited user's to see: their
	// address, user agent and device are left out (the app has them in
	// the change event).
	if admin.IP != "" || admin.UserAgent != "" || admin.DeviceID != "" || admin.ClientID != testEnvID {
		t.Errorf("admin's entry shows the admin's origin: %+v", admin)
	}
	if second.Meta.From != "self" || fmt.Sprint(second.Fields) != "[avatar_url gender]" ||
		second.UserAgent != "TestAgent/1.0" || second.DeviceID != "dev-7" || second.ClientID != otherClient ||
		second.IP != "192.0.2.1" || second.Action != "USER_MODIFY" {
		t.Errorf("second entry = %+v", second)
	}
	if first.ClientID != testEnvID || first.DeviceID != "" || fmt.Sprint(first.Fields) != "[nickname email]" {
		t.Errorf("first entry = %+v", first)
	}
	if first.CreatedAt != e.clock.Now().Add(-2e9).UTC().Format("2006-01-02T15:04:05Z07:00") {
		t.Errorf("created_at = %s, want %v", first.CreatedAt, e.clock.Now().Add(-2e9))
	}
	for _, value := range []string{"Alice", "alice@example.com", "cdn.example.com", "FEMALE"} {
		if strings.Contains(string(res.body), value) {
			t.Errorf("the history shows the value %q: %s", value, res.body)
		}
	}
	// Another user sees only their own; there is no way to name another
	// (a user_id is refused, not ignored: TestMeAndHistoryRefuseUserID).
	e.history("u2", "ne_query[action]=USER_LOGIN&limit=10&user_id=u1").wantError(t, 400, "invalid_argument")
	p2 := e.history("u2", "ne_query[action]=USER_LOGIN&limit=10").page(t)
	if len(p2.Data) != 1 || fmt.Sprint(p2.Data[0].Fields) != "[nickname]" {
		t.Fatalf("u2's history = %+v", p2)
	}
	if p := e.history("u3", "ne_query[action]=USER_LOGIN").page(t); len(p.Data) != 0 {
		t.Fatalf("a user without changes has history %+v", p)
	}
}

func TestHistoryPages(t *testing.T) {
	e := newEnv(t)
	for i := range 25 {
		e.edit("u1", fmt.Sprintf(`{"nickname":"Nick %d"}`, i)).wantOK(t)
	}
	var ids []string
	q := "ne_query[action]=USER_LOGIN&limit=10"
	var tokens []string
	for {
		p := e.history("u1", q).page(t)
		for _, d := range p.Data {
			ids = append(ids, d.ID)
		}
		if p.NextPageToken == nil {
			if len(p.Data) != 5 {
				t.Fatalf("last page has %d entries", len(p.Data))
			}
			break
		}
		tokens = append(tokens, *p.NextPageToken)
		q = "ne_query[action]=USER_LOGIN&limit=10&page_token=" + *p.NextPageToken
	}
	if len(ids) != 25 || len(tokens) != 2 {
		t.Fatalf("%d entries over %d tokens", len(ids), len(tokens))
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] || (i > 0 && id >= ids[i-1]) {
			t.Fatalf("ids not unique and newest first: %v", ids)
		}
		seen[id] = true
	}
	// No limit: 20; the SDK's limit=undefined and limit=null too.
	for _, q := range []string{"ne_query[action]=USER_LOGIN", "ne_query[action]=USER_LOGIN&limit=undefined", "limit=", "limit=null"} {
		if p := e.history("u1", q).page(t); len(p.Data) != 20 || p.NextPageToken == nil {
			t.Fatalf("%s: %d entries", q, len(p.Data))
		}
	}
	if p := e.history("u1", "limit=100").page(t); len(p.Data) != 25 || p.NextPageToken != nil {
		t.Fatalf("limit=100: %d entries", len(p.Data))
	}
	for _, limit := range []string{"0", "101", "-1", "+5", "1.5", "abc", "1000", "%205", "0x10", "5&limit=6", "Null", "NaN"} {
		e.history("u1", "limit="+limit).wantError(t, 400, "invalid_argument").wantDescription(t, "limit")
	}

	// A tampered token is refused, never a Redis error; so is another
	// user's token.
	tok := tokens[0]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range tok {
		c := alphabet[(strings.IndexByte(alphabet, tok[i])+1)%len(alphabet)]
		bad := tok[:i] + string(c) + tok[i+1:]
		e.history("u1", "page_token="+bad).wantError(t, 400, "invalid_argument").wantDescription(t, "page_token")
	}
	for _, bad := range []string{tok + "A", tok[1:], "x", "%zz", strings.Repeat("A", 5000), tok + "=", tok[:22] + "+"} {
		res := e.serve(http.MethodGet, pathHistory+"?page_token="+bad, "", bearer(e.token("u1")))
		res.wantError(t, 400, "invalid_argument")
	}
	e.edit("u2", `{"nickname":"Bob"}`).wantOK(t)
	e.history("u2", "page_token="+tok).wantError(t, 400, "invalid_argument")
}

func TestHistoryLoginIsEmpty(t *testing.T) {
	e := newEnv(t)
	e.edit("u1", `{"nickname":"Alice"}`).wantOK(t)
	for _, q := range []string{"query[action]=USER_LOGIN&limit=10", "ne_query[action]=USER_MODIFY", "query[action]=USER_LOGIN&ne_query[action]=USER_LOGIN"} {
		if p := e.history("u1", q).page(t); len(p.Data) != 0 || p.NextPageToken != nil {
			t.Fatalf("%s: %+v", q, p)
		}
	}
	if p := e.history("u1", "query[action]=USER_MODIFY").page(t); len(p.Data) != 1 {
		t.Fatalf("query[action]=USER_MODIFY: %+v", p)
	}
	for _, q := range []string{"query[action]=LOGIN", "ne_query[action]=", "query[action]=USER_LOGIN&query[action]=USER_MODIFY"} {
		e.history("u1", q).wantError(t, 400, "invalid_argument").wantDescription(t, "action")
	}
	e.serve(http.MethodPost, pathHistory, "{}", bearer(e.token("u1"))).wantError(t, 405, "method_not_allowed")
	e.serve(http.MethodGet, pathHistory, "").wantError(t, 401, "unauthenticated")
}

// TestEditsMakeEvents: with an events block, each change through the API
// appends its event, with the request's origin.
func TestEditsMakeEvents(t *testing.T) {
	e := newEnv(t, verificationOff(), sudoOff(), withConfig(func(c *config.Config) { c.Events = &config.Events{StreamMaxLen: 100} }))
	e.edit("u1", `{"nickname":"Alice"}`, header("X-Device-Id", "dev-1")).wantOK(t)
	e.contact("u1", `{"email":"alice@example.com"}`).wantOK(t)
	e.edit("u1", `{"nickname":"Alice"}`).wantOK(t) // no change, no event
	entries, err := e.rawRedis().XRange(context.Background(), "authedge:{"+testEnvID+"}:events", "-", "+").Result()
	if err != nil || len(entries) != 2 {
		t.Fatalf("%d events, %v", len(entries), err)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(entries[0].Values["event"].(string)), &ev); err != nil {
		t.Fatal(err)
	}
	if ev["type"] != "user.updated" || ev["actor"] != "u1" || ev["user_id"] != "u1" || ev["device_id"] != "dev-1" ||
		ev["ip"] != "192.0.2.1" || ev["client_id"] != testEnvID {
		t.Errorf("event = %v", ev)
	}
	if c := fmt.Sprint(ev["changes"]); c != "map[nickname:map[new:Alice old:<nil>]]" {
		t.Errorf("changes = %s", c)
	}
	if !strings.Contains(entries[1].Values["event"].(string), `"email":{`) {
		t.Errorf("contact event = %v", entries[1].Values)
	}
}

func TestPageTokenRoundTrip(t *testing.T) {
	for _, id := range []int64{1, 1_700_000_000_000, 1 << 53} {
		tok := encodePageToken("u1", id)
		if len(tok) != pageTokenLen {
			t.Fatalf("token %q is %d long, want %d", tok, len(tok), pageTokenLen)
		}
		got, err := decodePageToken("u1", tok)
		if err != nil || got != id {
			t.Fatalf("decode(encode(%d)) = %d, %v", id, got, err)
		}
		if _, err := decodePageToken("u2", tok); err == nil {
			t.Fatal("another user's token decoded")
		}
	}
	for _, id := range []int64{0, 1<<53 + 1, -1} {
		if _, err := decodePageToken("u1", encodePageToken("u1", id)); err == nil {
			t.Fatalf("a token before %d decoded", id)
		}
	}
}

// FuzzPageToken: the decoder never panics, accepts only what the encoder
// makes (so no two spellings of one token), and what it accepts is an ID
// in range.
func FuzzPageToken(f *testing.F) {
	f.Add("u1", encodePageToken("u1", 1_700_000_000_000))
	f.Add("u1", encodePageToken("u2", 5))
	f.Add("", "")
	f.Add("u1", "AQAAAYvPzGAA4mWxR8Rzq0Y")
	f.Fuzz(func(t *testing.T, user, token string) {
		id, err := decodePageToken(user, token)
		if err != nil {
			return
		}
		if id <= 0 || id > 1<<53 {
			t.Fatalf("decoded %d", id)
		}
		if again := encodePageToken(user, id); again != token {
			t.Fatalf("%q decodes to %d, which encodes as %q", token, id, again)
		}
	})
}

// TestLargestEventSize: what one edit can make an event weigh, with every
// value at its longest, in 4-byte characters where the rules allow them,
// and changed from one such value to another. docs/events.md sizes the
// stream by it: a user's edits, not the operator, choose the size of each
// of the stream_max_len events it keeps.
func TestLargestEventSize(t *testing.T) {
	e := newEnv(t, verificationOff(), sudoOff(), withConfig(func(c *config.Config) { c.Events = &config.Events{StreamMaxLen: 100} }))
	sub := strings.Repeat("u", 256)
	device := strings.Repeat("d", 128)
	edit := func(wide, name string) {
		t.Helper()
		body, err := json.Marshal(map[string]string{
			"nickname":    strings.Repeat(wide, 48),
			"username":    strings.Repeat(name, 48),
			"avatar_url":  "https://a.example/" + strings.Repeat(wide, 2048-len("https://a.example/")),
			"gender":      "FEMALE",
			"description": strings.Repeat(wide, 500),
		})
		if err != nil {
			t.Fatal(err)
		}
		e.edit(sub, string(body), header("X-Device-Id", device)).wantOK(t)
	}
	edit("😀", "a")
	edit("🙂", "b")
	entries, err := e.rawRedis().XRange(context.Background(), "authedge:{"+testEnvID+"}:events", "-", "+").Result()
	if err != nil || len(entries) != 2 {
		t.Fatalf("%d events, %v", len(entries), err)
	}
	size := len(entries[1].Values["event"].(string))
	t.Logf("the largest basic/edit event: %d bytes", size)
	// docs/events.md#keys-and-sizes says "about 22 KB".
	if size < 20_000 || size > 24_000 {
		t.Errorf("the largest event is %d bytes; docs/events.md says about 22 KB", size)
	}
}
