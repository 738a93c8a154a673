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
// object is an error.
func Body(entryID string, stored string) (body []byte, id string, err error) {
	var head struct {
		ID *string `json:"id"`
	}
	raw := bytes.TrimSpace([]byte(stored))
	if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return nil, "", errors.New("events: the event is not a JSON object")
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, "", errors.New("events: the event's id is not a string")
	}
	if head.ID != nil {
		if *head.ID == "" {
			return nil, "", errors.New("events: the event's id is empty")
		}
		return raw, *head.ID, nil
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
