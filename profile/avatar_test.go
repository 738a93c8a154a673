package profile

import (
	"strings"
	"testing"
)

func TestAvatarURL(t *testing.T) {
	base := "https://cdn.example.com/"
	at2048 := base + strings.Repeat("a", 2048-len(base))
	runStringCases(t, "avatar_url", AvatarURL, []stringCase{
		{"https", "https://cdn.example.com/a.png", "https://cdn.example.com/a.png"},
		{"http with port and query", "http://127.0.0.1:8080/a.png?s=64#x", "http://127.0.0.1:8080/a.png?s=64#x"},
		{"upper-case scheme", "HTTPS://cdn.example.com/a.png", "HTTPS://cdn.example.com/a.png"},
		{"IPv6 host", "http://[::1]/a.png", "http://[::1]/a.png"},
		{"unicode path NFC", "https://example.com/caf" + decomposedE + ".png", "https://example.com/café.png"},
		{"percent-encoded space", "https://example.com/a%20b.png", "https://example.com/a%20b.png"},
		{"2048 chars", at2048, at2048},
		{"2049 chars", at2048 + "a", ""},
		{"relative", "/a.png", ""},
		{"scheme-relative", "//cdn.example.com/a.png", ""},
		{"no host", "https:///a.png", ""},
		{"opaque", "https:cdn.example.com", ""},
		{"port only", "https://:443/a.png", ""},
		{"javascript", "javascript:alert(1)", ""},
		{"data", "data:image/png;base64,AAAA", ""},
		{"ftp", "ftp://example.com/a.png", ""},
		{"userinfo", "https://user:pass@example.com/a.png", ""},
		{"space", "https://example.com/a b.png", ""},
		{"leading space", " https://example.com/a.png", ""},
		{"newline", "https://example.com/a.png\n", ""},
		{"tab", "https://example.com/\ta.png", ""},
		{"zero width space", "https://example.com/\u200ba.png", ""},
		{"bad escape", "https://example.com/%zz", ""},
		{"invalid UTF-8", "https://example.com/\xff", ""},
		{"empty", "", ""},
	})
}

// TestAvatarURLBrowsersParse: a URL that Go's net/url takes but a
// browser's URL parser (the WHATWG URL Standard, JavaScript's new URL)
// refuses is refused: no client could load it, and an app that parses
// the picture of every profile it shows would throw on it.
func TestAvatarURLBrowsersParse(t *testing.T) {
	runStringCases(t, "avatar_url", AvatarURL, []stringCase{
		{"port over 65535", "http://example.com:99999/a.png", ""},
		{"IPv6 port over 65535", "http://[::1]:65536/a.png", ""},
		{"forbidden host code point", "http://exa<mple.com/a.png", ""},
		{"escaped percent in host", "http://a%25b.example/a.png", ""},
		{"IPv4 of five parts", "http://1.2.3.4.5/a.png", ""},
		{"IPv4 part over 255", "http://256.1.1.1/a.png", ""},
		{"empty punycode label", "https://xn--/a.png", ""},
		// What browsers do load stays valid, as it was sent.
		{"highest port", "http://[::1]:65535/a.png", "http://[::1]:65535/a.png"},
		{"underscore in host", "https://my_bucket.example.com/a.png", "https://my_bucket.example.com/a.png"},
		{"IDN host", "https://bücher.example/a.png", "https://bücher.example/a.png"},
		{"pipe in query", "https://img.example.com/a.jpg?imageMogr2/thumbnail/!100x100r|imageslim", "https://img.example.com/a.jpg?imageMogr2/thumbnail/!100x100r|imageslim"},
		{"hex IPv4", "http://0x7f.1/a.png", "http://0x7f.1/a.png"},
	})
}
