package tests

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestACLRecipeThroughCaddy runs the API through the built Caddy with
// Redis's default user cut down to the ACL recipe of
// docs/configuration.md ("A Redis ACL user"): what the module sends on
// its own (at provisioning, per request, the revocation reader) must be
// in the recipe too. store's TestACLRecipe proves each rule.
func TestACLRecipeThroughCaddy(t *testing.T) {
	f := newFixture(t, offPolicies)
	other := f.secondCaddy()
	admin := redis.NewClient(&redis.Options{Addr: f.redis.Addr, Protocol: 2})
	defer admin.Close()
	ctx := t.Context()
	if err := admin.Do(ctx, "acl", "setuser", "acl-admin", "on", ">admin-pw", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	admin = redis.NewClient(&redis.Options{Addr: f.redis.Addr, Username: "acl-admin", Password: "admin-pw", Protocol: 2})
	defer admin.Close()
	// Caddy connects as the default user: it gets the recipe's rights.
	if err := admin.Do(ctx, recipeFor(t, "default")...).Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "acl", "log", "reset").Err(); err != nil {
		t.Fatal(err)
	}

	tok := f.token("acl-user", nil)
	f.do("POST", editPath, tok, `{"nickname":"ACL","username":"acl_user","email":"acl@example.com"}`).wantOK(t)
	f.do("GET", mePath, tok, "").wantOK(t)
	f.do("GET", existPath+"?username=acl_user", "", "").wantOK(t)
	q := f.token("acl-admin", claims{"scope": "openid admin"})
	f.do("GET", userQueryURL+"?username=acl_user", q, "").wantOK(t)
	f.do("GET", historyPath, tok, "").wantOK(t)
	// A token revoked on one instance is refused by the other.
	victim := f.token("acl-victim", nil)
	f.doAt(other, "GET", mePath, victim, "").wantOK(t)
	f.do("POST", "/auth/v1/revoke", "", `{"token":"`+victim+`"}`).wantOK(t)
	deadline := time.Now().Add(5 * time.Second)
	for f.doAt(other, "GET", mePath, victim, "").Status != 401 {
		if time.Now().After(deadline) {
			t.Fatal("the other instance still takes the revoked token")
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.do("DELETE", "/auth/v1/user/revoke/all", tok, "").wantOK(t)

	if log, err := admin.Do(ctx, "acl", "log").Slice(); err != nil || len(log) != 0 {
		t.Errorf("ACL LOG = %v, %v; want it empty", log, err)
	}
}

// recipeFor is the documented ACL SETUSER line for user, for this
// environment, without a password.
func recipeFor(t *testing.T, user string) []any {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "ACL SETUSER authedge ")
		if !ok {
			continue
		}
		line = strings.ReplaceAll(line, "authedge:{prod}:", "authedge:{"+testEnv+"}:")
		line = strings.ReplaceAll(line, ">change-me", "nopass")
		args := []any{"acl", "setuser", user}
		for _, a := range strings.Fields(line) {
			args = append(args, a)
		}
		return args
	}
	t.Fatal("docs/configuration.md has no ACL SETUSER authedge line")
	return nil
}
