package profile

import (
	"strings"
	"unicode/utf8"
)

// MaskPhone returns a form of a stored phone display ("+86 13000000000")
// that logs may show: the country code, the first three and the last two
// to four digits, the rest as '*' ("+86 130****0000"). Short numbers show
// fewer digits so that at least three stay hidden. Input not in
// display form is masked but for its last two characters.
func MaskPhone(display string) string {
	cc, nsn, ok := strings.Cut(display, " ")
	if !ok || len(cc) < 2 || cc[0] != '+' || !allDigits(cc[1:]) || !allDigits(nsn) || len(nsn) < 4 {
		return maskAll(display)
	}
	// At least three digits stay hidden; within that, show up to four
	// trailing and three leading digits, trailing first.
	visible := len(nsn) - 3
	tail := 2
	if len(nsn) >= 10 {
		tail = 4
	}
	tail = min(tail, visible)
	head := min(3, visible-tail)
	hidden := len(nsn) - head - tail
	return cc + " " + nsn[:head] + strings.Repeat("*", hidden) + nsn[len(nsn)-tail:]
}

// MaskEmail returns a form of an address that logs may show: the first
// character of the local part, "***", and the domain ("z***@example.com").
// Input that is not an address is masked whole.
func MaskEmail(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || !utf8.ValidString(addr) {
		return "***"
	}
	_, size := utf8.DecodeRuneInString(addr)
	return addr[:size] + "***" + addr[at:]
}

func maskAll(s string) string {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) < 6 {
		return "***"
	}
	_, size1 := utf8.DecodeLastRuneInString(s)
	_, size2 := utf8.DecodeLastRuneInString(s[:len(s)-size1])
	return "***" + s[len(s)-size1-size2:]
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// MaskContact is MaskEmail for an email address, MaskPhone otherwise.
func MaskContact(isEmail bool, contact string) string {
	if isEmail {
		return MaskEmail(contact)
	}
	return MaskPhone(contact)
}
