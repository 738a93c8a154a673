package profile

import (
	"strings"
	"testing"
)

func TestMaskPhone(t *testing.T) {
	cases := map[string]string{
		"+86 13000000000":          "+86 130****0000",
		"+1 4155552671":            "+1 415***2671",
		"+49 30123456":             "+49 301***56",
		"+44 1234567":              "+44 12***67",
		"+690 2200":                "+690 ***0",
		"+47 12345":                "+47 ***45",
		"+1 123":                   "***23",
		"+1 12":                    "***",
		"13000000000":              "***00",
		"+86 1300000000x":          "***0x",
		"":                         "***",
		"\xff\xfe\xfd\xfc\xfb\xfa": "***",
	}
	for in, want := range cases {
		got := MaskPhone(in)
		if got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaskEmail(t *testing.T) {
	cases := map[string]string{
		"zhangsan@example.com": "z***@example.com",
		"z@example":            "z***@example",
		"张三@example.cn":        "张***@example.cn",
		"@example.com":         "***",
		"zhangsan":             "***",
		"":                     "***",
		"\xffa@example.com":    "***",
	}
	for in, want := range cases {
		if got := MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzMaskPhone checks that masking never reveals a whole accepted number:
// at least three digits of the national number stay hidden.
func FuzzMaskPhone(f *testing.F) {
	for _, s := range []string{"+86 13000000000", "+1 (415) 555-2671", "+47 12345678", "+49 30 123456"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePhone(s)
		if err != nil {
			return
		}
		m := MaskPhone(p.Display)
		if strings.Count(m, "*") < 3 {
			t.Fatalf("MaskPhone(%q) = %q hides fewer than 3 digits", p.Display, m)
		}
		_, nsn, _ := strings.Cut(p.Display, " ")
		if strings.Contains(m, nsn) {
			t.Fatalf("MaskPhone(%q) = %q shows the whole number", p.Display, m)
		}
	})
}

func TestMaskContactPicksTheChannel(t *testing.T) {
	if got := MaskContact(true, "zhang@example.com"); got != MaskEmail("zhang@example.com") {
		t.Errorf("email: %q", got)
	}
	if got := MaskContact(false, "+86 13000000000"); got != MaskPhone("+86 13000000000") {
		t.Errorf("phone: %q", got)
	}
}
