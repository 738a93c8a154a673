package handler

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/authedge/caddy-authedge/token"
)

// fastDecoder is a body that decodes its common shapes without
// encoding/json (decode_edit.go's editBody); false leaves the body to
// encoding/json, which then gives any error its message.
type fastDecoder interface{ decodeFast(data []byte) bool }

// decodeBody is step 4's syntax half: body must be exactly one JSON object
// whose fields all belong to dst, each of the right type. Every failure names
// what is wrong, and a field set to null is left as not given.
func decodeBody(body []byte, dst any) *apiError {
	if !utf8.Valid(body) {
		return invalidArgument("the body is not valid UTF-8")
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if bytes.HasPrefix(trimmed, utf8BOM) {
		// What some Windows tools write first (RFC 8259 8.1 forbids it):
		// the client sees a JSON object and must be told what is not one.
		return invalidArgument("the body must be one JSON object, without a byte order mark (U+FEFF) before it")
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return invalidArgument("the body must be one JSON object")
	}
	known := fieldNames(dst)
	if !json.Valid(trimmed) {
		// The slow path, only for bodies that are refused anyway: it
		// says where the syntax breaks, or names an unknown field met
		// before that.
		if err := checkFieldNames(trimmed, known); err != nil {
			return err
		}
		return invalidArgument("malformed JSON")
	}
	if err := checkSurrogates(trimmed); err != nil {
		return err
	}
	// Names are checked before encoding/json sees the body because it
	// matches them case-insensitively: "Nickname" or "NICKNAME" would
	// silently set nickname, and a second spelling would override the
	// first. The API's names are exact; anything else is an unknown field.
	if name, ok := unknownName(trimmed, known); ok {
		return invalidArgument(quoteFieldName(name) + ": unknown field")
	}
	// One well-formed object with known names only: what is left to fail
	// here is a type.
	if fast, ok := dst.(fastDecoder); ok && fast.decodeFast(trimmed) {
		return nil
	}
	if err := json.Unmarshal(trimmed, dst); err != nil {
		return jsonError(err)
	}
	return nil
}

var utf8BOM = []byte("\ufeff")

// checkSurrogates refuses an escaped lone UTF-16 surrogate ("\ud800")
// anywhere in obj, one valid JSON object, naming the member that holds
// it. encoding/json would read it as U+FFFD without a word: a nickname
// would be stored with a character its user never sent, and an admin's
// user_id "a\ud800" would name the user "a\ufffd". Raw invalid UTF-8 is
// refused already; this is the same text, escaped.
func checkSurrogates(obj []byte) *apiError {
	if !bytes.Contains(obj, []byte(`\u`)) {
		return nil
	}
	for m := (members{obj: obj}); m.next(); {
		if token.LoneSurrogate(m.quotedName) {
			return invalidArgument("a field name holds a \\u escape of a lone UTF-16 surrogate, which is no character")
		}
		if token.LoneSurrogate(m.value) {
			plain, name := m.name()
			if plain != nil {
				name = string(plain)
			}
			return invalidArgument(quoteFieldName(name) + ": holds a \\u escape of a lone UTF-16 surrogate, which is no character")
		}
	}
	return nil
}

// checkFieldNames walks the object's top-level names with encoding/json's
// tokenizer: slow, but it tells exactly where a malformed body breaks.
func checkFieldNames(body []byte, known map[string]bool) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // the '{' checked by the caller
		return jsonError(err)
	}
	var skip json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonError(err)
		}
		name, _ := tok.(string) // More and Token guarantee a name here
		if err := dec.Decode(&skip); err != nil {
			return jsonError(err)
		}
		if !known[name] {
			return invalidArgument(quoteFieldName(name) + ": unknown field")
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalidArgument("the body must be one JSON object, with nothing after it")
	}
	return nil
}

// unknownName returns the first top-level name of obj that is not in
// known. obj must be one valid JSON object (json.Valid).
func unknownName(obj []byte, known map[string]bool) (string, bool) {
	for m := (members{obj: obj}); m.next(); {
		if plain, name := m.name(); plain != nil {
			if !known[string(plain)] { // a lookup that copies nothing
				return string(plain), true
			}
		} else if !known[name] {
			return name, true
		}
	}
	return "", false
}

// members walks the top-level members of obj, one valid JSON object
// (json.Valid), which keeps it simple: it only finds where names and
// values end. The zero cursor on obj starts before the first member.
type members struct {
	obj []byte
	i   int
	// quotedName is the current member's name with its quotes, value its
	// value, which starts at obj[valueAt].
	quotedName, value []byte
	valueAt           int
}

// next moves to the next member; false at the end of the object.
func (m *members) next() bool {
	if m.i == 0 {
		m.i = 1 // past '{'
	}
	m.i = skipSpace(m.obj, m.i)
	if m.obj[m.i] == '}' {
		return false
	}
	end := stringEnd(m.obj, m.i)
	m.quotedName = m.obj[m.i:end]
	m.valueAt = skipSpace(m.obj, skipSpace(m.obj, end)+1) // past ':'
	vend := valueEnd(m.obj, m.valueAt)
	m.value = m.obj[m.valueAt:vend]
	m.i = skipSpace(m.obj, vend)
	if m.obj[m.i] == ',' {
		m.i++
	}
	return true
}

// name is the member's name: plain, the bytes between its quotes, when it
// holds no escape (a switch or map lookup on string(plain) copies
// nothing), else nil and the name decoded.
func (m *members) name() (plain []byte, decoded string) {
	raw := m.quotedName[1 : len(m.quotedName)-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw, ""
	}
	var name string                         // declared here: Unmarshal moves it to the heap
	_ = json.Unmarshal(m.quotedName, &name) // valid, so it cannot fail
	return nil, name
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string literal starting at i.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// valueEnd returns the index just past the value starting at i.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	// A number or a literal runs to the next delimiter.
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}

// maxEchoedName bounds how much of an unknown field's name an answer (and
// the debug log line that repeats it) echoes back.
const maxEchoedName = 64

func quoteFieldName(name string) string {
	if utf8.RuneCountInString(name) <= maxEchoedName {
		return name
	}
	r := []rune(name)
	return string(r[:maxEchoedName]) + "…"
}

// fieldNames returns the JSON names of a body struct's fields, computed
// once per type.
func fieldNames(dst any) map[string]bool {
	t := reflect.TypeOf(dst).Elem()
	if names, ok := fieldNameCache.Load(t); ok {
		return names.(map[string]bool)
	}
	names := make(map[string]bool, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names[name] = true
		}
	}
	fieldNameCache.Store(t, names)
	return names
}

var fieldNameCache sync.Map // reflect.Type → map[string]bool

func jsonError(err error) *apiError {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return invalidArgument("malformed JSON at byte " + strconv.FormatInt(syntax.Offset, 10))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return invalidArgument("the body must be one JSON object")
		}
		return invalidArgument(typ.Field + ": must be " + jsonKind(typ.Type.Kind().String()) + ", not " + typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return invalidArgument("malformed JSON: the body ends early")
	}
	return invalidArgument("malformed JSON")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	default:
		return "a number"
	}
}
