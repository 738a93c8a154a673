package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// Every change a script makes is recorded by that same script
// (scripts/lib.lua's record_change), so that a change without its record,
// or a record without its change, cannot exist:
//
//   - the target's history, h:<user>: one string of its last historyKeep
//     changes, oldest first, which expires historyTTL after the latest.
//     Each entry names the fields that changed, never their values, and
//     where the change came from (docs/storage.md). A string rather than a
//     list: Redis 7.0 keeps even a one-entry list as a quicklist, about 130
//     bytes more than a string of the same entry, on every user who has
//     changed anything.
//   - with events on, one entry in the environment's stream, events, whose
//     one field, event, is the change event's JSON with old and new values
//     (docs/events.md), without its id: the id is the entry's ID, which
//     every reader adds (XADD * is cheaper, and never refused, where an
//     ID chosen by the script would need the stream's last ID first).

// historyKeep and historyTTL: lib.lua's HISTORY_KEEP and HISTORY_TTL_MS.
// Entries older than historyTTL are not shown even while newer ones keep
// the list alive.
const (
	historyKeep = 50
	historyTTL  = 90 * 24 * time.Hour
)

// maxUserAgentBytes bounds the user agent a history entry keeps: fifty of
// them per user are most of a history's memory.
const maxUserAgentBytes = 256

// Origin is where a change came from: what its history entry and its
// change event record beside the actor.
type Origin struct {
	// ClientID is the request's effective client_id.
	ClientID string
	// DeviceID is the request's x-device-id ("" if none).
	DeviceID string
	// IP is the client IP.
	IP string
	// UserAgent is the request's User-Agent; it is cut to 256 bytes and
	// cleaned of control characters.
	UserAgent string
}

// EventStream turns change events on for an edit: the script appends the
// change's event to the environment's stream, trimmed to about MaxLen
// entries (XADD MAXLEN ~). Zero MaxLen: no event.
type EventStream struct {
	MaxLen int64
}

// record is what a script needs to record one change, prepared here so
// that the script only joins strings: Lua's string work is most of what a
// script costs Redis (docs/DECISIONS.md, "Scripts join, Go prepares").
type record struct {
	// historyTail is a history entry without its stamp and field codes:
	// "s" (self) or "a" (admin), then the origin's values, joined by
	// profileSeparator ('' when nothing is recorded: Origin nil).
	historyTail string
	// maxLen is the event stream's approximate length, "0" for no event.
	maxLen string
	// eventHead is the change event's JSON object without its changes
	// and closing brace, which the script adds ('' for no event).
	eventHead string
}

// eventOrigin is the part of a change event that the request decides,
// as docs/events.md shows it: the script adds the changes.
type eventOrigin struct {
	Type     string  `json:"type"`
	UserID   string  `json:"user_id"`
	Actor    string  `json:"actor"`
	ClientID string  `json:"client_id"`
	DeviceID *string `json:"device_id"`
	IP       *string `json:"ip"`
	At       string  `json:"at"`
}

// nullable is v as a JSON value: "" (unset) is null.
func nullable(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

// event is o's change event of kind for target, without the members the
// script or the caller adds.
func (o *Origin) event(kind string, now time.Time, actor, target string) eventOrigin {
	return eventOrigin{
		Type: kind, UserID: target, Actor: actor, ClientID: o.ClientID,
		DeviceID: nullable(o.DeviceID), IP: nullable(o.IP),
		At: now.UTC().Format(eventTimeFormat),
	}
}

// revokedKind names the revocation kinds as events show them.
var revokedKind = map[RevocationKind]string{RevokedToken: "token", RevokedUser: "all", RevokedDevice: "device"}

// revocationEvent is the user.tokens_revoked event of r, made at now, as
// JSON (docs/events.md).
func (o *Origin) revocationEvent(r Revoke, now time.Time) (string, error) {
	type revoked struct {
		Kind     string `json:"kind"`
		DeviceID string `json:"device_id,omitempty"`
	}
	event := struct {
		eventOrigin
		Changes struct{} `json:"changes"`
		Revoked revoked  `json:"revoked"`
	}{eventOrigin: o.event("user.tokens_revoked", now, r.Actor, r.UserID), Revoked: revoked{Kind: revokedKind[r.Kind]}}
	if r.Kind == RevokedDevice {
		event.Revoked.DeviceID = r.DeviceID
	}
	b, err := json.Marshal(event)
	return string(b), err
}

// record prepares o's recording of an edit of target by actor at now. A
// nil Origin records nothing.
func (o *Origin) record(events EventStream, now time.Time, actor, target string) (record, error) {
	r := record{maxLen: "0"}
	if o == nil {
		return r, nil
	}
	from := "s"
	if actor != target {
		from = "a"
	}
	values := [...]string{from, o.IP, o.ClientID, o.DeviceID, cleanUserAgent(o.UserAgent)}
	for _, v := range values[1:4] {
		if strings.ContainsAny(v, profileSeparator+historySeparator) {
			return r, errors.New("store: an origin value contains U+001E or U+001F")
		}
	}
	r.historyTail = strings.Join(values[:], profileSeparator)
	if events.MaxLen > 0 {
		head, err := json.Marshal(o.event("user.updated", now, actor, target))
		if err != nil {
			return r, err
		}
		r.maxLen = strconv.FormatInt(events.MaxLen, 10)
		r.eventHead = string(head[:len(head)-1])
	}
	return r, nil
}

// eventTimeFormat is an event's at: RFC 3339 in UTC, to the millisecond.
const eventTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// cleanUserAgent keeps at most maxUserAgentBytes of valid UTF-8 without
// control characters (the separator among them).
func cleanUserAgent(ua string) string {
	ua = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(ua, "\uFFFD"))
	if len(ua) <= maxUserAgentBytes {
		return ua
	}
	cut := maxUserAgentBytes
	for cut > 0 && !utf8.RuneStart(ua[cut]) {
		cut--
	}
	return ua[:cut]
}

