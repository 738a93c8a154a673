package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Owner is the user who holds value in a unique field ("username",
// "phone" or "email"), in one lookup of the index: the entry names its
// owner. value is a stored display form (as the profile package
// normalises it); any spelling of the same value finds the same owner.
// ok is false when nobody holds it.
func (s *Store) Owner(ctx context.Context, field, value string) (userID string, ok bool, err error) {
	code, known := fieldCode(field)
	if !known || !isUnique(code) {
		return "", false, fmt.Errorf("store: %q has no index", field)
	}
	if value == "" {
		return "", false, nil
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	key := uniqueKey(code, value)
	cmd := redis.NewStringCmd(ctx, "hget", s.keys.index(code, key), key)
	if err := s.reads.process(ctx, cmd); err != nil {
		if errors.Is(err, redis.Nil) {
			return "", false, nil
		}
		return "", false, s.fail(err)
	}
	return cmd.Val(), true, nil
}
