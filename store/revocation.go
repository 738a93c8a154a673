package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Revocations are written by one script (scripts/revoke.lua) that sets
// what is revoked and appends an entry to a log in the same step, so an
// instance that reads the log never misses a revocation that Redis holds.
// docs/revocation.md tells the whole design.

// RevocationHorizon is how long a user's or a device's cutoff is kept: it
// must outlive every token issued before it, and authedge does not know
// the issuer's token lifetime. 30 days is far beyond any access token's
// (CloudBase's live 2 hours); a token living longer than that after a
// revoke/all would become usable again.
const RevocationHorizon = 30 * 24 * time.Hour

// revocationLogLength is about how many entries the log keeps. An
// instance that falls further behind (down longer than the log covers)
// forgets every token it had checked instead of reading what it missed.
const revocationLogLength = 10000

// RevocationKind says what one revocation revoked.
type RevocationKind byte

// The revocation kinds, as the log names them.
const (
	RevokedToken  RevocationKind = 't'
	RevokedUser   RevocationKind = 'u'
	RevokedDevice RevocationKind = 'd'
)

// Revocation is one entry of the revocation log.
type Revocation struct {
	// Seq numbers the entries: 1, 2, 3, ... with no gap.
	Seq  uint64
	Kind RevocationKind
	// TokenDigest is the revoked token's TokenDigest, and Until when it
	// ends (RevokedToken).
	TokenDigest string
	Until       time.Time
	// UserID and, for RevokedDevice, DeviceID name whose tokens issued up
	// to Cutoff are revoked.
	UserID   string
	DeviceID string
	Cutoff   time.Time
	// DeviceDigest is DeviceDigest(UserID, DeviceID): all that
	// RevocationSnapshot knows of a device (UserID and DeviceID are then
	// empty).
	DeviceDigest string
	// Nonce is random text the entry was written with ("" in entries
	// written before nonces): it tells the entry from another that Redis
	// numbered the same after losing this one (RevocationsSince).
	Nonce string
}

// RevocationState is what Redis holds against one token.
type RevocationState struct {
	// TokenRevoked: the token itself was revoked.
	TokenRevoked bool
	// UserCutoff and DeviceCutoff are zero, or the time up to which the
	// user's (the device's) tokens are revoked, whole seconds.
	UserCutoff   time.Time
	DeviceCutoff time.Time
	// Seq is the revocation sequence when the state was read: the state
	// reflects every log entry up to it.
	Seq uint64
}

// TokenDigest is the hex SHA-256 of an access token's signed content
// (TokenContent): how a revoked token is stored and logged. The signature
// is left out because it is not unique: an ECDSA signature (r, s) has a
// twin (r, n-s) that verifies as well, so a digest of the whole text would
// let a revoked ES256 token back in with its twin (docs/revocation.md).
func TokenDigest(raw string) string { return digest(TokenContent(raw)) }

// TokenContent is the part of a compact JWS its signature covers,
// "header.payload": raw up to its last '.' (all of raw without one). Any
// valid signature over the same content makes the same token.
func TokenContent(raw string) string {
	if i := strings.LastIndexByte(raw, '.'); i >= 0 {
		return raw[:i]
	}
	return raw
}

// RevokeToken revokes the token with the given TokenDigest until until
// (its exp plus the verifier's leeway: after that no verifier accepts it
// anyway). A token already past until needs nothing; seq is then 0.
func (s *Store) RevokeToken(ctx context.Context, tokenDigest string, until time.Time) (seq uint64, err error) {
	return s.Revoke(ctx, Revoke{Kind: RevokedToken, TokenDigest: tokenDigest, Until: until})
}

// RevokeUser revokes every token of userID issued at or before cutoff
// (whole seconds; a token without iat counts as issued before).
func (s *Store) RevokeUser(ctx context.Context, userID string, cutoff time.Time) (seq uint64, err error) {
	return s.Revoke(ctx, Revoke{Kind: RevokedUser, UserID: userID, Cutoff: cutoff})
}

// RevokeDevice revokes every token of userID bound to deviceID and issued
// at or before cutoff.
func (s *Store) RevokeDevice(ctx context.Context, userID, deviceID string, cutoff time.Time) (seq uint64, err error) {
	return s.Revoke(ctx, Revoke{Kind: RevokedDevice, UserID: userID, DeviceID: deviceID, Cutoff: cutoff})
}

