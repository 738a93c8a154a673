package store

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// issueSudo runs issue_sudo.lua (keys as IssueSudo builds them: the
// verification token, the profile, the sudo token). The script compares the
// token's contact key with the key of the user's bound phone or email,
// which Go computes (the scripts never compute a key) from the profile as
// read here; if the bound contacts moved since, the script answers stale
// with the profile as it is, and runs again from that.
func (s *Store) issueSudo(ctx context.Context, keys []string, userID string, ttl time.Duration, sensitive FieldSet) error {
	stored, err := s.reads.get(ctx, keys[1])
	if errors.Is(err, redis.Nil) {
		stored, err = "", nil
	}
	if err != nil {
		return s.fail(err)
	}
	for {
		v := splitProfile(stored)
		phone, email := v.of(fieldPhone), v.of(fieldEmail)
		res, err := s.run(ctx, scriptIssueSudo, keys, userID, ttl.Milliseconds(),
			phone, keyOrEmpty(fieldPhone, phone), email, keyOrEmpty(fieldEmail, email), sensitive.codes)
		if err != nil {
			return s.fail(err)
		}
		r, err := parseReply(res)
		if err != nil {
			return err
		}
		switch r.status {
		case "ok":
			return nil
		case "invalid":
			return ErrInvalidVerificationToken
		case "stale":
			if stored, err = r.str(0); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return &unavailableError{cause: errContention}
			}
			continue
		}
		return r.unexpected()
	}
}

// keyOrEmpty is the uniqueness key of a stored value, "" for none.
func keyOrEmpty(field, display string) string {
	if display == "" {
		return ""
	}
	return uniqueKey(field, display)
}
