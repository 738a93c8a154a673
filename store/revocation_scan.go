package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// revocationScanBatch is how many keys one SCAN step and its read take.
const revocationScanBatch = 500

// DeviceDigest names a user's device the way Redis's device cutoff keys
// and RevocationSnapshot do.
func DeviceDigest(userID, deviceID string) string { return deviceDigest(userID, deviceID) }

// RevocationSnapshot reads every revocation Redis holds and hands each to
// fn: RevokedToken with TokenDigest and Until, RevokedUser with UserID and
// Cutoff, RevokedDevice with DeviceDigest and Cutoff (the key names the
// pair only by digest). seq is the log's number read before the scan, and
// epoch its name (RevocationsSince's, "" before the first entry): the
// snapshot holds every revocation up to seq, and maybe some after, so
// applying that log from seq on completes it. Memory: a caller holding
// the snapshot holds one entry per live revocation.
func (s *Store) RevocationSnapshot(ctx context.Context, fn func(Revocation)) (epoch string, seq uint64, err error) {
	// Not bounded by the store's timeout: a scan of many keys takes many
	// round trips. ctx bounds it; each round trip has the timeout.
	scanner, err := s.revocationNode(ctx)
	if err != nil {
		return "", 0, s.fail(err)
	}
	// The log's number and name, read together in one round trip (two
	// GETs: an MGET is what a token's revocation check sends).
	step, cancel := s.deadline(ctx)
	var seqCmd, epochCmd *redis.StringCmd
	_, err = scanner.Pipelined(step, func(p redis.Pipeliner) error {
		seqCmd = p.Get(step, s.keys.revocationSeq())
		epochCmd = p.Get(step, s.keys.revocationEpoch())
		return nil
	})
	cancel()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", 0, s.fail(err)
	}
	if seq, err = optionalUint(nilIfEmpty(seqCmd.Val())); err != nil {
		return "", 0, err
	}
	epoch = epochCmd.Val()
	var cursor uint64
	for {
		step, cancel := s.deadline(ctx)
		keys, next, err := scanner.Scan(step, cursor, s.keys.revocationPattern(), revocationScanBatch).Result()
		if err == nil && len(keys) > 0 {
			err = s.readRevocationKeys(step, scanner, keys, fn)
		}
		cancel()
		if err != nil {
			return "", 0, s.fail(err)
		}
		if cursor = next; cursor == 0 {
			return epoch, seq, nil
		}
	}
}

// readRevocationKeys reads the values and lifetimes of keys in one
// pipeline and hands each live one to fn.
func (s *Store) readRevocationKeys(ctx context.Context, c *redis.Client, keys []string, fn func(Revocation)) error {
	gets := make([]*redis.StringCmd, len(keys))
	ttls := make([]*redis.DurationCmd, len(keys))
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			gets[i] = p.Get(ctx, k)
			ttls[i] = p.PTTL(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	now := s.now()
	for i, k := range keys {
		value, err := gets[i].Result()
		if errors.Is(err, redis.Nil) {
			continue // gone since the scan saw it
		}
		if err != nil {
			// The pipeline's error is its first command's: a key gone
			// before this one hid it. A snapshot without this key would
			// be trusted as whole.
			return err
		}
		kind, id, _ := strings.Cut(strings.TrimPrefix(k, s.keys.base), ":")
		switch kind {
		case "rt":
			ttl := ttls[i].Val()
			if ttl <= 0 {
				ttl = RevocationHorizon // no expiry (set by hand): keep it long
			}
			fn(Revocation{Kind: RevokedToken, TokenDigest: id, Until: now.Add(ttl)})
		case "ru", "rd":
			cutoff, err := optionalCutoff(value)
			if err != nil || cutoff.IsZero() {
				continue
			}
			r := Revocation{Kind: RevokedUser, UserID: id, Cutoff: cutoff}
			if kind == "rd" {
				r = Revocation{Kind: RevokedDevice, DeviceDigest: id, Cutoff: cutoff}
			}
			fn(r)
		}
	}
	return nil
}

// revocationNode is the client that holds the environment's keys: the
// one node, or in a cluster the master serving the environment's slot.
func (s *Store) revocationNode(ctx context.Context) (*redis.Client, error) {
	switch c := s.client.(type) {
	case *redis.Client:
		return c, nil
	case *redis.ClusterClient:
		step, cancel := s.deadline(ctx)
		defer cancel()
		return c.MasterForKey(step, s.keys.revocationSeq())
	}
	return nil, errors.New("store: unknown Redis client")
}

func nilIfEmpty(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// untilField and parseUntil carry a revoked token's end in its log entry
// (Unix milliseconds), so a reader keeping a snapshot can drop it then.
func untilField(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func parseUntil(s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, errBadReply
	}
	return time.UnixMilli(n), nil
}
