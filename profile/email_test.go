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
		{"IDN domain", "a@bücher.example", "a@bücher.example", "a@xn--bcher-kva.example"},
		{"IDN domain, upper case", "a@BÜCHER.example", "a@BÜCHER.example", "a@xn--bcher-kva.example"},
		{"IDN domain, A-label", "a@xn--bcher-kva.example", "a@xn--bcher-kva.example", "a@xn--bcher-kva.example"},
		{"IDN domain, A-label upper case", "A@XN--BCHER-KVA.Example", "A@XN--BCHER-KVA.Example", "a@xn--bcher-kva.example"},
		{"IDN domain, decomposed", "a@bu\u0308cher.example", "a@bücher.example", "a@xn--bcher-kva.example"},
		{"IDN domain, two labels", "a@bücher.例え.jp", "a@bücher.例え.jp", "a@xn--bcher-kva.xn--r8jz45g.jp"},
		// IDNA keeps Cherokee in capitals (U+13A0..), which Go lowers to
		// U+AB70..: the mapped form is not the lower-case one, and either
		// case is one address.
		{"Cherokee domain", "a@ᏣᎳᎩ.example", "a@ᏣᎳᎩ.example", "a@xn--f9dt7l.example"},
		{"Cherokee domain, small letters", "a@ꮳꮃꭹ.example", "a@ꮳꮃꭹ.example", "a@xn--f9dt7l.example"},
		{"Cherokee domain, upper-case ASCII label", "a@ᏣᎳᎩ.EXAMPLE", "a@ᏣᎳᎩ.EXAMPLE", "a@xn--f9dt7l.example"},
		{"Cherokee domain, A-label", "a@xn--f9dt7l.example", "a@xn--f9dt7l.example", "a@xn--f9dt7l.example"},
		// Folding to the same letter is not being the same letter's case.
		{"long s", "a@ſs.example", "", ""},
		{"micro sign", "a@µ.example", "", ""},
		// A domain not in its mapped form would be sent to the receiver as
		// a spelling other than the mailbox it is keyed as.
		{"full-width domain", "a@ｅｘａｍｐｌｅ.com", "", ""},
		{"full-width full stop", "a@example．com", "", ""},
		{"ideographic full stop", "a@例え。jp", "", ""},
		{"combining grapheme joiner", "a@ex\u034Fample．com", "", ""},
		{"circled letter", "a@\u24D0.example", "", ""},
		{"variation selector", "a@ex\uFE0Fample.com", "", ""},
		{"A-label beside a U-label", "a@bücher.xn--bcher-kva.example", "", ""},
		// IDNA 2003 and 2008 disagree on these four (UTS 46 deviations):
		// the mailbox they name depends on the resolver.
		{"sharp s", "a@straße.de", "", ""},
		{"final sigma", "a@\u03c3\u03c2.example", "", ""},
		{"zero width joiner", "a@\u0915\u094d\u200d.example", "", ""},
		{"zero width non-joiner", "a@\u0915\u094d\u200c.example", "", ""},
		{"254 chars", at254, at254, at254},
		{"address literal", "a@[127.0.0.1]", "", ""},
		{"underscore in domain", "a@foo_bar.example", "", ""},
		{"label starting with a hyphen", "a@-foo.example", "", ""},
		{"bad punycode", "a@xn--zz.example", "", ""},
		{"ASCII punycode", "a@xn--abc-.example", "", ""},
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
		// Default ignorable code points that are not format characters:
		// "zhangsan\u034F@example.com" would show as zhangsan@example.com
		// under another key.
		{"combining grapheme joiner in the local part", "zhangsan\u034F@example.com", "", ""},
		{"variation selector in the local part", "zhang\uFE0Fsan@example.com", "", ""},
		{"variation selector supplement in the local part", "zhangsan\U000E0100@example.com", "", ""},
		{"Mongolian variation selector in the local part", "zhang\u180Bsan@example.com", "", ""},
		{"Hangul filler local part", "\u3164@example.com", "", ""},
		{"halfwidth Hangul filler in the local part", "zhang\uFFA0san@example.com", "", ""},
		{"Hangul choseong filler in the local part", "zhang\u115Fsan@example.com", "", ""},
		{"Khmer inherent vowel in the local part", "zhang\u17B4san@example.com", "", ""},
		{"C1 control", "zhang\u0085san@example.com", "", ""},
		{"invalid UTF-8", "zhang\xffsan@example.com", "", ""},
		{"empty", "", "", ""},
		// IDNA maps U+3002, U+FF0E and U+FF61 to "." and net/mail takes them
		// as atom text: these would key as "a@example.com." or
		// "a@example..com", another key for the mailbox of a@example.com.
		{"trailing ideographic full stop", "a@example.com\u3002", "", ""},
		{"trailing full-width full stop", "a@example.com\uFF0E", "", ""},
		{"trailing halfwidth ideographic full stop", "a@example.com\uFF61", "", ""},
		{"leading ideographic full stop", "a@\u3002example.com", "", ""},
		{"two ideographic full stops", "a@example\u3002\u3002com", "", ""},
		{"ideographic full stop beside a dot", "a@example.\u3002com", "", ""},
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

// TestEmailKeyOneAddress: the spellings of one address share a key (the
// domain compared in its IDNA ASCII form), and other addresses do not.
func TestEmailKeyOneAddress(t *testing.T) {
	same := []string{"a@bücher.example", "a@BÜCHER.example", "a@xn--bcher-kva.example", "A@Bücher.EXAMPLE", "a@XN--BCHER-KVA.EXAMPLE"}
	for _, s := range same {
		if k := EmailKey(s); k != "a@xn--bcher-kva.example" {
			t.Errorf("EmailKey(%q) = %q", s, k)
		}
	}
	for _, other := range []string{"a@bucher.example", "b@bücher.example", "ä@bücher.example"} {
		if EmailKey(other) == EmailKey(same[0]) {
			t.Errorf("%q has the key of %q", other, same[0])
		}
	}
	// A stored value whose domain lookup refuses still has a key.
	if k := EmailKey("A@Foo_Bar.example"); k != "a@foo_bar.example" {
		t.Errorf("fallback key %q", k)
	}
}
