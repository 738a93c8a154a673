package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Profile reads a profile; ok is false if the user has none.
func (s *Store) Profile(ctx context.Context, userID string) (p Profile, ok bool, err error) {
	return s.readProfile(ctx, false, userID)
}

// ProfileMayLag is Profile read from a replica when the store reads from
// replicas (Options.ReadFromReplicas): it may be as old as the replica's
// lag, so it serves what is shown (headers, placeholders, user/query),
// never a check before a write.
func (s *Store) ProfileMayLag(ctx context.Context, userID string) (p Profile, ok bool, err error) {
	return s.readProfile(ctx, true, userID)
}

// readProfile reads userID's profile from the master, or if mayLag as
// getMayLag does.
func (s *Store) readProfile(ctx context.Context, mayLag bool, userID string) (p Profile, ok bool, err error) {
	if userID == "" {
		return Profile{}, false, errEmptyUserID
	}
	var stored string
	if mayLag {
		stored, err = s.getMayLag(ctx, s.keys.profile(userID))
	} else {
		stored, err = s.reads.getWithin(ctx, s.readTimeout, s.keys.profile(userID))
	}
	if errors.Is(err, redis.Nil) {
		return Profile{}, false, nil
	}
	if err != nil {
		return Profile{}, false, s.fail(err)
	}
	p, err = decodeProfile(userID, stored)
	return p, err == nil, err
}

// EnsureProfile returns the profile, creating an empty one (created_at =
// updated_at = now) if the user has none. One round trip when it exists.
// It is what GET user/me shows: with Options.ReadFromReplicas the profile
// is read from a replica and may lag; a profile the replica lacks (new, or
// not there yet) is created or read by the script, on the master. Creating
// one is a write: with Options.WaitReplicas it waits for the replicas.
func (s *Store) EnsureProfile(ctx context.Context, userID string) (Profile, error) {
	if userID == "" {
		return Profile{}, errEmptyUserID
	}
	// The read that finds the profile, nearly every call, is bounded
	// without deriving a context (batcher.getWithin); the rest share one
	// deadline from here.
	deadline := time.Now().Add(s.timeout)
	key := s.keys.profile(userID)
	stored, err := s.getMayLag(ctx, key)
	if err == nil {
		return decodeProfile(userID, stored)
	}
	if !errors.Is(err, redis.Nil) {
		return Profile{}, s.fail(err)
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if s.lagging != s.reads && s.reads != s.batch {
		// A replica lacked it, and the script would wait for replicas
		// (Options.WaitReplicas) even when it only reads: the profile
		// the replica has not received yet is read on the master
		// without waiting, and only a missing one waits for its
		// creation to be confirmed.
		stored, err = s.reads.get(ctx, key)
		if err == nil {
			return decodeProfile(userID, stored)
		}
		if !errors.Is(err, redis.Nil) {
			return Profile{}, s.fail(err)
		}
	}
	// The script creates only if the profile is still missing, so two
	// first calls racing here agree on one created_at.
	v, err := s.run(ctx, scriptEnsureProfile, []string{key}, s.now().UnixMilli())
	if err != nil {
		return Profile{}, s.fail(err)
	}
	stored, ok := v.(string)
	if !ok {
		return Profile{}, errBadReply
	}
	return decodeProfile(userID, stored)
}

// replicaRetry is how long the reads that may lag go to the master after a
// replica failed to answer one.
const replicaRetry = time.Second

// getMayLag is GET key for a read that is only shown: from a replica with
// Options.ReadFromReplicas, else from the master. A replica that does not
// answer within half the read's time (stalled, cut off, loading), which
// the Sentinels or the Cluster go on listing until they give up on it (30
// s with Sentinel's default down-after), does not fail the read while the
// master serves: the read is made on the master with the time left
// (replicaFailed).
func (s *Store) getMayLag(ctx context.Context, key string) (string, error) {
	if !s.replicaFirst() {
		return s.reads.getWithin(ctx, s.readTimeout, key)
	}
	start := time.Now()
	stored, err := s.lagging.getWithin(ctx, s.readTimeout/2, key)
	if !s.replicaFailed(ctx, err) {
		return stored, err
	}
	left := s.readTimeout - time.Since(start)
	if left <= 0 {
		return "", err
	}
	return s.reads.getWithin(ctx, left, key)
}

// replicaFirst reports whether a read that may lag goes to a replica: the
// store reads from replicas, and none failed to answer one within the
// last replicaRetry.
func (s *Store) replicaFirst() bool {
	return s.lagging != s.reads && time.Now().UnixNano() >= s.replicaSkipUntil.Load()
}

// replicaFailed reports whether err, a replica's answer to a read that
// may lag, leaves the read to the master: the replica did not answer while
// the caller still waits. The reads of the next replicaRetry then go to
// the master, after which a replica is tried again, and the topology is
// asked anew.
func (s *Store) replicaFailed(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || !unreachable(err) {
		return false
	}
	s.replicaSkipUntil.Store(time.Now().Add(replicaRetry).UnixNano())
	s.reloadTopology()
	return true
}

// unique is p's value of a unique field, by code.
func (p *Profile) unique(field string) string {
	switch field {
	case fieldUsername:
		return p.Username
	case fieldPhone:
		return p.Phone
	case fieldEmail:
		return p.Email
	}
	return ""
}

// errEmptyUserID: "" would name the key of no user ("p:"), not a user.
var errEmptyUserID = errors.New("store: empty user ID")

// errCorruptProfile: a profile holds something no script writes.
var errCorruptProfile = errors.New("store: corrupt profile")

// decodeProfile reads a stored profile (keys.go's profileLayout). Values
// past the layout, from a newer version, are ignored.
func decodeProfile(userID, stored string) (Profile, error) {
	v := splitProfile(stored)
	p := Profile{
		UserID:      userID,
		Nickname:    v.of(fieldNickname),
		Username:    v.of(fieldUsername),
		Phone:       v.of(fieldPhone),
		Email:       v.of(fieldEmail),
		AvatarURL:   v.of(fieldAvatarURL),
		Gender:      v.of(fieldGender),
		Description: v.of(fieldDescription),
		Birthdate:   v.of(fieldBirthdate),
		Zoneinfo:    v.of(fieldZoneinfo),
		Locale:      v.of(fieldLocale),
	}
	var err error
	if p.CreatedAt, err = decodeMillis(v.of(fieldCreated), "created_at"); err != nil {
		return Profile{}, err
	}
	if p.UpdatedAt, err = decodeMillis(v.of(fieldUpdated), "updated_at"); err != nil {
		return Profile{}, err
	}
	return p, nil
}

// profileValues are a stored profile's values in profileLayout's order;
// absent ones are "". An array, not a map: Profile and EnsureProfile
// split one on every call.
type profileValues [len(profileLayout)]string

// of is field's value.
func (v *profileValues) of(field string) string {
	for i, f := range profileLayout {
		if f == field {
			return v[i]
		}
	}
	return ""
}

// splitProfile splits a stored profile into its values.
func splitProfile(stored string) profileValues {
	var v profileValues
	for i := range v {
		value, rest, ok := strings.Cut(stored, profileSeparator)
		v[i], stored = value, rest
		if !ok {
			break
		}
	}
	return v
}

func decodeMillis(s, what string) (time.Time, error) {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms < 0 {
		return time.Time{}, fmt.Errorf("%w: %s is not a time", errCorruptProfile, what)
	}
	return time.UnixMilli(ms), nil
}
