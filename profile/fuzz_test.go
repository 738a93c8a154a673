package profile

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	whatwg "github.com/nlnwa/whatwg-url/url"
	"golang.org/x/text/unicode/norm"
)

// Each fuzz target checks the invariants every caller relies on: no panic,
// errors are *FieldError, accepted output is valid UTF-8 in NFC, and
// validating an accepted output again gives the same output (so a stored
// value always passes its own rule).

var textSeeds = []string{
	"", "a", "ab", "Zhang San", "张三", " ab", "ab ", "a\nb", "a\tb", "a\u200bb",
	decomposedE, decomposedE + decomposedE, strings.Repeat(decomposedE, 49),
	strings.Repeat("字", 48), strings.Repeat("字", 501), "\xff", "a\u0301\u0301",
	"👩\u200d💻", "\u3000ab\u3000", "a\r\nb", "\u3164\u3164", "ab\u034f",
}

func checkString(t *testing.T, name string, fn func(string) (string, error), in string) {
	t.Helper()
	out, err := fn(in)
	if err != nil {
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("%s(%q) error %T, want *FieldError", name, in, err)
		}
		if out != "" {
			t.Fatalf("%s(%q) returned %q with an error", name, in, out)
		}
		return
	}
	if !utf8.ValidString(out) || !norm.NFC.IsNormalString(out) {
		t.Fatalf("%s(%q) = %q, not valid NFC", name, in, out)
	}
	again, err := fn(out)
	if err != nil || again != out {
		t.Fatalf("%s not idempotent: %q -> %q -> %q, %v", name, in, out, again, err)
	}
}

func FuzzNickname(f *testing.F) {
	for _, s := range textSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkString(t, "Nickname", Nickname, s)
		if out, err := Nickname(s); err == nil {
			if n := utf8.RuneCountInString(out); n < 2 || n > 48 {
				t.Fatalf("accepted %d code points", n)
			}
		}
	})
}

func FuzzDescription(f *testing.F) {
	for _, s := range textSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkString(t, "Description", Description, s)
		if out, err := Description(s); err == nil && utf8.RuneCountInString(out) > 500 {
			t.Fatal("accepted more than 500 code points")
		}
	})
}

func FuzzGender(f *testing.F) {
	for _, s := range []string{"MALE", "FEMALE", "male", "", "OTHER"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkString(t, "Gender", Gender, s)
		if out, err := Gender(s); err == nil && out != "MALE" && out != "FEMALE" {
			t.Fatalf("accepted %q", out)
		}
	})
}

func FuzzAvatarURL(f *testing.F) {
	for _, s := range []string{
		"https://cdn.example.com/a.png", "http://[::1]:80/x?y#z", "HTTPS://x",
		"javascript:alert(1)", "https://u:p@x/", "https:///x", "https://x/a b",
		"https://example.com/caf" + decomposedE,
		"http://a:99999/", "http://a%25b/", "http://256.1.1.1/", "https://xn--/", "http://exa<mple.com/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkString(t, "AvatarURL", AvatarURL, s)
		if out, err := AvatarURL(s); err == nil {
			l := strings.ToLower(out)
			if !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://") {
				t.Fatalf("accepted non-http URL %q", out)
			}
			// What a browser reads (the WHATWG URL Standard) is what was
			// checked: an http(s) URL with a host and no credentials.
			w, err := whatwg.Parse(out)
			if err != nil {
				t.Fatalf("accepted %q, which a browser refuses: %v", out, err)
			}
			if p := w.Protocol(); p != "http:" && p != "https:" {
				t.Fatalf("accepted %q, which a browser reads as %s", out, p)
			}
			if w.Hostname() == "" || w.Username() != "" || w.Password() != "" {
				t.Fatalf("accepted %q, which a browser reads with host %q, user %q, password %q", out, w.Hostname(), w.Username(), w.Password())
			}
		}
	})
}

