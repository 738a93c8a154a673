package tests

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// seedEdit is the seed's example request: every field at once. With
// verification and sudo off it returns {}.
const seedEdit = `{
	"nickname": "张三",
	"username": "zhangsan",
	"gender": "MALE",
	"avatar_url": "https://example.com/avatar/zhangsan.png",
	"description": "Hello from CloudBase",
	"phone": "+86 13000000000",
	"email": "zhangsan@example"
}`

const (
	editPath = "/auth/v1/user/basic/edit"
	mePath   = "/auth/v1/user/me"
)

// wantFields checks that a user/me body holds exactly these values for the
// given keys; a "" value means the key must be absent.
func wantFields(t *testing.T, me map[string]any, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := me[k]
		if v == "" {
			if ok {
				t.Errorf("me.%s = %v, want it absent", k, got)
			}
			continue
		}
		if got != v {
			t.Errorf("me.%s = %v, want %q", k, got, v)
		}
	}
}

func TestSeedEditThenMe(t *testing.T) {
	f := newFixture(t, offPolicies)
	tok := f.token("user-1", nil)

	me := f.do("GET", mePath, tok, "").wantOK(t)
	wantFields(t, me, map[string]string{"sub": "user-1", "name": "", "username": "", "phone_number": ""})
	created, err := time.Parse(time.RFC3339, me["created_at"].(string))
	if err != nil {
		t.Fatalf("created_at %v: %v", me["created_at"], err)
	}
	if d := time.Since(created); d < -time.Minute || d > time.Minute {
		t.Errorf("created_at %v is not now", created)
	}
	if _, err := time.Parse(time.RFC3339, me["updated_at"].(string)); err != nil {
		t.Errorf("updated_at %v: %v", me["updated_at"], err)
	}

	r := f.do("POST", editPath, tok, seedEdit)
	r.wantOK(t)
	if strings.TrimSpace(string(r.Body)) != "{}" {
		t.Errorf("edit answered %q, want {}", r.Body)
	}

	me = f.do("GET", mePath, tok, "").wantOK(t)
	wantFields(t, me, map[string]string{
		"sub":          "user-1",
		"name":         "张三",
		"username":     "zhangsan",
		"gender":       "MALE",
		"picture":      "https://example.com/avatar/zhangsan.png",
		"description":  "Hello from CloudBase",
		"phone_number": "+86 13000000000",
		"email":        "zhangsan@example",
	})
}

func TestPartialEdits(t *testing.T) {
	f := newFixture(t, offPolicies)
	tok := f.token("user-1", nil)
	f.do("POST", editPath, tok, seedEdit).wantOK(t)

	// What CloudBase's SDK sends: text/plain, x-device-id, x-request-id.
	f.do("POST", editPath, tok, `{"description":"changed"}`,
		"Content-Type", "text/plain;charset=UTF-8",
		"X-Device-Id", "3eb3ff5d067d4685b9ec8743fc79565d",
		"X-Request-Id", "5a1dbe83ccb441c8afdd0a589241a30c").wantOK(t)
	// No Content-Type at all.
	f.do("POST", editPath, tok, `{"gender":"FEMALE"}`, "Content-Type", "").wantOK(t)
	// null is "not given".
	f.do("POST", editPath, tok, `{"nickname":null,"username":null}`).wantOK(t)
	// "" clears the optional fields; the phone number is given in another
	// format and stored normalised.
	f.do("POST", editPath, tok, `{"avatar_url":"","phone":"+8613000000001"}`).wantOK(t)

	me := f.do("GET", mePath, tok, "").wantOK(t)
	wantFields(t, me, map[string]string{
		"name":         "张三",
		"username":     "zhangsan",
		"gender":       "FEMALE",
		"description":  "changed",
		"picture":      "",
		"phone_number": "+86 13000000001",
		"email":        "zhangsan@example",
	})

	// A rejected edit changes nothing, not even its valid fields.
	f.do("POST", editPath, tok, `{"nickname":"李四","gender":"OTHER"}`).wantError(t, http.StatusBadRequest, "invalid_argument")
	wantFields(t, f.do("GET", mePath, tok, "").wantOK(t), map[string]string{"name": "张三", "gender": "FEMALE"})
}