// Revoke is one revocation, and who made it.
type Revoke struct {
	Kind RevocationKind
	// TokenDigest and Until: the token revoked (RevokedToken), as
	// RevokeToken takes them.
	TokenDigest string
	Until       time.Time
	// UserID is whose tokens are revoked: the token's subject for
	// RevokedToken (needed only for its event).
	UserID string
	// DeviceID and Cutoff: as RevokeUser and RevokeDevice take them.
	DeviceID string
	Cutoff   time.Time
	// Actor is the caller's sub: the user, an admin, or for a token
	// revoked by its holder, the token's subject.
	Actor string
	// Origin and Events, as an Edit's: with both, a revocation that
	// revokes something new appends one user.tokens_revoked event in the
	// same script (docs/events.md). A repeat appends none.
	Origin *Origin
	Events EventStream
	// Limited counts the revocation against Actor's DeviceRevocationsPerDay
	// (*RateLimitedError past it, nothing revoked). Device IDs are the
	// caller's to choose and each revocation is a key kept
	// RevocationHorizon, a log entry every instance reads and an entry in
	// every instance's replica, so a caller looping over made-up devices
	// must be stopped. Every limited request that reaches the script
	// counts, one that revokes nothing new included.
	Limited bool
}

// DeviceRevocationsPerDay bounds one caller's device revocations
// (Revoke.Limited) in a fixed window of a day: over the RevocationHorizon
// a caller holds at most 30 times as many device cutoffs, which a replica
// of DefaultReplicaSize holds for thousands of such callers.
const DeviceRevocationsPerDay = 30

