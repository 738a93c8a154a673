package profile

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// emailMax is the SPEC's limit (RFC 5321's path limit less the brackets).
const emailMax = 254

// Email validates a bare address such as "zhangsan@example.com" (a domain
// without a dot, "zhangsan@example", is valid too). Display names,
// comments, angle brackets, quoted local parts and surrounding space are
// refused: net/mail must parse the input back to exactly itself. It
// returns the NFC form as given and its uniqueness key, FoldKey(display).
func Email(s string) (display, key string, err error) {
	const field = "email"
	d, err := normalize(field, s)
	if err != nil {
		return "", "", err
	}
	if utf8.RuneCountInString(d) > emailMax {
		return "", "", &FieldError{field, "must be at most 254 characters long"}
	}
	// net/mail admits any non-ASCII rune as atom text, invisible and
	// control characters included; an address must be typeable and
	// visible.
	for _, r := range d {
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) {
			return "", "", &FieldError{field, "must not contain spaces, control or format characters"}
		}
	}
	at := strings.IndexByte(d, '@')
	if at <= 0 || at == len(d)-1 || strings.Count(d, "@") != 1 {
		return "", "", &FieldError{field, "must be a single address of the form name@domain"}
	}
	a, perr := mail.ParseAddress(d)
	if perr != nil || a.Name != "" || a.Address != d {
		return "", "", &FieldError{field, "must be a plain address of the form name@domain"}
	}
	return d, FoldKey(d), nil
}
