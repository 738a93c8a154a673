package handler

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/authedge/caddy-authedge/store"
)

const hexDigits = "0123456789abcdef"

// writeJSON sends a complete JSON body. Every authedge response is JSON that
// must never be cached: it is either someone's profile or an error about
// their credentials.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	// As Header.Set would, with the three values in one allocation rather
	// than one each. Not shared between responses: a handler after this
	// one may edit values in place (Caddy's header replacements do).
	v := make([]string, 3)
	v[0], v[1], v[2] = "application/json", "no-store", "nosniff"
	h := w.Header()
	h["Content-Type"] = v[0:1:1]
	h["Cache-Control"] = v[1:2:2]
	h["X-Content-Type-Options"] = v[2:3:3]
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeProfileJSON answers p as user/me does.
func writeProfileJSON(w http.ResponseWriter, p *store.Profile) {
	buf := buffers.Get().(*[]byte) // request.go's
	*buf = appendProfile((*buf)[:0], p)
	writeJSON(w, http.StatusOK, *buf)
	putBuffer(buf)
}

var emptyObject = []byte("{}")

func writeEmptyObject(w http.ResponseWriter) { writeJSON(w, http.StatusOK, emptyObject) }

// appendJSONString appends s as a JSON string. Responses are built by
// appending rather than through encoding/json's reflection because they sit
// on every profile read; invalid UTF-8 becomes U+FFFD as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\t':
				b = append(b, '\\', 't')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript parsers
		// that eval, so escape them as encoding/json does.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// quoteHeader makes s a quoted-string for an HTTP header parameter: only
// printable ASCII survives, and quotes and backslashes are escaped.
func quoteHeader(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			sb.WriteByte(c)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}