// Revoke records one revocation (what RevokeToken, RevokeUser and
// RevokeDevice do) and, with events on, its event. seq is the log entry's
// sequence number; the current one when nothing more was revoked; 0 for
// a token already past its Until.
func (s *Store) Revoke(ctx context.Context, r Revoke) (seq uint64, err error) {
	if r.Events.MaxLen < 0 || (r.Events.MaxLen > 0 && (r.Origin == nil || r.UserID == "")) {
		return 0, errors.New("store: revocation events need an origin, a user and a stream length of at least 1")
	}
	var key, value, a, b, until string
	var ttl time.Duration
	switch r.Kind {
	case RevokedToken:
		if len(r.TokenDigest) != 64 {
			return 0, errors.New("store: a token digest is 64 hex digits")
		}
		ttl = r.Until.Sub(s.now())
		if ttl <= 0 {
			return 0, nil
		}
		key, value, a, until = s.keys.revokedToken(r.TokenDigest), "1", r.TokenDigest, untilField(r.Until)
	case RevokedUser:
		if r.UserID == "" {
			return 0, errEmptyUserID
		}
		key, value, ttl, a = s.keys.revokedUser(r.UserID), unixSeconds(r.Cutoff), RevocationHorizon, r.UserID
	case RevokedDevice:
		if r.UserID == "" || r.DeviceID == "" {
			return 0, errors.New("store: a device revocation needs a user and a device")
		}
		key, value, ttl, a, b = s.keys.revokedDevice(r.UserID, r.DeviceID), unixSeconds(r.Cutoff), RevocationHorizon, r.UserID, r.DeviceID
	default:
		return 0, fmt.Errorf("store: unknown revocation kind %q", r.Kind)
	}
	streamKey, maxLen, event := s.keys.unused(), "0", ""
	if r.Events.MaxLen > 0 {
		if r.Origin == nil {
			return 0, errors.New("store: events need an origin")
		}
		if event, err = r.Origin.revocationEvent(r, s.now()); err != nil {
			return 0, err
		}
		streamKey, maxLen = s.keys.events(), strconv.FormatInt(r.Events.MaxLen, 10)
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	counter, limit := s.keys.unused(), 0
	if r.Limited {
		if r.Actor == "" {
			return 0, errors.New("store: a limited revocation needs an actor")
		}
		counter, limit = s.keys.revocationRate(r.Actor), DeviceRevocationsPerDay
	}
	keys := []string{key, s.keys.revocationSeq(), s.keys.revocationLog(), s.keys.revocationEpoch(), streamKey, counter}
	var random [8]byte
	if _, err := rand.Read(random[:]); err != nil {
		return 0, err
	}
	res, err := s.run(ctx, scriptRevoke, keys,
		string(r.Kind), value, ceilMillis(ttl), a, b, revocationLogLength, s.keys.revocationChannel(), until,
		hex.EncodeToString(random[:]), maxLen, event, limit, day.Milliseconds())
	if err != nil {
		return 0, s.fail(err)
	}
	if _, ok := res.([]any); ok {
		refused, err := parseReply(res)
		if err != nil {
			return 0, err
		}
		if refused.status == "rate_limited" {
			return 0, refused.rateLimited()
		}
		return 0, refused.unexpected()
	}
	n, ok := res.(int64)
	if !ok || n < 0 {
		return 0, errBadReply
	}
	return uint64(n), nil
}

// RevocationState reads, in one round trip, whether the token with
// tokenDigest is revoked, the cutoffs of userID and of its deviceID (""
// for a token bound to no device), and the sequence they reflect.
func (s *Store) RevocationState(ctx context.Context, tokenDigest, userID, deviceID string) (RevocationState, error) {
	if userID == "" {
		return RevocationState{}, errEmptyUserID
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	args := []any{"mget", s.keys.revocationSeq(), s.keys.revokedToken(tokenDigest), s.keys.revokedUser(userID)}
	if deviceID != "" {
		args = append(args, s.keys.revokedDevice(userID, deviceID))
	}
	cmd := redis.NewSliceCmd(ctx, args...)
	if err := s.reads.process(ctx, cmd); err != nil {
		return RevocationState{}, s.fail(err)
	}
	vals := cmd.Val()
	if len(vals) != len(args)-1 {
		return RevocationState{}, errBadReply
	}
	var st RevocationState
	var err error
	if st.Seq, err = optionalUint(vals[0]); err != nil {
		return RevocationState{}, err
	}
	st.TokenRevoked = vals[1] != nil
	if st.UserCutoff, err = optionalCutoff(vals[2]); err != nil {
		return RevocationState{}, err
	}
	if deviceID != "" {
		if st.DeviceCutoff, err = optionalCutoff(vals[3]); err != nil {
			return RevocationState{}, err
		}
	}
	return st, nil
}

// RevocationsSince reads the revocation sequence and at most limit log
// entries numbered after after, in order. The entries may start later than
// after+1, or stop short of seq, when the log was trimmed or lost: the
// caller must then treat what it knew as unknown. seq below after means
// Redis lost its revocations (a restart without persistence).
//
// epoch names the log: it changes when Redis lost the log and began a new
// one, whose numbers may repeat ones the caller already applied from the
// old; the caller must then too forget what it knew ("" until the first
// revocation, and for a log written before epochs existed).
//
// at is the Nonce of the log's entry numbered after, as Redis holds it now
// ("" if it holds none). A failover to a replica that missed the log's
// last entries keeps the epoch, and the promoted master numbers its next
// entries as the lost ones were: a caller that applied entry after with
// another nonce must forget what it knew, as for a new epoch, or it would
// never read the entries that took the lost ones' numbers.
func (s *Store) RevocationsSince(ctx context.Context, after uint64, limit int) (epoch string, seq uint64, at string, entries []Revocation, err error) {
	if limit <= 0 {
		return "", 0, "", nil, errors.New("store: RevocationsSince needs a positive limit")
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	keys := []string{s.keys.revocationSeq(), s.keys.revocationLog(), s.keys.revocationEpoch()}
	// From entry after itself (IDs are <seq>-1), to read its nonce.
	res, err := s.run(ctx, scriptRevocationsSince, keys, strconv.FormatUint(after, 10)+"-0", limit+1)
	if err != nil {
		return "", 0, "", nil, s.fail(err)
	}
	reply, ok := res.([]any)
	if !ok || len(reply) != 3 {
		return "", 0, "", nil, errBadReply
	}
	if seq, err = optionalUint(reply[0]); err != nil {
		return "", 0, "", nil, err
	}
	raw, ok := reply[1].([]any)
	if !ok {
		return "", 0, "", nil, errBadReply
	}
	entries = make([]Revocation, 0, len(raw))
	for _, item := range raw {
		e, err := parseRevocation(item)
		if err != nil {
			return "", 0, "", nil, err
		}
		if e.Seq <= after {
			at = e.Nonce
			continue
		}
		if len(entries) < limit {
			entries = append(entries, e)
		}
	}
	if epoch, ok = reply[2].(string); !ok {
		return "", 0, "", nil, errBadReply
	}
	return epoch, seq, at, entries, nil
}

// parseRevocation reads one XRANGE entry: {"<seq>-1", {field, value, ...}}.
func parseRevocation(item any) (Revocation, error) {
	pair, ok := item.([]any)
	if !ok || len(pair) != 2 {
		return Revocation{}, errBadReply
	}
	id, _ := pair[0].(string)
	seqText, _, _ := strings.Cut(id, "-")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil {
		return Revocation{}, fmt.Errorf("store: revocation log entry %q: %w", id, errBadReply)
	}
	fields, ok := pair[1].([]any)
	if !ok || len(fields)%2 != 0 {
		return Revocation{}, errBadReply
	}
	r := Revocation{Seq: seq}
	var a, b, c string
	for i := 0; i < len(fields); i += 2 {
		name, _ := fields[i].(string)
		value, _ := fields[i+1].(string)
		switch name {
		case "k":
			if len(value) == 1 {
				r.Kind = RevocationKind(value[0])
			}
		case "a":
			a = value
		case "b":
			b = value
		case "c":
			c = value
		case "n":
			r.Nonce = value
		}
	}
	switch r.Kind {
	case RevokedToken:
		r.TokenDigest = a
		if r.Until, err = parseUntil(c); err != nil {
			return Revocation{}, err
		}
	case RevokedUser, RevokedDevice:
		r.UserID, r.DeviceID = a, b
		if r.Kind == RevokedDevice {
			r.DeviceDigest = deviceDigest(a, b)
		}
		if r.Cutoff, err = optionalCutoff(c); err != nil {
			return Revocation{}, err
		}
	default:
		return Revocation{}, fmt.Errorf("store: revocation log entry %q of unknown kind: %w", id, errBadReply)
	}
	return r, nil
}

// subscribeRetry is how long WatchRevocations waits before subscribing
// again after a try that Redis did not answer.
const subscribeRetry = 500 * time.Millisecond

// WatchRevocations subscribes to the channel told of every new revocation
// log entry. The returned channel receives a value, coalesced, whenever
// one is published; it is closed by stop. The subscription reconnects by
// itself, and may miss messages while it does: it is a hint to read the
// log sooner, never the only way an instance learns of a revocation.
// It returns at once, Redis or not: subscribing dials, and with Redis
// away that dial lasts until Redis is back, or until stop.
//
// If Redis refuses the subscription (an ACL user not allowed the
// channel), refused, unless nil, is called with its error, and the
// channel is closed: the caller is left to polling, and should say so,
// since nothing else would tell the operator.
func (s *Store) WatchRevocations(refused func(error)) (nudges <-chan struct{}, stop func() error) {
	// No channel yet: go-redis dials only once one is subscribed to.
	ps := s.client.Subscribe(context.Background())
	out := make(chan struct{}, 1)
	life, end := context.WithCancel(context.Background())
	go func() {
		defer close(out)
		// The dial that subscribing makes waits for Redis for as long
		// as it is away: here, where stop cuts it short, not in the
		// caller. Whether Redis took the subscription is its first
		// reply, read here: ps.Channel, which reconnects on its own,
		// would drop a refusal without a word. So a try that did not
		// reach Redis (an outage longer than the dial waits, a refused
		// login) is made again until Redis answers it: each Receive
		// without a connection dials and subscribes to the channel the
		// first Subscribe recorded.
		_ = ps.Subscribe(life, s.keys.revocationChannel())
		for {
			_, err := ps.Receive(life)
			if life.Err() != nil {
				return
			}
			if err == nil {
				break
			}
			if Refused(err) {
				if refused != nil {
					refused(fmt.Errorf("store: Redis refused the subscription to the revocation channel %s: %w", s.keys.revocationChannel(), err))
				}
				return
			}
			select {
			case <-life.Done():
				return
			case <-time.After(subscribeRetry):
			}
		}
		msgs := ps.Channel()
		for {
			select {
			case <-life.Done():
				return
			case _, ok := <-msgs:
				if !ok {
					return
				}
				select {
				case out <- struct{}{}:
				default: // one pending nudge says it all
				}
			}
		}
	}()
	var once sync.Once
	return out, func() error {
		once.Do(func() {
			end()
			// With Redis away, the subscription may be inside a dial of
			// its own reconnection, which lasts until Close ends the
			// store's dialer: closing it here would wait for that. It is
			// closed in the background.
			go func() { _ = ps.Close() }()
		})
		return nil
	}
}

func unixSeconds(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// ceilMillis is d in whole milliseconds, rounded up: a revoked token's key
// must not end before the token does (the verifier accepts it until its
// very end), and Redis keeps TTLs in milliseconds.
func ceilMillis(d time.Duration) int64 { return int64((d + time.Millisecond - 1) / time.Millisecond) }

// optionalUint reads a decimal string reply; nil (no key) is 0.
func optionalUint(v any) (uint64, error) {
	if v == nil {
		return 0, nil
	}
	s, ok := v.(string)
	if !ok {
		return 0, errBadReply
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errBadReply
	}
	return n, nil
}

// optionalCutoff reads a cutoff in Unix seconds; nil or "" is none.
func optionalCutoff(v any) (time.Time, error) {
	if v == nil || v == "" {
		return time.Time{}, nil
	}
	s, ok := v.(string)
	if !ok {
		return time.Time{}, errBadReply
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, errBadReply
	}
	return time.Unix(n, 0), nil
}
