package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// auditEvent is what auditRecords reads of a change event.
type auditEvent struct {
	Type    string `json:"type"`
	UserID  string `json:"user_id"`
	Changes map[string]struct {
		Old *string `json:"old"`
		New *string `json:"new"`
	} `json:"changes"`
}

// auditRecords checks that histories and change events name only changes
// that happened, as far as what is stored allows:
//   - each user.updated event of a user takes every field from the value the previous event of that
//     user left it at (old is the previous new), and the last event of
//     each field leaves the value the profile holds;
//   - each history belongs to a user with a profile, holds at most
//     historyKeep well-formed entries, newest first, expires, and, where
//     the stream still holds that user's events, names the same fields as
//     those events, change by change.
//
// The stream is trimmed oldest first, so a user's newest events are there
// whenever any of theirs is.
func (s *Store) auditRecords(ctx context.Context, report func(format string, args ...any)) error {
	// fieldsByUser[user]: the field names of each of the user's
	// user.updated events, oldest first; last[user][field]: the value the
	// last of them left.
	fieldsByUser := map[string][]string{}
	last := map[string]map[string]*string{}
	start := "-"
	for {
		entries, err := s.client.XRangeN(ctx, s.keys.events(), start, "+", 1000).Result()
		if err != nil {
			return err
		}
		for _, entry := range entries {
			raw, _ := entry.Values["event"].(string)
			var ev auditEvent
			if len(entry.Values) != 1 || json.Unmarshal([]byte(raw), &ev) != nil {
				report("event %s is not one field event holding JSON", entry.ID)
				continue
			}
			if ev.UserID == "" {
				report("event %s names no user", entry.ID)
				continue
			}
			if ev.Type != "user.updated" {
				continue
			}
			if len(ev.Changes) == 0 {
				report("event %s of %s changes nothing", entry.ID, ev.UserID)
			}
			if last[ev.UserID] == nil {
				last[ev.UserID] = map[string]*string{}
			}
			names := make([]string, 0, len(ev.Changes))
			for field, change := range ev.Changes {
				names = append(names, field)
				if prev, seen := last[ev.UserID][field]; seen && !sameValue(prev, change.Old) {
					report("event %s of %s: %s was %s, but the previous event left %s", entry.ID, ev.UserID, field, maskValue(change.Old), maskValue(prev))
				}
				last[ev.UserID][field] = change.New
			}
			slices.Sort(names)
			fieldsByUser[ev.UserID] = append(fieldsByUser[ev.UserID], strings.Join(names, ","))
		}
		if len(entries) < 1000 {
			break
		}
		start = "(" + entries[len(entries)-1].ID
	}
	for user, fields := range last {
		stored, err := s.client.Get(ctx, s.keys.profile(user)).Result()
		if errors.Is(err, redis.Nil) {
			report("events name changes of %s, who has no profile", user)
			continue
		}
		if err != nil {
			return err
		}
		values := splitProfile(stored)
		for field, value := range fields {
			code, ok := fieldCode(field)
			if !ok {
				report("events of %s name an unknown field %q", user, field)
				continue
			}
			if held := values.of(code); !sameValue(value, &held) {
				report("the last event of %s left %s %s, but the profile holds %s", user, field, maskValue(value), maskValue(&held))
			}
		}
	}

	return s.scanKeys(ctx, s.keys.historyPattern(), func(key string) string {
		return strings.TrimPrefix(key, s.keys.history(""))
	}, func(users []string) error {
		pipe := s.client.Pipeline()
		lists := make([]*redis.StringCmd, len(users))
		ttls := make([]*redis.DurationCmd, len(users))
		exists := make([]*redis.IntCmd, len(users))
		for i, u := range users {
			lists[i] = pipe.Get(ctx, s.keys.history(u))
			ttls[i] = pipe.PTTL(ctx, s.keys.history(u))
			exists[i] = pipe.Exists(ctx, s.keys.profile(u))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		for i, u := range users {
			stored, err := lists[i].Result()
			if errors.Is(err, redis.Nil) {
				continue // deleted since the scan saw it
			}
			raw, err := splitHistory(stored)
			if err != nil {
				report("history of %s: %v", u, err)
				continue
			}
			s.auditHistory(u, raw, ttls[i].Val() > 0, exists[i].Val() == 1, fieldsByUser[u], report)
		}
		return nil
	})
}

// auditHistory checks one user's history (raw, newest first) against
// events, the field names of the user's events still in the stream,
// oldest first.
func (s *Store) auditHistory(user string, raw []string, expires, hasProfile bool, events []string, report func(format string, args ...any)) {
	if !hasProfile {
		report("history of %s: %s has no profile", user, user)
	}
	if !expires {
		report("history of %s never expires", user)
	}
	if len(raw) > historyKeep {
		report("history of %s holds %d entries, more than %d", user, len(raw), historyKeep)
	}
	var newer int64
	for i, r := range raw {
		e, err := decodeHistoryEntry(r)
		if err != nil {
			report("history of %s: entry %d: %v", user, i, err)
			continue
		}
		if i > 0 && e.ID >= newer {
			report("history of %s: entry %d is not older than the one before it", user, e.ID)
		}
		newer = e.ID
		// The i-th newest entry is the i-th newest event, while the
		// stream still holds that many of the user's events.
		if len(events) > 0 && i < len(events) {
			names := slices.Clone(e.Fields)
			slices.Sort(names)
			if got, want := strings.Join(names, ","), events[len(events)-1-i]; got != want {
				report("history of %s: entry %d names %s, but the matching event changed %s", user, e.ID, got, want)
			}
		}
	}
}

func sameValue(a, b *string) bool {
	av, bv := "", ""
	if a != nil {
		av = *a
	}
	if b != nil {
		bv = *b
	}
	return av == bv
}

func maskValue(v *string) string {
	if v == nil || *v == "" {
		return "unset"
	}
	return mask(*v)
}