// checkKeyed is checkString for the validators that also return a key,
// which must be keyOf(display): what the store computes from a stored value.
func checkKeyed(t *testing.T, name string, fn func(string) (string, string, error), keyOf func(string) string, in string) {
	t.Helper()
	checkString(t, name, func(s string) (string, error) {
		d, k, err := fn(s)
		if err == nil && k != keyOf(d) {
			t.Fatalf("%s(%q) key %q != key of the display %q", name, s, k, keyOf(d))
		}
		if err != nil && (d != "" || k != "") {
			t.Fatalf("%s(%q) returned values with an error", name, s)
		}
		return d, err
	}, in)
}

func FuzzUsername(f *testing.F) {
	for _, s := range []string{"zhangsan", "Zhang_San", "a", "a@b", "+86130", "12a", "a b", strings.Repeat("x", 49)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkKeyed(t, "Username", Username, FoldKey, s)
		if d, _, err := Username(s); err == nil {
			if strings.ContainsAny(d, "@ ") || strings.Trim(d, "0123456789+") == "" {
				t.Fatalf("accepted %q", d)
			}
		}
	})
}

func FuzzEmail(f *testing.F) {
	for _, s := range []string{
		"zhangsan@example.com", "zhangsan@example", "A <a@b>", "<a@b>", "a@b (c)",
		`"a b"@c`, "a@b@c", "@b", "a@", "jos" + decomposedE + "@example.com", "a@[127.0.0.1]",
		"a\u034F@example.com", "\u3164@example.com", "a\uFE0F@example.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkKeyed(t, "Email", Email, EmailKey, s)
		if d, _, err := Email(s); err == nil {
			if strings.Count(d, "@") != 1 || utf8.RuneCountInString(d) > 254 {
				t.Fatalf("accepted %q", d)
			}
			// An invisible rune would let one visible address have
			// two keys.
			if i := strings.IndexFunc(d, func(r rune) bool {
				return unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
			}); i >= 0 {
				t.Fatalf("accepted %q, invisible at byte %d", d, i)
			}
		}
	})
}

func FuzzParsePhone(f *testing.F) {
	for _, s := range []string{
		"+86 13000000000", "+8613000000000", "+86 130 0000 0000", "+1 (415) 555-2671",
		"+1-415-555-2671", "+44 (0)20 7946 0958", "+39 06 6982 1234", "13000000000",
		"+", "+1 800 FLOWERS", "+14155552671#1", "+((((((((((((((((((((((((((((((",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePhone(s)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || p != (Phone{}) {
				t.Fatalf("ParsePhone(%q) = %+v, %v", s, p, err)
			}
			return
		}
		cc, nsn, ok := strings.Cut(p.Display, " ")
		if !ok || len(cc) < 2 || cc[0] != '+' || !allDigits(cc[1:]) || !allDigits(nsn) {
			t.Fatalf("Display %q not in +<cc> <nsn> form", p.Display)
		}
		if p.E164 != cc+nsn || p.E164 != strings.Replace(p.Display, " ", "", 1) {
			t.Fatalf("E164 %q does not match Display %q", p.E164, p.Display)
		}
		for _, again := range []string{p.Display, p.E164} {
			q, err := ParsePhone(again)
			if err != nil || q != p {
				t.Fatalf("not idempotent: %q -> %+v -> %q -> %+v, %v", s, p, again, q, err)
			}
		}
	})
}

