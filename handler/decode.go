package handler

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
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
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalidArgument("the body must be one JSON object, with nothing after it")
	}
	return nil
}

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
	// encoding/json reports unknown fields only as text.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field, uerr := strconv.Unquote(name)
		if uerr != nil {
			field = name
		}
		return invalidArgument(field + ": unknown field")
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