// HistoryEntry is one change in a user's history.
type HistoryEntry struct {
	// ID is the change's time in Unix milliseconds, unique per user: a
	// later change of the user has a greater ID (edit.lua's stamp, the
	// profile's updated_at).
	ID int64
	// Fields names what changed (basic/edit's names), never its values.
	Fields    []string
	IP        string
	UserAgent string
	ClientID  string
	DeviceID  string
	// ByAdmin: an admin changed another user's profile; false: the user
	// changed their own.
	ByAdmin   bool
	CreatedAt time.Time
}

// History returns at most limit of user's history entries from the last
// historyTTL, newest first, those with an ID below before (0: from the
// newest), and whether more follow. One GET: a history is one string of
// at most historyKeep entries.
func (s *Store) History(ctx context.Context, user string, before int64, limit int) ([]HistoryEntry, bool, error) {
	if user == "" {
		return nil, false, errEmptyUserID
	}
	if limit < 1 {
		return nil, false, errors.New("store: a history page holds at least one entry")
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	stored, err := s.reads.get(ctx, s.keys.history(user))
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.fail(err)
	}
	entries, err := splitHistory(stored)
	if err != nil {
		return nil, false, fmt.Errorf("store: history of %s: %w", user, err)
	}
	oldest := s.now().Add(-historyTTL)
	var page []HistoryEntry
	for _, raw := range entries {
		e, err := decodeHistoryEntry(raw)
		if err != nil {
			return nil, false, fmt.Errorf("store: history of %s: %w", user, err)
		}
		if e.CreatedAt.Before(oldest) {
			break // newest first: the rest are older still
		}
		if before != 0 && e.ID >= before {
			continue
		}
		if len(page) == limit {
			return page, true, nil
		}
		page = append(page, e)
	}
	return page, false, nil
}

// historySeparator separates a history's count and entries (lib.lua's RS).
const historySeparator = "\x1e"

// splitHistory reads a history as lib.lua's record_change writes it: the
// number of entries, then the entries, oldest first, all separated by
// historySeparator. It returns them newest first.
func splitHistory(stored string) ([]string, error) {
	count, rest, ok := strings.Cut(stored, historySeparator)
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n < 1 {
		return nil, errors.New("corrupt history")
	}
	entries := strings.Split(rest, historySeparator)
	if len(entries) != n {
		return nil, fmt.Errorf("corrupt history: %d entries, counted %d", len(entries), n)
	}
	slices.Reverse(entries)
	return entries, nil
}

// decodeHistoryEntry reads one entry as lib.lua's record_change writes it.
func decodeHistoryEntry(raw string) (HistoryEntry, error) {
	parts := strings.SplitN(raw, profileSeparator, 7)
	if len(parts) != 7 {
		return HistoryEntry{}, errors.New("corrupt entry")
	}
	id, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || id <= 0 || id > 1<<53 {
		return HistoryEntry{}, errors.New("corrupt entry ID")
	}
	if parts[1] == "" || (parts[2] != "s" && parts[2] != "a") {
		return HistoryEntry{}, errors.New("corrupt entry")
	}
	e := HistoryEntry{
		ID:        id,
		IP:        parts[3],
		ClientID:  parts[4],
		DeviceID:  parts[5],
		UserAgent: parts[6],
		ByAdmin:   parts[2] == "a",
		CreatedAt: time.UnixMilli(id),
	}
	for _, code := range strings.Split(parts[1], "") {
		name, ok := fieldName(code)
		if !ok {
			return HistoryEntry{}, fmt.Errorf("unknown field code %q", code)
		}
		e.Fields = append(e.Fields, name)
	}
	return e, nil
}
