package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// MaxQueryIDs bounds ProfilesByID: one MGET of that many keys stays a
// small, quick command.
const MaxQueryIDs = 100

// Exists reports whether anyone holds value in a unique field
// ("username", "phone" or "email"), counting the lookup against clientIP
// as LookupOwner does.
func (s *Store) Exists(ctx context.Context, clientIP, field, value string, limit Limit) (bool, error) {
	_, held, err := s.LookupOwner(ctx, clientIP, field, value, limit)
	return held, err
}

// LookupOwner is Owner counted against clientIP: past limit in its
// window, *RateLimitedError. A zero limit or an empty clientIP counts
// nothing. One round trip (scripts/lookup.lua). value is a stored display
// form; any spelling of the same value matches, as the index matches.
func (s *Store) LookupOwner(ctx context.Context, clientIP, field, value string, limit Limit) (owner string, held bool, err error) {
	code, err := indexedField(field)
	if err != nil {
		return "", false, err
	}
	if limit.Count < 0 || (limit.Count > 0 && limit.Window < time.Millisecond) {
		return "", false, errors.New("store: a lookup limit needs a window of a millisecond or more")
	}
	counter, count := s.keys.unused(), 0
	if clientIP != "" && limit.Count > 0 {
		counter, count = s.keys.lookups(clientIP), limit.Count
	}
	// An empty value is held by nobody, but the lookup still counts: the
	// limit is on asking.
	key := ""
	if value != "" {
		key = uniqueKey(code, value)
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	v, err := s.run(ctx, scriptLookup, []string{counter, s.keys.index(code, key)}, key, count, limit.Window.Milliseconds())
	if err != nil {
		return "", false, s.fail(err)
	}
	r, err := parseReply(v)
	if err != nil {
		return "", false, err
	}
	switch r.status {
	case "ok":
		owner, err := r.str(0)
		if err != nil || key == "" || owner == "" {
			return "", false, err
		}
		return owner, true, nil
	case "rate_limited":
		return "", false, r.rateLimited()
	}
	return "", false, r.unexpected()
}

// ProfileByValue is the profile of whoever holds value in a unique field
// ("username", "phone" or "email"), in one round trip
// (scripts/query.lua): the index entry names its owner, and the script
// reads that owner's profile. ok is false when nobody holds it (or, which
// Audit would report, the holder has no profile). value is a stored
// display form; any spelling of the same value matches, as the index
// matches.
func (s *Store) ProfileByValue(ctx context.Context, field, value string) (p Profile, ok bool, err error) {
	code, err := indexedField(field)
	if err != nil || value == "" {
		return Profile{}, false, err
	}
	key := uniqueKey(code, value)
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	v, err := s.run(ctx, scriptQuery, []string{s.keys.index(code, key)}, key, s.keys.profilePrefix())
	if err != nil {
		return Profile{}, false, s.fail(err)
	}
	r, err := parseReply(v)
	if err != nil {
		return Profile{}, false, err
	}
	if r.status != "ok" {
		return Profile{}, false, r.unexpected()
	}
	if len(r.args) == 0 {
		return Profile{}, false, nil
	}
	owner, err := r.str(0)
	if err != nil {
		return Profile{}, false, err
	}
	stored, err := r.str(1)
	if err != nil || stored == "" {
		return Profile{}, false, err
	}
	p, err = decodeProfile(owner, stored)
	return p, err == nil, err
}

// ProfilesByID reads up to MaxQueryIDs profiles in one MGET, in the order
// of ids; users without a profile are left out. An ID given twice is read
// once. Like ProfileMayLag it reads a replica when the store reads from
// replicas (Options.ReadFromReplicas): user/query only shows profiles.
func (s *Store) ProfilesByID(ctx context.Context, ids []string) ([]Profile, error) {
	if len(ids) > MaxQueryIDs {
		return nil, fmt.Errorf("store: at most %d IDs at once", MaxQueryIDs)
	}
	seen := make(map[string]bool, len(ids))
	unique := make([]string, 0, len(ids))
	for _, id := range ids {
		if id == "" {
			return nil, errEmptyUserID
		}
		if !seen[id] {
			seen[id] = true
			unique = append(unique, id)
		}
	}
	if len(unique) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 1+len(unique))
	args = append(args, "mget")
	for _, id := range unique {
		args = append(args, s.keys.profile(id))
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	cmd := redis.NewSliceCmd(ctx, args...)
	var err error
	if !s.replicaFirst() {
		err = s.reads.process(ctx, cmd)
	} else if err = s.lagging.processWithin(ctx, s.readTimeout/2, cmd); s.replicaFailed(ctx, err) {
		// A new command: the replica's batcher may still hold the first.
		cmd = redis.NewSliceCmd(ctx, args...)
		err = s.reads.process(ctx, cmd)
	}
	if err != nil {
		return nil, s.fail(err)
	}
	values := cmd.Val()
	if len(values) != len(unique) {
		return nil, errBadReply
	}
	out := make([]Profile, 0, len(unique))
	for i, v := range values {
		stored, ok := v.(string)
		if !ok {
			continue // nil: no profile
		}
		p, err := decodeProfile(unique[i], stored)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// indexedField is the code of a unique field's API name.
func indexedField(field string) (string, error) {
	code, known := fieldCode(field)
	if !known || !isUnique(code) {
		return "", fmt.Errorf("store: %q has no index", field)
	}
	return code, nil
}
