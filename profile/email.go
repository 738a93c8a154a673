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
// as "[127.0.0.1]", no "_"), already in the form lookup maps it to but for
// letter case (canonicalDomain). It returns the NFC form as given and its
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
	// visible. Invisible is more than format (Cf): the other default
	// ignorable code points (U+034F, variation selectors, Hangul fillers)
	// render as nothing too, so "zhangsan\u034F@example.com" would show as
	// another user's address under a key of its own.
	for _, r := range d {
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) ||
			unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) || unicode.Is(unicode.Variation_Selector, r) {
			return "", "", &FieldError{field, "must not contain spaces, control, format or other invisible characters"}
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
	domain := d[at+1:]
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", "", &FieldError{field, "the domain must be a valid (internationalized) domain name"}
	}
	// Lookup maps U+3002, U+FF0E and U+FF61 to "." and net/mail takes them
	// as atom text, so "a@example.com。" would key as "a@example.com." and
	// "a@example。。com" as "a@example..com": other keys for one mailbox.
	if ascii == "" || ascii[0] == '.' || ascii[len(ascii)-1] == '.' || strings.Contains(ascii, "..") {
		return "", "", &FieldError{field, "the domain must not have an empty label (a leading, trailing or doubled full stop)"}
	}
	if err := canonicalDomain(domain, ascii); err != "" {
		return "", "", &FieldError{field, err}
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

// deviations are the four characters that IDNA 2003 and IDNA 2008 map
// differently (UTS #46 deviations: ß, ς, ZWJ, ZWNJ): which mailbox a domain
// holding one names depends on the resolver, so none is admitted.
const deviations = "\u00DF\u03C2\u200D\u200C"

// canonicalDomain reports why domain, whose lookup ASCII form is ascii, is
// not in the form IDNA maps it to, or "" if it is. Lookup maps full-width
// letters, "ⓐ", full-width full stops and ignorable marks such as U+034F or
// U+FE0F to plain ones, so such a spelling would share the key of the plain
// address while the display form, which is what a code is sent to, names
// another string: one address key, two spellings that are not one another's
// case. A domain is canonical when it is its own ASCII form (an ASCII
// domain, "xn--" labels included) or its own Unicode form, letter case
// aside; "BÜCHER.example", "bücher.example" and "xn--bcher-kva.example"
// all are.
func canonicalDomain(domain, ascii string) string {
	const msg = "the domain must be written as IDNA maps it (no full-width or circled letters, full-width full stops or ignorable marks; no ß, ς, ZWJ or ZWNJ)"
	if strings.ContainsAny(domain, deviations) {
		return msg
	}
	lower := strings.ToLower(domain)
	if ascii == lower {
		return ""
	}
	// The mapped form is compared lowered too: IDNA keeps a few scripts
	// in their capitals (Cherokee, which Go lowers to U+AB70..), so for
	// them no spelling would equal lower.
	if u, err := idna.Lookup.ToUnicode(ascii); err == nil && (u == lower || strings.ToLower(u) == lower) {
		return ""
	}
	return msg
}
