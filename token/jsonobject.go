package token

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// A small reader for the flat JSON objects of JOSE headers and JWT claims.
// encoding/json into a struct would be simpler, but it matches member names
// case-insensitively ("ALG" would count as "alg") and its reflection is a
// fair share of a verification's cost; JOSE names are case-sensitive.

var errNotObject = errors.New("not a JSON object")

// walkObject calls fn with the raw name (quotes included) and raw value of
// each top-level member of the JSON object data, in order, and stops at the
// first error fn returns.
func walkObject(data []byte, fn func(name, value []byte) error) error {
	// Validating first lets the scan below trust the syntax.
	if !json.Valid(data) {
		return errNotObject
	}
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return errNotObject
	}
	i = skipSpace(data, i+1)
	if data[i] == '}' {
		return nil
	}
	for {
		end := endOfString(data, i)
		name := data[i:end]
		i = skipSpace(data, end) // at ':'
		i = skipSpace(data, i+1) // at the value
		end = endOfValue(data, i)
		if err := fn(name, data[i:end]); err != nil {
			return err
		}
		i = skipSpace(data, end) // at ',' or '}'
		if data[i] == '}' {
			return nil
		}
		i = skipSpace(data, i+1)
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// endOfString returns the index just past the string that starts at i.
func endOfString(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(data)
}

// endOfValue returns the index just past the value that starts at i.
func endOfValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return endOfString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				j = endOfString(data, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(data)
	}
	for j := i; j < len(data); j++ {
		switch data[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return j
		}
	}
	return len(data)
}

// nameIs reports whether the raw member name equals want. Names with escapes
// are decoded first, so "\u0061lg" is "alg", as JSON says it is.
func nameIs(raw []byte, want string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1:len(raw)-1]) == want
	}
	var name string
	return json.Unmarshal(raw, &name) == nil && name == want
}

// jsonString decodes a raw value that must be a string of valid UTF-8.
func jsonString(raw []byte) (string, bool) {
	if raw[0] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if !utf8.Valid(inner) {
		// encoding/json would quietly turn invalid bytes into U+FFFD, making
		// two different values equal.
		return "", false
	}
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil || loneSurrogate(inner) {
		// encoding/json turns a lone surrogate into U+FFFD too:
		// "\ud800" and "\udfff" would be the same subject.
		return "", false
	}
	return s, true
}

// LoneSurrogate reports whether b, valid JSON text (a whole value, or a
// string's inside), holds a \u escape of a UTF-16 surrogate that is not
// half of a pair. encoding/json reads one as U+FFFD: the API's request
// bodies are held to it as tokens are, so that no text is stored, or
// compared, other than as it was sent.
func LoneSurrogate(b []byte) bool { return loneSurrogate(b) }

// loneSurrogate reports whether the escapes of inner, the inside of a
// valid JSON string, hold a UTF-16 surrogate that is not half of a pair
// (a high half followed at once by a low one).
func loneSurrogate(inner []byte) bool {
	for i := 0; i < len(inner); i++ {
		if inner[i] != '\\' {
			continue
		}
		i++
		if inner[i] != 'u' {
			continue
		}
		r := escapedRune(inner[i+1:])
		i += 4
		if !utf16.IsSurrogate(r) {
			continue
		}
		if i+6 < len(inner) && inner[i+1] == '\\' && inner[i+2] == 'u' &&
			utf16.DecodeRune(r, escapedRune(inner[i+3:])) != unicode.ReplacementChar {
			i += 6
			continue
		}
		return true
	}
	return false
}

// escapedRune is the code unit of the four hex digits a valid \u escape
// has.
func escapedRune(b []byte) rune {
	var v [2]byte
	_, _ = hex.Decode(v[:], b[:4]) // valid JSON: four hex digits
	return rune(v[0])<<8 | rune(v[1])
}

// jsonStringIs reports whether raw, which must be a string as jsonString
// says, decodes to want (is), without copying it when it has no escapes.
func jsonStringIs(raw []byte, want string) (is, ok bool) {
	if raw[0] != '"' {
		return false, false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == want, utf8.Valid(inner)
	}
	s, ok := jsonString(raw)
	return s == want, ok
}

// singleString returns the one string raw holds when it is a string or an
// array of exactly one string, as aud usually is: raw itself, or the
// array's element, still encoded.
func singleString(raw []byte) ([]byte, bool) {
	if raw[0] == '"' {
		return raw, true
	}
	if raw[0] != '[' {
		return nil, false
	}
	var one []byte
	n := 0
	if walkArray(raw, func(elem []byte) { one = elem; n++ }) != nil || n != 1 || one[0] != '"' {
		return nil, false
	}
	return one, true
}

// jsonStrings decodes a string, or an array of strings, as aud may be.
func jsonStrings(raw []byte) ([]string, bool) {
	if raw[0] != '[' {
		s, ok := jsonString(raw)
		return []string{s}, ok
	}
	var list []string
	ok := true
	err := walkArray(raw, func(elem []byte) {
		s, good := jsonString(elem)
		ok = ok && good
		list = append(list, s)
	})
	return list, ok && err == nil
}

// walkArray calls fn with each element of a valid JSON array.
func walkArray(data []byte, fn func(elem []byte)) error {
	i := skipSpace(data, 1)
	if data[i] == ']' {
		return nil
	}
	for i < len(data) {
		end := endOfValue(data, i)
		fn(data[i:end])
		i = skipSpace(data, end)
		if data[i] == ']' {
			return nil
		}
		i = skipSpace(data, i+1)
	}
	return errNotObject
}

// maxNumericDate is 9999-12-31T23:59:59Z: any later date is nonsense, and
// bounding it keeps the conversion to time.Time exact.
const maxNumericDate = 253402300799

// jsonNumericDate decodes an RFC 7519 NumericDate: seconds since the epoch,
// possibly fractional.
func jsonNumericDate(raw []byte) (time.Time, bool) {
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.Abs(f) > maxNumericDate {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}
