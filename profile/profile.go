// Package profile holds the field rules of a user profile: validation and
// normalisation of every editable field. Pure functions, no I/O; each is
// fuzzed. Every function takes the raw client string and returns the form to
// store (Unicode NFC) or a *FieldError. Empty strings that mean "remove" are
// the caller's concern: these functions validate non-empty values.
package profile

// FieldError says which field broke which rule. Field is the request field
// name (nickname, username, phone_number, email, avatar_url, gender,
// description); Reason is a human sentence safe to show to the client (it
// never echoes the full value back).
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Phone is a validated phone number.
type Phone struct {
	// Display is the stored form: "+<country code> <national number>",
	// such as "+86 13000000000".
	Display string
	// E164 is the uniqueness key, such as "+8613000000000". It always
	// equals Display with the single space removed.
	E164 string
}

// The function set below is the package's contract; see rules.go,
// phone.go, email.go and avatar.go, and mask.go for the log-safe forms.
//
//	func Nickname(s string) (string, error)
//	func Username(s string) (display, key string, err error)   // key: ASCII-lowercased display
//	func ParsePhone(s string) (Phone, error)
//	func Email(s string) (display, key string, err error)      // key: EmailKey(display)
//	func AvatarURL(s string) (string, error)
//	func Gender(s string) (string, error)
//	func Description(s string) (string, error)
//	func Birthdate(s string, now time.Time) (string, error)  // OIDC, YYYY-MM-DD, not in the future
//	func Zoneinfo(s string) (string, error)                 // OIDC, an IANA zone Go knows
//	func Locale(s string) (string, error)                   // OIDC, BCP 47, canonical
//	func FoldKey(s string) string                             // ASCII lowercase
//	func EmailKey(display string) string                      // ASCII-lowercased local part, IDNA ASCII domain
//	func MaskPhone(display string) string                     // "+86 130****0000", for logs
//	func MaskEmail(addr string) string                        // "z***@example.com", for logs
