package profile

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Length limits of docs/api.md#field-rules, in Unicode code points after NFC.
const (
	nicknameMin    = 2
	nicknameMax    = 48
	usernameMin    = 2
	usernameMax    = 48
	descriptionMax = 500
)

// Gender values accepted by Gender.
const (
	GenderMale   = "MALE"
	GenderFemale = "FEMALE"
)

// Nickname validates a display name and returns its NFC form: 2–48 code
// points, no control (Cc) or format (Cf) characters, no other invisible
// (default ignorable) ones but variation selectors, no line or paragraph
// separators, and no leading or trailing space.
func Nickname(s string) (string, error) {
	const field = "nickname"
	n, err := normalize(field, s)
	if err != nil {
		return "", err
	}
	if c := utf8.RuneCountInString(n); c < nicknameMin || c > nicknameMax {
		return "", &FieldError{field, "must be 2 to 48 characters long"}
	}
	for _, r := range n {
		// Zl and Zp are not controls, but a nickname is shown on one line;
		// a separator inside it would break that just like a newline.
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) ||
			unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) {
			return "", &FieldError{field, "must not contain control or format characters"}
		}
		// The other default ignorable code points (Hangul fillers, U+034F)
		// render as nothing, as format characters do: "\u3164\u3164" is a
		// blank name, "Alice\u3164" one with an invisible end. Variation
		// selectors, also ignorable, stay: emoji need U+FE0F.
		if unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) {
			return "", &FieldError{field, "must not contain invisible characters such as Hangul fillers"}
		}
	}
	first, _ := utf8.DecodeRuneInString(n)
	last, _ := utf8.DecodeLastRuneInString(n)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return "", &FieldError{field, "must not begin or end with a space"}
	}
	return n, nil
}

// Username validates a login name: 2–48 printable ASCII characters
// (0x21–0x7E, so no space), no '@' (which would make it look like an
// email), and not only digits and '+' (which would make it look like a
// phone number). It returns the name as given and its uniqueness key,
// FoldKey(display).
func Username(s string) (display, key string, err error) {
	const field = "username"
	if len(s) < usernameMin || len(s) > usernameMax {
		// Bytes equal code points here: anything non-ASCII fails below.
		return "", "", &FieldError{field, "must be 2 to 48 characters long"}
	}
	phoneLike := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e {
			return "", "", &FieldError{field, "must contain only printable ASCII characters and no spaces"}
		}
		if c == '@' {
			return "", "", &FieldError{field, "must not contain '@'"}
		}
		if (c < '0' || c > '9') && c != '+' {
			phoneLike = false
		}
	}
	if phoneLike {
		return "", "", &FieldError{field, "must not consist only of digits and '+'"}
	}
	return s, FoldKey(s), nil
}

// Gender accepts exactly "MALE" or "FEMALE".
func Gender(s string) (string, error) {
	if s != GenderMale && s != GenderFemale {
		return "", &FieldError{"gender", "must be MALE or FEMALE"}
	}
	return s, nil
}

// Description validates free text and returns its NFC form: at most 500
// code points, no control characters but newline and tab. Format
// characters are allowed: scripts such as Persian need ZWNJ, and emoji
// sequences need ZWJ.
func Description(s string) (string, error) {
	const field = "description"
	n, err := normalize(field, s)
	if err != nil {
		return "", err
	}
	if utf8.RuneCountInString(n) > descriptionMax {
		return "", &FieldError{field, "must be at most 500 characters long"}
	}
	for _, r := range n {
		if r != '\n' && r != '\t' && unicode.Is(unicode.Cc, r) {
			return "", &FieldError{field, "must not contain control characters other than newline and tab"}
		}
	}
	return n, nil
}

// FoldKey lowercases ASCII letters A–Z and leaves every other byte as it
// is: the uniqueness key of a username (printable ASCII only), and how
// EmailKey folds an address's local part.
func FoldKey(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return 'A' <= r && r <= 'Z' })
	if i < 0 {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if c := b[i]; 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// normalize rejects invalid UTF-8 and returns the NFC form, which is what
// every length rule counts and what is stored.
func normalize(field, s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", &FieldError{field, "must be valid UTF-8"}
	}
	return norm.NFC.String(s), nil
}
