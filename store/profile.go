package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Profile reads a profile; ok is false if the user has none.
func (s *Store) Profile(ctx context.Context, userID string) (p Profile, ok bool, err error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	fields, err := s.client.HGetAll(ctx, s.keys.profile(userID)).Result()
	if err != nil {
		return Profile{}, false, s.fail(err)
	}
	if len(fields) == 0 {
		return Profile{}, false, nil
	}
	p, err = decodeProfile(userID, fields)
	return p, err == nil, err
}

// EnsureProfile returns the profile, creating an empty one (created_at =
// updated_at = now) if the user has none. One round trip when it exists.
func (s *Store) EnsureProfile(ctx context.Context, userID string) (Profile, error) {
	if userID == "" {
		return Profile{}, errors.New("store: empty user ID")
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	key := s.keys.profile(userID)
	fields, err := s.client.HGetAll(ctx, key).Result()
	if err != nil {
		return Profile{}, s.fail(err)
	}
	if len(fields) > 0 {
		return decodeProfile(userID, fields)
	}
	// The script creates only if the profile is still missing, so two
	// first calls racing here agree on one created_at.
	v, err := s.run(ctx, scriptEnsureProfile, []string{key}, s.now().UnixMilli())
	if err != nil {
		return Profile{}, s.fail(err)
	}
	fields, err = flatMap(v)
	if err != nil {
		return Profile{}, err
	}
	return decodeProfile(userID, fields)
}

// flatMap reads HGETALL's field/value list as a script returns it.
func flatMap(v any) (map[string]string, error) {
	list, ok := v.([]any)
	if !ok || len(list)%2 != 0 {
		return nil, errBadReply
	}
	m := make(map[string]string, len(list)/2)
	for i := 0; i < len(list); i += 2 {
		k, ok1 := list[i].(string)
		val, ok2 := list[i+1].(string)
		if !ok1 || !ok2 {
			return nil, errBadReply
		}
		m[k] = val
	}
	return m, nil
}

// errCorruptProfile: a profile hash holds something no script writes.
var errCorruptProfile = errors.New("store: corrupt profile")

// decodeProfile reads a profile hash. Fields it does not know are ignored,
// so a newer version may add some.
func decodeProfile(userID string, fields map[string]string) (Profile, error) {
	p := Profile{
		UserID:      userID,
		Nickname:    fields[fieldNickname],
		Username:    fields[fieldUsername],
		Phone:       fields[fieldPhone],
		Email:       fields[fieldEmail],
		AvatarURL:   fields[fieldAvatarURL],
		Gender:      fields[fieldGender],
		Description: fields[fieldDescription],
	}
	var err error
	if p.CreatedAt, err = decodeMillis(fields, fieldCreated); err != nil {
		return Profile{}, err
	}
	if p.UpdatedAt, err = decodeMillis(fields, fieldUpdated); err != nil {
		return Profile{}, err
	}
	return p, nil
}

func decodeMillis(fields map[string]string, field string) (time.Time, error) {
	s, ok := fields[field]
	if !ok {
		return time.Time{}, fmt.Errorf("%w: no %q", errCorruptProfile, field)
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms < 0 {
		return time.Time{}, fmt.Errorf("%w: %q is not a time", errCorruptProfile, field)
	}
	return time.UnixMilli(ms), nil
}
