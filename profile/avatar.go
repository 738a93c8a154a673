package profile

import (
	"net/url"
	"unicode"
	"unicode/utf8"

	whatwg "github.com/nlnwa/whatwg-url/url"
)

// avatarMax is the limit of docs/api.md#field-rules in code points.
const avatarMax = 2048

// AvatarURL validates an absolute http or https URL with a host and
// returns its NFC form. Whitespace, control and format characters are
// refused anywhere (they must be percent-encoded), and so is userinfo:
// credentials in a URL that every client of the profile sees would leak.
// It must also be a URL for browsers (the WHATWG URL Standard, which
// JavaScript's new URL implements): net/url takes a port over 65535, "<"
// or "%25" in a host and "256.1.1.1" as a name, which no client can load
// and on which an app that parses the pictures it shows would throw.
func AvatarURL(s string) (string, error) {
	const field = "avatar_url"
	n, err := normalize(field, s)
	if err != nil {
		return "", err
	}
	if utf8.RuneCountInString(n) > avatarMax {
		return "", &FieldError{field, "must be at most 2048 characters long"}
	}
	for _, r := range n {
		if unicode.IsSpace(r) || unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) {
			return "", &FieldError{field, "must not contain spaces, control or format characters"}
		}
	}
	u, perr := url.Parse(n)
	if perr != nil {
		return "", &FieldError{field, "is not a valid URL"}
	}
	// url.Parse lowercases the scheme, so "HTTPS://" passes as https.
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", &FieldError{field, "must be an http or https URL"}
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return "", &FieldError{field, "must be an absolute URL with a host"}
	}
	if u.User != nil {
		return "", &FieldError{field, "must not contain a user name or password"}
	}
	if _, err := whatwg.Parse(n); err != nil {
		return "", &FieldError{field, "is not a URL that browsers accept (a port over 65535, or a host that is no valid domain name or IP address)"}
	}
	return n, nil
}
