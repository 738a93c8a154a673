package handler

import (
	"bytes"
	"encoding/json"
)

// basic/edit's body is decoded here rather than by encoding/json when its
// values are all strings or null, which is every valid edit: Unmarshal
// cost seven allocations an edit (its decoder state, its parse stack, a
// string and a pointer per field, ...) and reflection besides, on the
// busiest write path. decodeBody has checked the body already (one valid
// JSON object, every name exactly a field of editBody), which leaves this
// only to find the values. Anything else, a value of the wrong type above
// all, goes to encoding/json, whose errors are the answers' words.
// FuzzDecodeEditFast checks that both decode every body alike.

// decodeFast decodes obj into b and reports whether it could. When it
// could not, encoding/json decodes the whole of obj into b again, setting
// every field obj names (and failing, since only a value of the wrong
// type stops this decoder): what this one set by then needs no undoing.
func (b *editBody) decodeFast(obj []byte) bool {
	var whole string // obj as a string, made once: values are slices of it
	for m := (members{obj: obj}); m.next(); {
		var str **string
		var slot *string
		var raw *json.RawMessage
		if plain, name := m.name(); plain != nil {
			str, slot, raw = b.member(string(plain)) // a switch on a converted slice copies nothing
		} else {
			str, slot, raw = b.member(name)
		}
		value := m.value
		switch {
		case raw != nil:
			*raw = append((*raw)[:0], value...) // as json.RawMessage copies
		case str == nil:
			return false
		case value[0] == 'n': // null, a valid body's only literal starting so
			*str = nil
		case value[0] == '"':
			if bytes.IndexByte(value, '\\') >= 0 {
				if json.Unmarshal(value, slot) != nil {
					return false
				}
			} else {
				if whole == "" {
					whole = string(obj)
				}
				*slot = whole[m.valueAt+1 : m.valueAt+len(value)-1]
			}
			*str = slot
		default: // a number, a boolean, an object or an array: a type error
			return false
		}
	}
	return true
}

// member is where the field called name goes: a string field and the slot
// its value is kept in, or a raw one. All nil for no field.
func (b *editBody) member(name string) (**string, *string, *json.RawMessage) {
	v := &b.values
	switch name {
	case "user_id":
		return &b.UserID, &v[0], nil
	case "nickname":
		return &b.Nickname, &v[1], nil
	case "username":
		return &b.Username, &v[2], nil
	case "phone":
		return &b.Phone, &v[3], nil
	case "email":
		return &b.Email, &v[4], nil
	case "avatar_url":
		return &b.AvatarURL, &v[5], nil
	case "gender":
		return &b.Gender, &v[6], nil
	case "description":
		return &b.Description, &v[7], nil
	case "verification_token":
		return &b.VerificationToken, &v[8], nil
	case "sudo_token":
		return &b.SudoToken, &v[9], nil
	case "password":
		return nil, nil, &b.Password
	case "new_password":
		return nil, nil, &b.NewPassword
	}
	return nil, nil, nil
}
