package profile

import (
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// phoneMaxLen caps the raw input before phonenumbers sees it: the library
// is slow on long garbage, and no grouped international number needs more.
const phoneMaxLen = 32

// ParsePhone validates an international phone number: it must start with
// '+' and the country code, and may be grouped with spaces, '-', '.' and
// parentheses ("+86 13000000000", "+8613000000000", "+1 (415) 555-2671").
// The number must be valid for its region by libphonenumber's metadata.
func ParsePhone(s string) (Phone, error) {
	const field = "phone_number"
	if len(s) > phoneMaxLen {
		return Phone{}, &FieldError{field, "is too long"}
	}
	if len(s) == 0 || s[0] != '+' {
		return Phone{}, &FieldError{field, "must start with '+' and the country code"}
	}
	// phonenumbers also accepts letters (vanity numbers), extensions,
	// full-width digits and RFC 3966 syntax; none of those belong in a
	// stored contact, so only plain grouping characters get through.
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9', c == ' ', c == '-', c == '.', c == '(', c == ')':
		default:
			return Phone{}, &FieldError{field, "may contain only digits, spaces, '-', '.' and parentheses after '+'"}
		}
	}
	// With no default region, Parse requires the leading '+' country code.
	num, err := phonenumbers.Parse(s, "ZZ")
	if err != nil || num.GetExtension() != "" || !phonenumbers.IsValidNumber(num) {
		return Phone{}, &FieldError{field, "is not a valid phone number"}
	}
	cc := "+" + strconv.Itoa(int(num.GetCountryCode()))
	nsn := phonenumbers.GetNationalSignificantNumber(num)
	return Phone{Display: cc + " " + nsn, E164: cc + nsn}, nil
}

// PhoneKey is the uniqueness key of a stored display form: E164 is Display
// without its one space ("+86 13000000000" → "+8613000000000"). The store
// computes the key of a stored value with this function too (keys.go's
// uniqueKey); no script computes one.
func PhoneKey(display string) string { return strings.Replace(display, " ", "", 1) }