func TestUniqueness(t *testing.T) {
	f := newFixture(t, offPolicies)
	one, two := f.token("user-1", nil), f.token("user-2", nil)
	f.do("POST", editPath, one, seedEdit).wantOK(t)
	f.do("GET", mePath, two, "").wantOK(t)

	f.do("POST", editPath, two, `{"username":"ZHANGSAN"}`).wantError(t, http.StatusConflict, "username_already_exists")
	f.do("POST", editPath, two, `{"email":"ZhangSan@Example"}`).wantError(t, http.StatusConflict, "email_already_exists")
	f.do("POST", editPath, two, `{"phone":"+86 130 0000 0000"}`).wantError(t, http.StatusConflict, "phone_already_exists")

	// Your own value in another case or format is no conflict: just the new
	// display form.
	f.do("POST", editPath, one, `{"username":"ZhangSan","phone":"+8613000000000"}`).wantOK(t)
	wantFields(t, f.do("GET", mePath, one, "").wantOK(t), map[string]string{"username": "ZhangSan", "phone_number": "+86 13000000000"})

	// A value given up is free at once.
	f.do("POST", editPath, one, `{"email":"","username":"zhang3"}`).wantOK(t)
	f.do("POST", editPath, two, `{"email":"zhangsan@example","username":"zhangsan"}`).wantOK(t)
	wantFields(t, f.do("GET", mePath, two, "").wantOK(t), map[string]string{"email": "zhangsan@example", "username": "zhangsan"})
	wantFields(t, f.do("GET", mePath, one, "").wantOK(t), map[string]string{"email": "", "username": "zhang3"})
}

func TestSelfOrAdmin(t *testing.T) {
	f := newFixture(t, offPolicies)
	one, two := f.token("user-1", nil), f.token("user-2", nil)
	admin := f.token("admin-1", claims{"scope": "openid profile admin"})
	f.do("GET", mePath, one, "").wantOK(t)

	// A non-admin naming another user is 403 whether or not that user exists.
	f.do("POST", editPath, two, `{"user_id":"user-1","nickname":"Mallory"}`).wantError(t, http.StatusForbidden, "permission_denied")
	f.do("POST", editPath, two, `{"user_id":"nobody","nickname":"Mallory"}`).wantError(t, http.StatusForbidden, "permission_denied")
	// Naming yourself is fine.
	f.do("POST", editPath, two, `{"user_id":"user-2","nickname":"Bob"}`).wantOK(t)

	f.do("POST", editPath, admin, `{"user_id":"nobody","nickname":"Ghost"}`).wantError(t, http.StatusNotFound, "user_not_found")
	f.do("POST", editPath, admin, `{"user_id":"user-1","nickname":"Alice"}`).wantOK(t)
	wantFields(t, f.do("GET", mePath, one, "").wantOK(t), map[string]string{"name": "Alice"})
	wantFields(t, f.do("GET", mePath, two, "").wantOK(t), map[string]string{"name": "Bob"})
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, offPolicies+`
		rate_limit {
			edits 3 1m
		}`)
	one, two := f.token("user-1", nil), f.token("user-2", nil)
	for i := 0; i < 3; i++ {
		f.do("POST", editPath, one, `{"description":"edit"}`).wantOK(t)
	}
	r := f.do("POST", editPath, one, `{"description":"one too many"}`)
	r.wantError(t, http.StatusTooManyRequests, "resource_exhausted")
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" || strings.Trim(ra, "0123456789") != "" {
		t.Errorf("Retry-After = %q, want a positive number of seconds", ra)
	}
	// The limit is per caller.
	f.do("POST", editPath, two, `{"description":"mine"}`).wantOK(t)
	wantFields(t, f.do("GET", mePath, one, "").wantOK(t), map[string]string{"description": "edit"})
}
