package handler

import (
	"strings"
	"testing"
)

// Step 4's syntax half: what decodeBody accepts and how it names what it
// refuses.

func TestDecodeBodyRefusals(t *testing.T) {
	cases := []struct {
		name, body string
		mention    []string // words the description must hold
	}{
		{"empty body", ``, []string{"object"}},
		{"only space", "  \n\t", []string{"object"}},
		{"array", `[{"nickname":"ab"}]`, []string{"object"}},
		{"string", `"nickname"`, []string{"object"}},
		{"number", `42`, []string{"object"}},
		{"null", `null`, []string{"object"}},
		{"true", `true`, []string{"object"}},
		{"malformed", `{"nickname":}`, []string{"malformed"}},
		{"missing comma", `{"nickname":"ab" "username":"cd"}`, []string{"malformed"}},
		{"truncated", `{"nickname":"ab"`, []string{"malformed"}},
		{"truncated in string", `{"nickname":"a`, []string{"malformed"}},
		{"single quotes", `{'nickname':'ab'}`, []string{"malformed"}},
		{"trailing object", `{"nickname":"ab"}{"nickname":"cd"}`, []string{"nothing after"}},
		{"trailing garbage", `{"nickname":"ab"} x`, []string{"nothing after"}},
		{"trailing brace", `{"nickname":"ab"}}`, []string{"nothing after"}},
		{"trailing number", `{} 1`, []string{"nothing after"}},
		{"unknown field", `{"nickname":"ab","bogus":1}`, []string{"bogus", "unknown"}},
		{"unknown field cased", `{"Nickname":"ab"}`, []string{"Nickname", "unknown"}},
		{"cased duplicate", `{"nickname":"ab","NICKNAME":"cd"}`, []string{"NICKNAME", "unknown"}},
		{"unknown after known", `{"nickname":"ab","nick_name":2}`, []string{"nick_name", "unknown"}},
		{"wrong type number", `{"nickname":5}`, []string{"nickname", "string"}},
		{"wrong type bool", `{"username":true}`, []string{"username", "string"}},
		{"wrong type object", `{"email":{"a":1}}`, []string{"email", "string"}},
		{"wrong type array", `{"phone":["+86"]}`, []string{"phone", "string"}},
		{"wrong type user_id", `{"user_id":12}`, []string{"user_id"}},
		{"wrong type token", `{"verification_token":1}`, []string{"verification_token"}},
		{"invalid UTF-8", "{\"nickname\":\"a\xffb\"}", []string{"UTF-8"}},
		{"invalid UTF-8 in a key", "{\"nick\xc3\":1}", []string{"UTF-8"}},
		{"BOM", "\ufeff{}", []string{"object", "byte order mark"}},
		{"BOM before space", "\ufeff {\"nickname\":\"ab\"}", []string{"object", "byte order mark"}},
		// A lone surrogate escape is no character: encoding/json would
		// store U+FFFD in its place, text the client never sent.
		{"lone high surrogate", `{"nickname":"ab\ud800"}`, []string{"nickname", "surrogate"}},
		{"lone low surrogate", `{"description":"\udc00ab"}`, []string{"description", "surrogate"}},
		{"reversed pair", `{"nickname":"\udc00\ud800"}`, []string{"nickname", "surrogate"}},
		{"high before another escape", `{"nickname":"\ud800\u0041"}`, []string{"nickname", "surrogate"}},
		{"lone surrogate in user_id", `{"user_id":"admin\uDBFF"}`, []string{"user_id", "surrogate"}},
		{"lone surrogate in a name", `{"nick\ud800":"ab"}`, []string{"surrogate"}},
		{"lone surrogate in a password", `{"password":{"a":["\ud800"]}}`, []string{"password", "surrogate"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b editBody
			err := decodeBody([]byte(c.body), &b)
			if err == nil {
				t.Fatalf("accepted %q", c.body)
			}
			if err.status != 400 || err.code != "invalid_argument" {
				t.Errorf("%d %s, want 400 invalid_argument", err.status, err.code)
			}
			for _, w := range c.mention {
				if !strings.Contains(err.description, w) {
					t.Errorf("description %q does not mention %q", err.description, w)
				}
			}
		})
	}
}

// TestDecodeBodySurrogatePairs: a surrogate pair is one character, and an
// escaped backslash before a u is no escape at all.
func TestDecodeBodySurrogatePairs(t *testing.T) {
	for body, want := range map[string]string{
		`{"nickname":"a\ud83d\ude00b"}`: "a\U0001F600b",
		`{"nickname":"\\ud800"}`:        `\ud800`,
		`{"nickname":"\u00e9t\u00e9"}`:  "été",
	} {
		var b editBody
		if err := decodeBody([]byte(body), &b); err != nil {
			t.Errorf("%s: %v", body, err)
			continue
		}
		if b.Nickname == nil || *b.Nickname != want {
			t.Errorf("%s: nickname = %v, want %q", body, show(b.Nickname), want)
		}
	}
}

func TestDecodeBodyNullIsNotGiven(t *testing.T) {
	var b editBody
	if err := decodeBody([]byte(`{"nickname":null,"username":null,"phone":null,"email":null,"avatar_url":null,
		"gender":null,"description":null,"user_id":null,"verification_token":null,"sudo_token":null,
		"password":null,"new_password":null}`), &b); err != nil {
		t.Fatal(err)
	}
	p, err := b.plan()
	if err != nil {
		t.Fatalf("all-null body refused: %v", err)
	}
	if p.userID != "" || p.verificationToken != "" || p.sudoToken != "" || p.changes != (editPlan{}).changes {
		t.Fatalf("all-null body planned changes: %+v", p)
	}
}

func TestDecodeBodyAcceptsSpaceAround(t *testing.T) {
	var b editBody
	if err := decodeBody([]byte("\r\n\t {\"nickname\":\"ab\"} \n\r\t"), &b); err != nil {
		t.Fatal(err)
	}
	if b.Nickname == nil || *b.Nickname != "ab" {
		t.Fatalf("nickname = %v", b.Nickname)
	}
}

func TestDecodeBodyLongUnknownFieldIsBounded(t *testing.T) {
	// The field name of an unknown field is the client's text; it is echoed
	// so the client knows what to fix, but never at any length.
	name := strings.Repeat("k", 10000)
	var b editBody
	err := decodeBody([]byte(`{"`+name+`":1}`), &b)
	if err == nil {
		t.Fatal("accepted")
	}
	if len(err.description) > 200 {
		t.Fatalf("description is %d bytes long", len(err.description))
	}
}
