package profile

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// emailMax is the limit of docs/api.md#field-rules (RFC 5321's path limit
// less the brackets).
const emailMax = 254

// Email validates a bare address such as "zhangsan@example.com" (a domain
// without a dot, "zhangsan@example", is valid too). Display names,
// comments, angle brackets, quoted local parts and surrounding space are
// refused: net/mail must parse the input back to exactly itself. The domain
// must be a domain name that IDNA lookup accepts (so no address literal such
// as "[127.0.0.1]", no "_"). It returns the NFC form as given and its
// uniqueness key, EmailKey(display).
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
	ascii, err := idna.Lookup.ToASCII(d[at+1:])
	if err != nil {
		return "", "", &FieldError{field, "the domain must be a valid (internationalized) domain name"}
	}
	// Lookup maps U+3002, U+FF0E and U+FF61 to "." and net/mail takes them
	// as atom text, so "a@example.com。" would key as "a@example.com." and
	// "a@example。。com" as "a@example..com": other keys for one mailbox.
	if ascii == "" || ascii[0] == '.' || ascii[len(ascii)-1] == '.' || strings.Contains(ascii, "..") {
		return "", "", &FieldError{field, "the domain must not have an empty label (a leading, trailing or doubled full stop)"}
	}
	return d, EmailKey(d), nil
}

// EmailKey is the uniqueness key of a stored address: two addresses with
// the same key are one address. The local part has its ASCII letters
// lowercased (what the part means beyond that is the receiving server's
// business, and no standard folds it further); the domain is in its IDNA
// ASCII form as idna.Lookup maps it (UTS 46: case, width and normalization
// differences disappear, non-ASCII labels become "xn--" labels), so
// "a@bücher.example", "a@BÜCHER.example" and "a@xn--bcher-kva.example"
// share the key "a@xn--bcher-kva.example".
//
// A domain that lookup refuses, which Email does not admit but an older
// stored value may hold, keeps its own spelling with ASCII folded, so that
// the key of every stored value can be computed.
func EmailKey(display string) string {
	at := strings.LastIndexByte(display, '@')
	if at < 0 {
		return FoldKey(display)
	}
	domain, err := idna.Lookup.ToASCII(display[at+1:])
	if err != nil {
		domain = FoldKey(display[at+1:])
	}
	return FoldKey(display[:at]) + "@" + domain
}
