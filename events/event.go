package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// Body returns the JSON an event is delivered (and printed) as, and its
// webhook-id, from a stream entry's ID and its event field. The stored
// JSON may carry its own id (a dead letter sent again keeps the one it was
// first delivered with, so receivers see one webhook-id for one change);
// else the entry's ID is inserted as "id", first. Anything but a JSON
// object is an error, and so is an id that is not one string: the body's
// id must be the webhook-id for every reader.
func Body(entryID string, stored string) (body []byte, id string, err error) {
	raw := bytes.TrimSpace([]byte(stored))
	if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return nil, "", errors.New("events: the event is not a JSON object")
	}
	own, err := ownID(raw)
	if err != nil {
		return nil, "", err
	}
	if own != nil {
		if *own == "" {
			return nil, "", errors.New("events: the event's id is empty")
		}
		return raw, *own, nil
	}
	rest := bytes.TrimSpace(raw[1:])
	b := make([]byte, 0, len(raw)+len(entryID)+10)
	b = append(b, `{"id":`...)
	b = strconv.AppendQuote(b, entryID)
	if rest[0] != '}' {
		b = append(b, ',')
	}
	return append(b, rest...), entryID, nil
}

// ownID is the id member of raw, one valid JSON object: nil if it has
// none. Names are matched exactly, not as encoding/json's struct decoding
// matches them ("ID" is another member), and a second id or one that is
// not a string (null included: the id put first would then be followed
// by a null one) is an error.
func ownID(raw []byte) (*string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, err
	}
	var id *string
	for dec.More() {
		name, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		if name != "id" {
			continue
		}
		if id != nil {
			return nil, errors.New("events: the event's id is given twice")
		}
		var s string
		if value[0] != '"' || json.Unmarshal(value, &s) != nil {
			return nil, errors.New("events: the event's id is not a string")
		}
		id = &s
	}
	return id, nil
}

// streamID is a stream entry ID, ordered as Redis orders them.
type streamID struct{ ms, seq uint64 }

func parseStreamID(s string) (streamID, bool) {
	ms, seq, ok := strings.Cut(s, "-")
	if !ok {
		return streamID{}, false
	}
	a, err1 := strconv.ParseUint(ms, 10, 64)
	b, err2 := strconv.ParseUint(seq, 10, 64)
	return streamID{a, b}, err1 == nil && err2 == nil
}

func (a streamID) less(b streamID) bool {
	return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq)
}