// FuzzEmailKey: the key is total, idempotent (a key is its own key), and
// keeps what makes the address: one "@", the local part's length, the
// domain in ASCII once lookup admits it. Two addresses that Email accepts
// with the same key keep the same key in any ASCII case.
func FuzzEmailKey(f *testing.F) {
	for _, s := range []string{
		"a@bücher.example", "a@BÜCHER.example", "a@xn--bcher-kva.example", "ZhangSan@Example.COM",
		"a@ｅｘａｍｐｌｅ.com", "a@straße.de", "a@[127.0.0.1]", "a@xn--zz.example", "no-at", "a@b@c", "@", "",
		"a@\u0661.example", "a@\u200d.example", "a@xn--.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := EmailKey(s)
		if strings.Count(k, "@") != strings.Count(s, "@") {
			t.Fatalf("EmailKey(%q) = %q: the @ changed", s, k)
		}
		if again := EmailKey(k); again != k {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, k, again)
		}
		d, key, err := Email(s)
		if err != nil {
			return
		}
		at := strings.LastIndexByte(key, '@')
		if key[:at] != FoldKey(d[:strings.LastIndexByte(d, '@')]) {
			t.Fatalf("Email(%q): local part of key %q is not the display's folded", s, key)
		}
		for i := 0; i < len(key[at:]); i++ {
			if c := key[at+i]; c >= 0x80 || ('A' <= c && c <= 'Z') {
				t.Fatalf("Email(%q): domain of key %q is not lower-case ASCII", s, key)
			}
		}
		if EmailKey(strings.ToUpper(d)) != key && isASCII(d) {
			t.Fatalf("Email(%q): the upper-case spelling has another key", s)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func FuzzFoldKey(f *testing.F) {
	for _, s := range []string{"", "ABC", "ÄÖÜ", "\u212a", "A\xffZ", "@[`{"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := FoldKey(s)
		if len(k) != len(s) {
			t.Fatalf("length changed: %q -> %q", s, k)
		}
		for i := 0; i < len(s); i++ {
			c, d := s[i], k[i]
			switch {
			case 'A' <= c && c <= 'Z':
				if d != c+32 {
					t.Fatalf("byte %d: %q -> %q", i, c, d)
				}
			case c != d:
				t.Fatalf("non-letter byte %d changed: %q -> %q", i, c, d)
			}
		}
		if FoldKey(k) != k {
			t.Fatalf("not idempotent: %q", s)
		}
	})
}

func FuzzBirthdate(f *testing.F) {
	for _, s := range []string{"1990-05-17", "2023-02-29", "2024-02-29", "9999-12-31", "0000-01-01", "2020-1-1", "", "\xff"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	at := func(s string) (string, error) { return Birthdate(s, now) }
	f.Fuzz(func(t *testing.T, s string) {
		checkString(t, "Birthdate", at, s)
		if out, err := at(s); err == nil {
			d, perr := time.Parse(time.DateOnly, out)
			if perr != nil || d.Format(time.DateOnly) != out || d.After(now.Add(latestOffset)) {
				t.Fatalf("accepted %q", out)
			}
		}
	})
}

func FuzzZoneinfo(f *testing.F) {
	for _, s := range []string{"Europe/Paris", "Mars/Olympus", "Local", "", "UTC", "../x", "/etc/localtime", "Etc/GMT+5", "localtime", "right/UTC", "Europe//Paris", "Factory"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkString(t, "Zoneinfo", Zoneinfo, s)
		if out, err := Zoneinfo(s); err == nil && (strings.Contains(out, profileUnsafe) || out == "Local" || out == "Factory") {
			t.Fatalf("accepted %q", out)
		}
	})
}

func FuzzLocale(f *testing.F) {
	for _, s := range []string{"en-US", "en-us", "zh-hans-cn", "iw", "en_US", "en--US", "x-foo", "", "\xff", "en-u-ca-gregory-x-a", "en-USA", "zh-yue", "no-bok", "en-u-ca-gregory-u-nu-latn", "en-x-a-b-a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkString(t, "Locale", Locale, s)
		if out, err := Locale(s); err == nil && (strings.Contains(out, profileUnsafe) || len(out) > maxLocale*2) {
			t.Fatalf("accepted %q", out)
		}
	})
}

// profileUnsafe is the store's separator, which no accepted value may hold.
const profileUnsafe = "\x1f"
