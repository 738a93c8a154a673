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
)

// decodeBody is step 4's syntax half: body must be exactly one JSON object
// whose fields all belong to dst, each of the right type. Every failure names
// what is wrong, and a field set to null is left as not given.
func decodeBody(body []byte, dst any) *apiError {
	if !utf8.Valid(body) {
		return invalidArgument("the body is not valid UTF-8")
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return invalidArgument("the body must be one JSON object")
	}
	if err := checkFieldNames(trimmed, fieldNames(dst)); err != nil {
		return err
	}
	// checkFieldNames has seen one well-formed object and nothing after it
	// with known names only, so what is left to fail here is a type.
	if err := json.Unmarshal(trimmed, dst); err != nil {
		return jsonError(err)
	}
	return nil
}

// checkFieldNames walks the object's top-level names. encoding/json matches
// names case-insensitively, so "Nickname" or "NICKNAME" would silently set
// nickname, and a second spelling would override the first; the API's
// names are exact, and anything else is an unknown field.
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
