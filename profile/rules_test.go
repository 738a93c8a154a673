package profile

import (
	"errors"
	"strings"
	"testing"
)

// decomposedE is "e" + COMBINING ACUTE ACCENT: two code points that NFC
// composes into one ("é"), so lengths must be counted after NFC.
const decomposedE = "e\u0301"

type stringCase struct {
	name string
	in   string
	want string // "" means: must be rejected
}

func runStringCases(t *testing.T, field string, fn func(string) (string, error), cases []stringCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fn(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("accepted %q as %q, want rejection", tc.in, got)
				}
				assertFieldError(t, err, field, tc.in)
				return
			}
			if err != nil {
				t.Fatalf("rejected %q: %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// assertFieldError checks the error names the field and does not echo the
// rejected value (which may be a contact or a secret-ish string).
func assertFieldError(t *testing.T, err error, field, value string) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is %T, want *FieldError", err, err)
	}
	if fe.Field != field {
		t.Fatalf("Field = %q, want %q", fe.Field, field)
	}
	if fe.Reason == "" {
		t.Fatal("empty Reason")
	}
	if len(value) >= 4 && strings.Contains(err.Error(), value) {
		t.Fatalf("error %q echoes the value", err)
	}
}

func TestNickname(t *testing.T) {
	runStringCases(t, "nickname", Nickname, []stringCase{
		{"ascii", "Zhang San", "Zhang San"},
		{"chinese two", "张三", "张三"},
		{"emoji", "🙂🙂", "🙂🙂"},
		{"inner spaces", "a  b", "a  b"},
		{"1 code point", "a", ""},
		{"2 code points", "ab", "ab"},
		{"48 code points", strings.Repeat("字", 48), strings.Repeat("字", 48)},
		{"49 code points", strings.Repeat("字", 49), ""},
		{"empty", "", ""},
		// Two code points in, one after NFC: too short.
		{"combining collapses to 1", decomposedE, ""},
		{"combining composes to 2", decomposedE + decomposedE, "éé"},
		// 96 code points in, 48 after NFC: accepted and composed.
		{"combining 48 after NFC", strings.Repeat(decomposedE, 48), strings.Repeat("é", 48)},
		{"combining 49 after NFC", strings.Repeat(decomposedE, 49), ""},
		// A combining mark with no base stays a separate code point.
		{"lone combining mark counts", "a\u0301\u0301", "á\u0301"},
		{"leading space", " ab", ""},
		{"trailing space", "ab ", ""},
		{"leading ideographic space", "\u3000ab", ""},
		{"trailing nbsp", "ab\u00a0", ""},
		{"newline", "a\nb", ""},
		{"tab", "a\tb", ""},
		{"NUL", "a\x00b", ""},
		{"DEL", "a\x7fb", ""},
		{"C1 control", "a\u0085b", ""},
		{"zero width space (Cf)", "a\u200bb", ""},
		{"bidi override (Cf)", "a\u202eb", ""},
		{"BOM (Cf)", "\ufeffab", ""},
		{"line separator", "a\u2028b", ""},
		// Default ignorable code points that are neither Cf nor variation
		// selectors render as nothing: a nickname of Hangul fillers is
		// blank, and one ending in a filler has an invisible end.
		{"Hangul fillers only", "\u3164\u3164", ""},
		{"trailing Hangul filler", "Alice\u3164", ""},
		{"half-width Hangul filler", "ab\uffa0", ""},
		{"choseong filler", "\u115fab", ""},
		{"combining grapheme joiner", "a\u034fb", ""},
		{"Korean", "김철수", "김철수"},
		{"emoji presentation selector", "\u2764\ufe0f\u2764\ufe0f", "\u2764\ufe0f\u2764\ufe0f"},
		{"invalid UTF-8", "ab\xff", ""},
		{"truncated UTF-8", "ab\xe5\xad", ""},
	})
}

