package profile

import (
	"strings"
	"testing"
)

func TestParsePhone(t *testing.T) {
	cn := Phone{Display: "+86 13000000000", E164: "+8613000000000"}
	us := Phone{Display: "+1 4155552671", E164: "+14155552671"}
	cases := []struct {
		name string
		in   string
		want Phone // zero means: must be rejected
	}{
		{"display form", "+86 13000000000", cn},
		{"no spaces", "+8613000000000", cn},
		{"grouped", "+86 130 0000 0000", cn},
		{"dashes", "+86-130-0000-0000", cn},
		{"double space", "+86  13000000000", cn},
		{"US parentheses", "+1 (415) 555-2671", us},
		{"US dashes", "+1-415-555-2671", us},
		{"US dots", "+1.415.555.2671", us},
		{"US plain", "+14155552671", us},
		{"UK trunk zero dropped", "+44 (0)20 7946 0958", Phone{"+44 2079460958", "+442079460958"}},
		{"Italy keeps leading zero", "+39 06 6982 1234", Phone{"+39 0669821234", "+390669821234"}},
		{"max length 32", "+86 1 3 0 0 0 0 0 0 0 0 0" + strings.Repeat(" ", 32-25), cn},
		{"over 32", "+86 1 3 0 0 0 0 0 0 0 0 0" + strings.Repeat(" ", 33-25), Phone{}},
		{"no plus", "8613000000000", Phone{}},
		{"national only", "13000000000", Phone{}},
		{"leading space", " +8613000000000", Phone{}},
		{"double plus", "++8613000000000", Phone{}},
		{"00 prefix", "008613000000000", Phone{}},
		{"too short", "+86 130000000", Phone{}},
		{"too long", "+86 1300000000000", Phone{}},
		{"invalid prefix", "+86 10000000000", Phone{}},
		{"unknown country", "+999 13000000000", Phone{}},
		{"plus only", "+", Phone{}},
		{"empty", "", Phone{}},
		{"letters (vanity)", "+1 800 FLOWERS", Phone{}},
		{"extension", "+1 415 555 2671 ext 12", Phone{}},
		{"extension hash", "+14155552671#12", Phone{}},
		{"tel URI", "tel:+1-415-555-2671", Phone{}},
		{"full-width digits", "+８６１３０００００００００", Phone{}},
		{"slash", "+86/13000000000", Phone{}},
		{"tab", "+86\t13000000000", Phone{}},
		{"NUL", "+86 13000000000\x00", Phone{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePhone(tc.in)
			if tc.want == (Phone{}) {
				if err == nil {
					t.Fatalf("accepted %q as %+v", tc.in, got)
				}
				if got != (Phone{}) {
					t.Fatalf("rejected but returned %+v", got)
				}
				assertFieldError(t, err, "phone_number", tc.in)
				return
			}
			if err != nil {
				t.Fatalf("rejected %q: %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
