package tests

import (
	"fmt"
	"testing"
)

const historyPath = "/auth/v1/user/security/history"

// TestSecurityHistory: through Caddy, the caller's changes newest first
// over two pages; limit 0 and 101 and a changed page_token are 400
// invalid_argument (never a Redis error); LOGIN is empty; none of it
// reaches the app.
func TestSecurityHistory(t *testing.T) {
	f := newFixture(t, offPolicies)
	tok := f.token("user-1", nil)
	for i := range 3 {
		f.do("POST", editPath, tok, fmt.Sprintf(`{"nickname":"Nick %d"}`, i)).wantOK(t)
	}
	f.do("POST", editPath, f.token("user-2", nil), `{"nickname":"Other"}`).wantOK(t)

	first := f.do("GET", historyPath+"?ne_query[action]=USER_LOGIN&limit=2", tok, "").wantOK(t)
	data, _ := first["data"].([]any)
	next, _ := first["next_page_token"].(string)
	if len(data) != 2 || next == "" {
		t.Fatalf("first page: %v", first)
	}
	second := f.do("GET", historyPath+"?ne_query[action]=USER_LOGIN&limit=2&page_token="+next, tok, "").wantOK(t)
	if rest, _ := second["data"].([]any); len(rest) != 1 || second["next_page_token"] != nil {
		t.Fatalf("second page: %v", second)
	}
	changed := next[:10] + "B" + next[11:]
	if next[10] == 'B' {
		changed = next[:10] + "C" + next[11:]
	}
	for _, q := range []string{"limit=0", "limit=101", "page_token=" + changed, "page_token=" + next + "A"} {
		f.do("GET", historyPath+"?ne_query[action]=USER_LOGIN&"+q, tok, "").wantError(t, 400, "invalid_argument")
	}
	// Another user's token, and that user's history, stay theirs.
	f.do("GET", historyPath+"?page_token="+next, f.token("user-2", nil), "").wantError(t, 400, "invalid_argument")
	other := f.do("GET", historyPath, f.token("user-2", nil), "").wantOK(t)
	if d, _ := other["data"].([]any); len(d) != 1 {
		t.Fatalf("user-2's history: %v", other)
	}
	login := f.do("GET", historyPath+"?query[action]=USER_LOGIN&limit=10", tok, "").wantOK(t)
	if d, _ := login["data"].([]any); d == nil || len(d) != 0 {
		t.Fatalf("LOGIN: %v", login)
	}
	if hits := f.app.Hits(); hits != 0 {
		t.Fatalf("the app saw %d requests", hits)
	}
}
