package profile

import (
	"archive/zip"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

// fixedNow is noon UTC: 02:00 the next day in UTC+14.
var fixedNow = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func TestBirthdate(t *testing.T) {
	at := func(s string) (string, error) { return Birthdate(s, fixedNow) }
	runStringCases(t, "birthdate", at, []stringCase{
		{"plain", "1990-05-17", "1990-05-17"},
		{"leap day of a leap year", "2024-02-29", "2024-02-29"},
		{"leap day of 2000", "2000-02-29", "2000-02-29"},
		{"today", "2026-12-03", "2026-12-03"},
		{"tomorrow is today in UTC+14", "2026-12-04", "2026-12-04"},
		{"impossible leap day", "2023-02-29", ""},
		{"leap day of 1900", "1900-02-29", ""},
		{"April 31", "2020-04-31", ""},
		{"month 13", "2020-13-01", ""},
		{"day 0", "2020-01-00", ""},
		{"future", "2026-12-05", ""},
		{"far future", "9999-12-31", ""},
		{"no padding", "2020-1-1", ""},
		{"slashes", "2020/01/01", ""},
		{"time attached", "2020-01-01T00:00:00Z", ""},
		{"five-digit year", "12020-01-01", ""},
		{"signed year", "+2020-01-01", ""},
		{"space", " 2020-01-01", ""},
		{"empty", "", ""},
	})
}

func TestZoneinfo(t *testing.T) {
	runStringCases(t, "zoneinfo", Zoneinfo, []stringCase{
		{"Paris", "Europe/Paris", "Europe/Paris"},
		{"Shanghai", "Asia/Shanghai", "Asia/Shanghai"},
		{"three levels", "America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"},
		{"UTC", "UTC", "UTC"},
		{"Etc offset", "Etc/GMT+5", "Etc/GMT+5"},
		{"Mars", "Mars/Olympus", ""},
		{"wrong case", "europe/paris", ""},
		{"Local", "Local", ""},
		{"empty", "", ""},
		{"path escape", "../../etc/passwd", ""},
		{"absolute path", "/etc/localtime", ""},
		{"NUL", "Europe/Paris\x00", ""},
		{"separator", "Europe/Paris\x1f", ""},
		{"too long", "Europe/" + string(make([]byte, 80)), ""},
		// Host zone files that are not names of the database, or other
		// paths to one: refused wherever the host keeps them.
		{"host localtime", "localtime", ""},
		{"host posixrules", "posixrules", ""},
		{"host right/", "right/UTC", ""},
		{"host posix/", "posix/Europe/Paris", ""},
		{"dot segment", "./UTC", ""},
		{"inner dot segment", "Europe/./Paris", ""},
		{"double slash", "Europe//Paris", ""},
		{"trailing slash", "Europe/Paris/", ""},
		{"directory", "Asia", ""},
		// In the database, but tzdata's "zone not set" placeholder, which
		// ICU (JavaScript's Intl) refuses.
		{"Factory", "Factory", ""},
	})
}

// TestZoneNamesMatchGo: zonenames.go lists exactly the names of the
// database this Go embeds (run `go generate ./profile` when it fails after
// a Go upgrade), sorted for the binary search, and every one loads.
func TestZoneNamesMatchGo(t *testing.T) {
	if !slices.IsSorted(zoneNames) {
		t.Fatal("zoneNames is not sorted")
	}
	for _, n := range zoneNames {
		if n == "Factory" {
			continue // refused on purpose: TestZoneinfo
		}
		if got, err := Zoneinfo(n); err != nil || got != n {
			t.Errorf("Zoneinfo(%q) = %q, %v", n, got, err)
		}
	}
	zr, err := zip.OpenReader(filepath.Join(runtime.GOROOT(), "lib", "time", "zoneinfo.zip"))
	if err != nil {
		t.Skipf("no zone database to compare with: %v", err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, zoneNames) {
		t.Errorf("zonenames.go (%d names) differs from %s's database (%d names): run go generate ./profile",
			len(zoneNames), runtime.Version(), len(names))
	}
}

func TestLocale(t *testing.T) {
	runStringCases(t, "locale", Locale, []stringCase{
		{"canonical", "en-US", "en-US"},
		{"case folded", "en-us", "en-US"},
		{"script", "zh-hans-cn", "zh-Hans-CN"},
		{"deprecated language", "iw", "he"},
		{"language only", "fr", "fr"},
		{"extension", "en-u-ca-gregory", "en-u-ca-gregory"},
		{"private use", "x-foo", "x-foo"},
		{"POSIX underscore", "en_US", ""},
		{"empty subtag", "en--US", ""},
		{"unknown language", "xx-ZZ", ""},
		{"too long subtag", "english", ""},
		{"space", "en US", ""},
		{"trailing hyphen", "en-", ""},
		{"empty", "", ""},
		{"separator", "en\x1f", ""},
		// Grandfathered tags stand for a language of their own.
		{"grandfathered", "no-bok", "nb"},
		{"grandfathered with an extlang-like subtag", "zh-min-nan", "nan"},
		// A three-letter subtag after the language is an extended
		// language subtag, which the library would make the language
		// whatever its registered prefix: a region in three letters
		// would store another language.
		{"region in three letters", "en-USA", ""},
		{"region in three letters, same language code", "zh-CHN", ""},
		{"region in three letters, another", "pt-BRA", ""},
		{"extlang form", "zh-yue", ""},
		{"extlang form with region", "zh-cmn-Hans-CN", ""},
		{"the language itself", "yue-HK", "yue-HK"},
		// BCP 47 allows each singleton once; Intl.Locale throws on a
		// repeat that the library keeps.
		{"singleton twice", "en-u-ca-gregory-u-nu-latn", ""},
		{"transform singleton twice", "en-t-en-t-fr", ""},
		{"singleton case variants", "en-U-ca-gregory-u-nu-latn", ""},
		{"two singletons", "en-a-bbb-u-ca-gregory", "en-a-bbb-u-ca-gregory"},
		{"private use repeats freely", "en-x-a-b-a", "en-x-a-b-a"},
	})
}
