package profile

import (
	"strings"
	"testing"
)

func TestEmail(t *testing.T) {
	local64 := strings.Repeat("a", 64)
	// 254 = 64 + 1 + 189.
	at254 := local64 + "@" + strings.Repeat("b", 185) + ".com"
	cases := []struct {
		name    string
		in      string
		display string // "" means: must be rejected
		key     string
	}{
		{"plain", "zhangsan@example.com", "zhangsan@example.com", "zhangsan@example.com"},
		{"no TLD", "zhangsan@example", "zhangsan@example", "zhangsan@example"},
		{"case kept, key folded", "ZhangSan@Example.COM", "ZhangSan@Example.COM", "zhangsan@example.com"},
		{"plus and dots", "zhang.san+tag@mail.example.cn", "zhang.san+tag@mail.example.cn", "zhang.san+tag@mail.example.cn"},
		{"unicode, NFC applied", "jos" + decomposedE + "@example.com", "josé@example.com", "josé@example.com"},
		{"unicode not folded", "ÉMILE@Example.com", "ÉMILE@Example.com", "Émile@example.com"},
		{"254 chars", at254, at254, at254},
		{"255 chars", "a" + at254, "", ""},
		{"display name", "Zhang San <zhangsan@example.com>", "", ""},
		{"quoted display name", `"Zhang" <zhangsan@example.com>`, "", ""},
		{"angle brackets", "<zhangsan@example.com>", "", ""},
		{"comment", "zhangsan@example.com (work)", "", ""},
		{"quoted local part", `"zhang san"@example.com`, "", ""},
		{"needless quotes", `"zhangsan"@example.com`, "", ""},
		{"leading space", " zhangsan@example.com", "", ""},
		{"trailing space", "zhangsan@example.com ", "", ""},
		{"no at", "zhangsan.example.com", "", ""},
		{"two ats", "zhang@san@example.com", "", ""},
		{"empty local", "@example.com", "", ""},
		{"empty domain", "zhangsan@", "", ""},
		{"double dot", "zhang..san@example.com", "", ""},
		{"list", "a@example.com, b@example.com", "", ""},
		{"newline", "zhangsan@example.com\n", "", ""},
		{"zero width space", "zhang\u200bsan@example.com", "", ""},
		{"C1 control", "zhang\u0085san@example.com", "", ""},
		{"invalid UTF-8", "zhang\xffsan@example.com", "", ""},
		{"empty", "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, k, err := Email(tc.in)
			if tc.display == "" {
				if err == nil {
					t.Fatalf("accepted %q", tc.in)
				}
				assertFieldError(t, err, "email", tc.in)
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
