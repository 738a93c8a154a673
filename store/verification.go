package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Send limits per contact (docs/api.md#limits). The owner's own CUR_USER sends
// and everyone's other sends each have these, apart.
const (
	sendInterval = 60 * time.Second
	sendsPerDay  = 10
	day          = 24 * time.Hour
	// maxWrongCodes wrong codes kill a verification.
	maxWrongCodes = 5
)

// Limits that protect people rather than contacts (docs/webhooks.md): one
// caller's sends over every contact, and one client IP's wrong codes.
const (
	callerSendsPerMinute = 5
	callerSendsPerDay    = 30
	minute               = time.Minute
	wrongCodesPerIP      = 20
	wrongCodesWindow     = time.Hour
)

// NewVerification is a code about to be sent.
type NewVerification struct {
	// ID is the unguessable verification_id.
	ID string
	// UserID asked for the code; the token it yields is bound to them.
	UserID string
	// Channel is "phone" or "email".
	Channel string
	// Key is the contact's uniqueness key (E.164 or folded email), Display
	// its stored form.
	Key, Display string
	// Code is the code sent, or a keyed digest of it that CheckCode is
	// then given the same way (handler's sealCode); only its digest is
	// stored.
	Code string
	// Sealed says Code is such a keyed digest. Its digest is then kept in
	// a field of its own, which no version before code keys reads: those
	// answer the code as unknown rather than count the right one as wrong
	// (docs/storage.md#upgrades).
	Sealed bool
	// Usage is passed through from the client.
	Usage string
	// TTL is how long the code is valid.
	TTL time.Duration
	// RefuseBound (NOT_USER): a contact bound to another user is
	// *ConflictError naming the channel.
	RefuseBound bool
	// Owner (CUR_USER): the user sends to a contact of their own. Such
	// sends are limited apart from everyone else's to the same contact, so
	// that strangers cannot spend the owner's budget, and only their codes
	// buy a sudo token (IssueSudo). A contact the index does not give to
	// the user when the script runs is ErrNotBound, counted nowhere.
	Owner bool
	// ClientIP is who asks (handler's ipLimitKey), and Lookups the budget
	// of lookups it shares with LookupOwner (rate_limit lookups). Every
	// send but an Owner's tells whether the contact is registered
	// (is_user, or RefuseBound's *ConflictError), so that answer counts
	// against it; past it the send is *RateLimitedError, after the
	// caller's own limits and before anything else, counted nowhere. ""
	// or a zero Lookups counts nothing.
	ClientIP string
	Lookups  Limit
}

// sendKeys are the contact's last-send marker and daily counter of v's
// kind of send.
func (s *Store) sendKeys(v *NewVerification) (last, daily string) {
	if v.Owner {
		return s.keys.ownerLastSend(v.Channel, v.Key), s.keys.ownerDailySends(v.Channel, v.Key)
	}
	return s.keys.lastSend(v.Channel, v.Key), s.keys.dailySends(v.Channel, v.Key)
}

func (v *NewVerification) check() error {
	if v.ID == "" || v.UserID == "" || v.Key == "" || v.Code == "" {
		return errors.New("store: incomplete verification")
	}
	if v.Channel != "phone" && v.Channel != "email" {
		return fmt.Errorf("store: unknown verification channel %q", v.Channel)
	}
	if v.TTL < time.Millisecond {
		return errors.New("store: verification without a TTL")
	}
	if v.Lookups.Count < 0 || (v.Lookups.Count > 0 && v.Lookups.Window < time.Millisecond) {
		return errors.New("store: a lookup limit needs a window of a millisecond or more")
	}
	return nil
}

// lookupCounter is the client IP's lookup counter that v counts against,
// and its limit: an unused key and 0 when none applies.
func (s *Store) lookupCounter(v *NewVerification) (key string, limit int) {
	if v.Owner || v.ClientIP == "" || v.Lookups.Count == 0 {
		return s.keys.unused(), 0
	}
	return s.keys.lookups(v.ClientIP), v.Lookups.Count
}

// StartVerification enforces 1 send per 60 s and 10 per day per contact
// (counting the owner's CUR_USER sends apart), and 5 a minute and 30 a day
// per caller over any minute and any day (sliding windows)
// (*RateLimitedError), stores the code hashed and counts the send. isUser
// reports that the contact is bound to some user. The caller's limits are
// checked first, and a NOT_USER request refused with *ConflictError counts
// against them: that answer tells that the contact is registered, and
// probing for registered contacts must cost what sending codes does. The
// client IP's lookups (v.Lookups) come next, and every answer that tells
// whether the contact is registered counts there too, so that many
// accounts behind one IP probe no faster than checkIfUserExist allows.
func (s *Store) StartVerification(ctx context.Context, v NewVerification) (isUser bool, err error) {
	if err := v.check(); err != nil {
		return false, err
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	field, _ := fieldCode(v.Channel)
	last, daily := s.sendKeys(&v)
	lookups, lookupLimit := s.lookupCounter(&v)
	keys := []string{
		s.keys.verification(v.ID),
		last,
		daily,
		s.keys.index(field, v.Key),
		s.keys.callerMinuteSends(v.UserID),
		s.keys.callerDailySends(v.UserID),
		lookups,
	}
	res, err := s.run(ctx, scriptStartVerification, keys,
		v.ID, v.UserID, v.Channel, v.Key, v.Display, v.Usage,
		codeDigest(v.ID, v.Code), v.TTL.Milliseconds(), flag(v.RefuseBound),
		sendInterval.Milliseconds(), sendsPerDay, day.Milliseconds(),
		callerSendsPerMinute, minute.Milliseconds(), callerSendsPerDay, s.now().UnixMilli(), flag(v.Owner),
		digestField(v.Sealed), lookupLimit, v.Lookups.Window.Milliseconds())
	if err != nil {
		return false, s.fail(err)
	}
	r, err := parseReply(res)
	if err != nil {
		return false, err
	}
	switch r.status {
	case "ok":
		n, err := r.int(0)
		return n == 1, err
	case "conflict":
		return false, &ConflictError{Field: v.Channel}
	case "rate_limited":
		return false, r.rateLimited()
	case "exists":
		return false, errors.New("store: verification ID already in use")
	case "not_bound":
		return false, ErrNotBound
	}
	return false, r.unexpected()
}

// CancelVerification undoes StartVerification when nothing was sent (its
// script's answer was not confirmed): the code is deleted and the send is
// not counted, by the contact, the caller or (v.Lookups) the client IP.
// Cancelling twice, or a verification already used or expired, changes
// nothing.
func (s *Store) CancelVerification(ctx context.Context, v NewVerification) error {
	return s.dropVerification(ctx, v, "1")
}

// FailVerification is CancelVerification after a delivery that certainly
// failed, but the send keeps its place in the caller's minute: a receiver
// that refuses deliveries (down, overloaded, or refusing one number) then
// gets no more attempts a minute from one caller than it would get codes,
// where un-counting them all let one caller make a delivery, its retries
// and two warnings in the log per request, without end.
func (s *Store) FailVerification(ctx context.Context, v NewVerification) error {
	return s.dropVerification(ctx, v, "2")
}

// AbandonVerification forgets the code of a delivery whose outcome is
// unknown (the receiver may have sent it): the code can no longer be
// verified, but the send keeps counting against every limit, so a client
// cannot get sends for free by making deliveries time out.
func (s *Store) AbandonVerification(ctx context.Context, v NewVerification) error {
	return s.dropVerification(ctx, v, "0")
}

// dropVerification runs cancel_verification.lua; mode is its ARGV[5].
func (s *Store) dropVerification(ctx context.Context, v NewVerification, mode string) error {
	if err := v.check(); err != nil {
		return err
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	last, daily := s.sendKeys(&v)
	lookups, lookupLimit := s.lookupCounter(&v)
	keys := []string{
		s.keys.verification(v.ID),
		last,
		daily,
		s.keys.callerMinuteSends(v.UserID),
		s.keys.callerDailySends(v.UserID),
		lookups,
	}
	return s.runOK(ctx, scriptCancelVerification, keys, nil, v.ID, v.UserID, v.Channel, v.Key, mode, flag(lookupLimit > 0))
}

// CheckCode compares the code in constant time; 5 wrong codes kill the
// verification (ErrInvalidCode). On success the verification is gone and
// token (stored hashed, TTL tokenTTL) is bound to its user, channel and key,
// and records whether it came from a CUR_USER send (IssueSudo needs one).
//
// clientIP is who guesses: an IP with 20 wrong codes of live
// verifications in the current hour is refused (*RateLimitedError) until
// the hour ends, right code or not. An unknown, expired or closed ID is
// not counted: no code is right for it, so it is no guess, and counting
// it would let anyone shut an IP out with made-up IDs. "" is an unknown
// IP, which no IP limit applies to.
func (s *Store) CheckCode(ctx context.Context, clientIP, id, code, token string, tokenTTL time.Duration) error {
	return s.CheckSealedCode(ctx, clientIP, id, code, "", token, tokenTTL)
}

// CheckSealedCode is CheckCode for an instance with a code key: sealed is
// code sealed under it (handler's sealCode). A verification kept sealed
// (NewVerification.Sealed) is checked against sealed; one kept unkeyed,
// as versions before code keys kept them (docs/storage.md#upgrades),
// against code, so that codes pending across a rolling upgrade still
// verify.
func (s *Store) CheckSealedCode(ctx context.Context, clientIP, id, code, sealed, token string, tokenTTL time.Duration) error {
	if id == "" || code == "" {
		return ErrInvalidCode
	}
	if token == "" || tokenTTL < time.Millisecond {
		return errors.New("store: CheckCode needs a token and its TTL")
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	ipKey, ipLimit := s.keys.unused(), 0
	if clientIP != "" {
		ipKey, ipLimit = s.keys.wrongCodes(clientIP), wrongCodesPerIP
	}
	keys := []string{s.keys.verification(id), s.keys.verificationToken(token), ipKey}
	// With a code key, the unkeyed digest goes to Redis only for a
	// verification an earlier version kept unkeyed, which the script
	// asks for: a reader of Redis's commands must not see it otherwise.
	unkeyed, sealedDigest := codeDigest(id, code), ""
	if sealed != "" {
		unkeyed, sealedDigest = "", codeDigest(id, sealed)
	}
	var r reply
	for {
		res, err := s.run(ctx, scriptCheckCode, keys, unkeyed, tokenTTL.Milliseconds(), maxWrongCodes,
			ipLimit, wrongCodesWindow.Milliseconds(), sealedDigest)
		if err != nil {
			return s.fail(err)
		}
		if r, err = parseReply(res); err != nil {
			return err
		}
		if r.status != "unkeyed" || unkeyed != "" {
			break
		}
		unkeyed = codeDigest(id, code)
	}
	switch r.status {
	case "ok":
		return nil
	case "invalid":
		return ErrInvalidCode
	case "rate_limited":
		return r.rateLimited()
	}
	return r.unexpected()
}

// IssueSudo consumes verificationToken, which must be the user's, come
// from a CUR_USER code (NewVerification.Owner) and verify one of the
// user's currently bound contacts of a field in sensitive
// (ErrInvalidVerificationToken), and stores sudoToken (hashed, TTL). A contact that is not sensitive is changed with verification
// alone, so a stolen access token can make it the thief's: a code sent to
// it proves nothing about the account's owner (docs/api.md#sudo).
func (s *Store) IssueSudo(ctx context.Context, userID, verificationToken, sudoToken string, ttl time.Duration, sensitive FieldSet) error {
	if userID == "" || verificationToken == "" {
		return ErrInvalidVerificationToken
	}
	if sudoToken == "" || ttl < time.Millisecond {
		return errors.New("store: IssueSudo needs a sudo token and its TTL")
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	keys := []string{
		s.keys.verificationToken(verificationToken),
		s.keys.profile(userID),
		s.keys.sudoToken(sudoToken),
	}
	return s.issueSudo(ctx, keys, userID, ttl, sensitive)
}

// SudoValid reports whether sudoToken is a live sudo token of userID.
func (s *Store) SudoValid(ctx context.Context, userID, sudoToken string) (bool, error) {
	if userID == "" || sudoToken == "" {
		return false, nil
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	owner, err := s.reads.get(ctx, s.keys.sudoToken(sudoToken))
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, s.fail(err)
	}
	return owner == userID, nil
}

// runOK runs a script that answers {'ok'} or, when invalid is not nil,
// {'invalid'}, which becomes invalid.
func (s *Store) runOK(ctx context.Context, sc *script, keys []string, invalid error, args ...any) error {
	res, err := s.run(ctx, sc, keys, args...)
	if err != nil {
		return s.fail(err)
	}
	r, err := parseReply(res)
	if err != nil {
		return err
	}
	switch {
	case r.status == "ok":
		return nil
	case r.status == "invalid" && invalid != nil:
		return invalid
	}
	return r.unexpected()
}

// digestField is the field of a verification hash that keeps its code's
// digest: "hk" for a sealed code, "h" for one that is not, as every
// version before code keys kept it.
func digestField(sealed bool) string {
	if sealed {
		return "hk"
	}
	return "h"
}
