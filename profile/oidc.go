package profile

import (
	"slices"
	"strings"
	"time"
	// The time zone database compiled in, so that every name of
	// zoneNames loads on a host without /usr/share/zoneinfo (a scratch
	// container).
	_ "time/tzdata"

	"golang.org/x/text/language"
)

// maxZoneinfo and maxLocale bound the OIDC fields before a library parses
// them: the longest IANA zone name is about 30 bytes, and a locale with a
// few extensions fits well within 64.
const (
	maxZoneinfo = 64
	maxLocale   = 64
)

// latestOffset is how far ahead of UTC the earliest calendar on Earth runs
// (UTC+14, Line Islands): a birthdate is in the future only once it is
// after today everywhere.
const latestOffset = 14 * time.Hour

// Birthdate validates an OIDC birthdate: YYYY-MM-DD (exactly that form,
// as time.DateOnly parses it), a real date of the Gregorian calendar
// (2023-02-29 is refused), not after today wherever today is furthest
// along. now is the clock. It returns the date as given, which is
// already its only spelling.
func Birthdate(s string, now time.Time) (string, error) {
	const field = "birthdate"
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return "", &FieldError{field, "must be a real date written YYYY-MM-DD"}
	}
	today := now.UTC().Add(latestOffset)
	if d.After(today) {
		return "", &FieldError{field, "must not be in the future"}
	}
	return s, nil
}

//go:generate go run zonenames_gen.go

// Zoneinfo validates an OIDC zoneinfo: a name of the time zone database
// Go embeds (time/tzdata), such as "Europe/Paris", spelled exactly so.
// time.LoadLocation alone is not the check: it reads the host's zone
// files first, which hold names that are not zones ("localtime",
// "posixrules", "right/UTC"), accept paths that are ("./UTC",
// "Europe//Paris") and, on a case-insensitive file system, any case; what
// is accepted would depend on the host. So the name must be in zoneNames
// (zonenames.go, generated from the database Go embeds), and then load.
// "Local" and "" are LoadLocation's own names, never in the database.
// "Factory" is in the database but is no place's zone: tzdata's
// placeholder for a machine whose zone was never set (abbreviation
// "-00"), which ICU, and so JavaScript's Intl.DateTimeFormat, refuses:
// an app formatting times in the user's zone would fail on it.
func Zoneinfo(s string) (string, error) {
	const field = "zoneinfo"
	if len(s) > maxZoneinfo || s == "Factory" {
		return "", &FieldError{field, "must be an IANA time zone name such as Europe/Paris"}
	}
	if _, known := slices.BinarySearch(zoneNames, s); !known {
		return "", &FieldError{field, "must be an IANA time zone name such as Europe/Paris"}
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		return "", &FieldError{field, "must be an IANA time zone name such as Europe/Paris"}
	}
	return loc.String(), nil
}

// Locale validates an OIDC locale: a well-formed BCP 47 language tag
// whose subtags the registry knows (golang.org/x/text/language), returned
// in its canonical form ("en-us" → "en-US", "iw" → "he"). An underscore
// ("en_US", a POSIX locale) is not BCP 47 and is refused, though the
// library would read it.
func Locale(s string) (string, error) {
	const field = "locale"
	if s == "" || len(s) > maxLocale || strings.Contains(s, "_") {
		return "", &FieldError{field, "must be a BCP 47 language tag such as en-US"}
	}
	tag, err := language.Parse(s)
	if err != nil {
		return "", &FieldError{field, "must be a BCP 47 language tag such as en-US"}
	}
	if err := localeSubtags(s); err != nil {
		return "", err
	}
	// language.Parse accepts a singleton given twice ("aa-u-00-u-00"),
	// which BCP 47 forbids, and its canonical form of such a tag changes
	// when parsed again: what is stored must read back as itself.
	canonical := tag.String()
	if again, err := language.Parse(canonical); err != nil || again.String() != canonical {
		return "", &FieldError{field, "must be a BCP 47 language tag such as en-US"}
	}
	return canonical, nil
}

// grandfatheredExtlang are the grandfathered tags of RFC 5646 whose second
// subtag has three letters, as an extended language subtag has: the list
// is closed, and the library maps each to the language it stands for.
var grandfatheredExtlang = []string{"no-bok", "no-nyn", "zh-min", "zh-min-nan"}

// localeSubtags refuses what language.Parse reads but BCP 47 or the
// stored value cannot bear:
//   - an extended language subtag (the "yue" of "zh-yue"): the library
//     takes any three-letter language code there for one and makes it the
//     language, without the registry's check of its prefix, so "en-USA"
//     (a region written as three letters) would be stored as "usa", the
//     Usarufa language, and "pt-BRA" as "bra". The language's own subtag
//     ("yue"), which RFC 5646 prefers and Unicode locale identifiers
//     (ECMA-402's Intl, ICU) require, is what to send.
//   - a singleton given twice ("en-u-ca-gregory-u-nu-latn"), which BCP 47
//     forbids and the library keeps: Intl.Locale throws on it.
func localeSubtags(s string) error {
	const field = "locale"
	subtags := strings.Split(strings.ToLower(s), "-")
	if len(subtags) > 1 && len(subtags[0]) >= 2 && len(subtags[0]) <= 3 && len(subtags[1]) == 3 &&
		isLetters(subtags[1]) && !slices.Contains(grandfatheredExtlang, strings.ToLower(s)) {
		return &FieldError{field, "must not have an extended language subtag: give the language's own subtag, and a region in two letters"}
	}
	seen := ""
	for _, t := range subtags[1:] {
		if len(t) != 1 {
			continue
		}
		if t == "x" {
			break // private use: its subtags are anything
		}
		if strings.Contains(seen, t) {
			return &FieldError{field, "must not give an extension's singleton twice"}
		}
		seen += t
	}
	return nil
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}
