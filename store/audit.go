package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"
)

// auditBatch is how many reads one pipelined round trip of Audit carries.
const auditBatch = 256

// Audit walks the environment's profiles, unique indexes, histories and
// change events (auditRecords says what it checks of the last two) and checks
// both directions with owners: every index entry names a user whose
// profile holds that value (and sits in its value's bucket), and every
// profile value has an index entry naming that profile's user. It
// describes every inconsistency: an entry no profile holds, an entry that
// names another user than the one holding the value, an entry in the
// wrong bucket, a value held by two profiles, and a profile value with no
// index entry. An empty answer means nothing is orphaned. It reads
// everything, a batch per round trip, so it is for tests and operators,
// not for request paths; ctx bounds it as a whole. Values in the
// descriptions are masked.
func (s *Store) Audit(ctx context.Context) ([]string, error) {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	unique := []string{fieldUsername, fieldPhone, fieldEmail}

	// held[field][key] is the user whose profile holds the value.
	held := map[string]map[string]string{fieldUsername: {}, fieldPhone: {}, fieldEmail: {}}
	err := s.scanProfiles(ctx, func(users []string) error {
		pipe := s.client.Pipeline()
		cmds := make([]*redis.StringCmd, len(users))
		for i, u := range users {
			cmds[i] = pipe.Get(ctx, s.keys.profile(u))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		for i, u := range users {
			stored, err := cmds[i].Result()
			if errors.Is(err, redis.Nil) {
				continue // deleted since the scan saw it
			}
			if _, err := decodeProfile(u, stored); err != nil {
				report("profile of %s: %v", u, err)
			}
			values := splitProfile(stored)
			for _, field := range unique {
				if values.of(field) == "" {
					continue
				}
				key := uniqueKey(field, values.of(field))
				if other, ok := held[field][key]; ok {
					// SCAN may return a key twice (a table resized
					// during the walk): the same profile again.
					if other != u {
						report("%s %s is held by the profiles of both %s and %s", fieldLabel(field), mask(key), other, u)
					}
					continue
				}
				held[field][key] = u
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(err)
	}

	// indexed[field][key]: the index has an entry for the value (in its
	// bucket).
	indexed := map[string]map[string]bool{fieldUsername: {}, fieldPhone: {}, fieldEmail: {}}
	for _, field := range unique {
		for first := uint32(0); first < indexBuckets; first += auditBatch {
			pipe := s.client.Pipeline()
			cmds := make([]*redis.MapStringStringCmd, auditBatch)
			for i := range cmds {
				cmds[i] = pipe.HGetAll(ctx, s.keys.indexBucket(field, first+uint32(i)))
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return nil, s.fail(err)
			}
			for i, cmd := range cmds {
				for key, owner := range cmd.Val() {
					if bucketOf(key) != first+uint32(i) {
						report("%s index entry %s is in the wrong bucket", fieldLabel(field), mask(key))
						continue
					}
					indexed[field][key] = true
					holder, ok := held[field][key]
					switch {
					case !ok:
						report("%s index entry %s names %s: no profile holds it", fieldLabel(field), mask(key), ownerLabel(owner))
					case holder != owner:
						report("%s index entry %s names %s, but the profile of %s holds it", fieldLabel(field), mask(key), ownerLabel(owner), holder)
					}
				}
			}
		}
	}
	for field, values := range held {
		for key, user := range values {
			if !indexed[field][key] {
				report("%s %s of %s has no index entry", fieldLabel(field), mask(key), user)
			}
		}
	}
	if err := s.auditRecords(ctx, report); err != nil {
		return nil, s.fail(err)
	}
	sort.Strings(problems)
	return problems, nil
}

// scanProfiles calls fn with the user IDs of the environment's profiles, a
// batch at a time. In a cluster only the master serving the environment's
// slot has any.
func (s *Store) scanProfiles(ctx context.Context, fn func(users []string) error) error {
	return s.scanKeys(ctx, s.keys.profilePattern(), s.keys.profileUser, fn)
}

// scanKeys calls fn with the keys matching pattern, each passed through
// name, a batch at a time.
func (s *Store) scanKeys(ctx context.Context, pattern string, name func(key string) string, fn func(names []string) error) error {
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, pattern, auditBatch).Iterator()
		batch := make([]string, 0, auditBatch)
		for iter.Next(ctx) {
			batch = append(batch, name(iter.Val()))
			if len(batch) == auditBatch {
				if err := fn(batch); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		if len(batch) > 0 {
			return fn(batch)
		}
		return nil
	}
	switch c := s.client.(type) {
	case *redis.Client:
		return scan(ctx, c)
	case *redis.ClusterClient:
		// fn is not safe for concurrent use, and only one master has keys.
		var (
			mu      sync.Mutex
			masters []*redis.Client
		)
		err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			masters = append(masters, m)
			return nil
		})
		if err != nil {
			return err
		}
		for _, m := range masters {
			if err := scan(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("store: cannot scan a %T", s.client)
}

// ownerLabel quotes an entry's owner, so that an empty one shows.
func ownerLabel(owner string) string { return strconv.Quote(owner) }

func fieldLabel(code string) string {
	name, _ := fieldName(code)
	return name
}

// mask keeps the first two bytes of a value: enough to tell entries apart
// in a report, not enough to give a contact away.
func mask(s string) string {
	if len(s) <= 2 {
		return "***"
	}
	return s[:2] + "***"
}
