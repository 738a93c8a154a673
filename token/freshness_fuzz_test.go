package token

import (
	"net/http"
	"testing"
	"time"

	"github.com/lestrrat-go/httpcc"
)

// FuzzCapFreshness: whatever Cache-Control and Expires a JWKS endpoint
// answers with, the next fetch httprc schedules from the headers
// capFreshness leaves is at most the limit away (httprcRefresh is
// httprc v1.0.6's calculateRefreshDuration, unexported there), so a key
// the provider withdraws stops working in time.
func FuzzCapFreshness(f *testing.F) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for _, s := range [][2]string{
		{"max-age=86400", ""}, {"max-age=60", ""}, {"no-cache", now.Add(48 * time.Hour).Format(http.TimeFormat)},
		{"max-age=9223372037", ""}, {"max-age=18446744073709551615", ""}, {"max-age=1, max-age=99999", ""},
		{"", now.Add(time.Minute).Format(http.TimeFormat)}, {"", "Fri, 31 Dec 9999 23:59:59 GMT"}, {"max-age=\"7\"", ""},
		{"public, max-age=3600, s-maxage=99999", "x"},
	} {
		f.Add(s[0], s[1])
	}
	const limit = time.Hour
	f.Fuzz(func(t *testing.T, cacheControl, expires string) {
		h := http.Header{}
		if cacheControl != "" {
			h.Set("Cache-Control", cacheControl)
		}
		if expires != "" {
			h.Set("Expires", expires)
		}
		capFreshness(h, limit, now)
		if got := httprcRefresh(h, now); got > limit {
			t.Fatalf("Cache-Control %q, Expires %q: left %q, %q, next fetch in %v", cacheControl, expires,
				h.Get("Cache-Control"), h.Get("Expires"), got)
		}
	})
}

// httprcRefresh is httprc v1.0.6's calculateRefreshDuration for an entry
// without a fixed refresh interval and no minimum, at now.
func httprcRefresh(h http.Header, now time.Time) time.Duration {
	if v := h.Get(`Cache-Control`); v != "" {
		if dir, err := httpcc.ParseResponse(v); err == nil {
			if maxAge, ok := dir.MaxAge(); ok {
				return time.Duration(maxAge) * time.Second
			}
		}
	}
	if v := h.Get(`Expires`); v != "" {
		if expires, err := http.ParseTime(v); err == nil {
			return expires.Sub(now)
		}
	}
	return 0
}