func TestUsername(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		display string // "" means: must be rejected
		key     string
	}{
		{"plain", "zhangsan", "zhangsan", "zhangsan"},
		{"mixed case kept, key folded", "ZhangSan_01", "ZhangSan_01", "zhangsan_01"},
		{"punctuation", "a.b-c+d!~", "a.b-c+d!~", "a.b-c+d!~"},
		{"digits and letter", "123a", "123a", "123a"},
		{"digits and dash", "123-456", "123-456", "123-456"},
		{"1 char", "a", "", ""},
		{"2 chars", "ab", "ab", "ab"},
		{"48 chars", strings.Repeat("X", 48), strings.Repeat("X", 48), strings.Repeat("x", 48)},
		{"49 chars", strings.Repeat("x", 49), "", ""},
		{"empty", "", "", ""},
		{"space", "zhang san", "", ""},
		{"tab", "zhang\tsan", "", ""},
		{"at sign", "zhang@san", "", ""},
		{"only digits", "13000000000", "", ""},
		{"only digits and plus", "+8613000000000", "", ""},
		{"only plus", "++", "", ""},
		{"non-ASCII", "zhängsan", "", ""},
		{"two non-ASCII bytes", "é", "", ""},
		{"DEL", "ab\x7f", "", ""},
		{"invalid UTF-8", "ab\xff", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, k, err := Username(tc.in)
			if tc.display == "" {
				if err == nil {
					t.Fatalf("accepted %q", tc.in)
				}
				assertFieldError(t, err, "username", tc.in)
				return
			}
			if err != nil {
				t.Fatalf("rejected %q: %v", tc.in, err)
			}
			if d != tc.display || k != tc.key {
				t.Fatalf("got (%q, %q), want (%q, %q)", d, k, tc.display, tc.key)
			}
		})
	}
}

func TestGender(t *testing.T) {
	runStringCases(t, "gender", Gender, []stringCase{
		{"male", "MALE", "MALE"},
		{"female", "FEMALE", "FEMALE"},
		{"lowercase", "male", ""},
		{"padded", "\tMALE", ""},
		{"other", "OTHER", ""},
		{"unknown", "UNKNOWN", ""},
		{"empty", "", ""},
	})
}

func TestDescription(t *testing.T) {
	runStringCases(t, "description", Description, []stringCase{
		{"text", "Hello, world.", "Hello, world."},
		{"newline and tab", "line one\n\tline two", "line one\n\tline two"},
		{"leading and trailing space kept", "  hi  ", "  hi  "},
		{"ZWJ emoji sequence (Cf allowed)", "👩\u200d💻", "👩\u200d💻"},
		{"ZWNJ (Cf allowed)", "می\u200cخواهم", "می\u200cخواهم"},
		{"NFC applied", "caf" + decomposedE, "café"},
		{"500 code points", strings.Repeat("字", 500), strings.Repeat("字", 500)},
		{"501 code points", strings.Repeat("字", 501), ""},
		{"500 after NFC", strings.Repeat(decomposedE, 500), strings.Repeat("é", 500)},
		{"501 after NFC", strings.Repeat(decomposedE, 501), ""},
		{"carriage return", "a\r\nb", ""},
		{"NUL", "a\x00", ""},
		{"escape", "a\x1b[31m", ""},
		{"DEL", "a\x7f", ""},
		{"C1 control", "a\u0085", ""},
		{"invalid UTF-8", "a\xc3", ""},
	})
	// The empty string is not a value but the caller's "clear"; it must
	// still not be an error if it gets here.
	if got, err := Description(""); err != nil || got != "" {
		t.Fatalf("Description(\"\") = %q, %v", got, err)
	}
}

func TestFoldKey(t *testing.T) {
	cases := map[string]string{
		"":                     "",
		"abc":                  "abc",
		"ZhangSan@Example.COM": "zhangsan@example.com",
		"@[]^_`{":              "@[]^_`{", // the bytes around A–Z are not letters
		// Non-ASCII letters are NOT folded: Lua's string.lower would not.
		"ÄÖÜ":      "ÄÖÜ",
		"İSTANBUL": "İstanbul",
		"\u212a":   "\u212a", // KELVIN SIGN: Unicode folds it to k, Lua does not
		"A\xffB":   "a\xffb",
	}
	for in, want := range cases {
		if got := FoldKey(in); got != want {
			t.Errorf("FoldKey(%q) = %q, want %q", in, got, want)
		}
	}
}
