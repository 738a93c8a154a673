package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Send limits per contact (SPEC 4.2).
const (
	sendInterval = 60 * time.Second
	sendsPerDay  = 10
	day          = 24 * time.Hour
	// maxWrongCodes wrong codes kill a verification.
	maxWrongCodes = 5
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
	// Code is the code sent; only its digest is stored.
	Code string
	// Usage is passed through from the client.
	Usage string
	// TTL is how long the code is valid.
	TTL time.Duration
	// RefuseBound (NOT_USER): a contact bound to another user is
	// *ConflictError naming the channel.
	RefuseBound bool
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
	return nil
}

// StartVerification enforces 1 send per 60 s and 10 per day per contact
// (*RateLimitedError), stores the code hashed and counts the send. isUser
// reports that the contact is bound to some user.
func (s *Store) StartVerification(ctx context.Context, v NewVerification) (isUser bool, err error) {
	if err := v.check(); err != nil {
		return false, err
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	field, _ := fieldCode(v.Channel)
	keys := []string{
		s.keys.verification(v.ID),
		s.keys.lastSend(v.Channel, v.Key),
		s.keys.dailySends(v.Channel, v.Key),
		s.keys.index(field, v.Key),
		s.keys.profile(v.UserID),
	}
	res, err := s.run(ctx, scriptStartVerification, keys,
		v.ID, v.UserID, v.Channel, v.Key, v.Display, v.Usage,
		codeDigest(v.ID, v.Code), v.TTL.Milliseconds(), flag(v.RefuseBound),
		sendInterval.Milliseconds(), sendsPerDay, day.Milliseconds())
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
	}
	return false, r.unexpected()
}

// CancelVerification undoes StartVerification after a failed delivery:
// the code is deleted and the send is not counted. Cancelling twice, or a
// verification already used or expired, changes nothing.
func (s *Store) CancelVerification(ctx context.Context, v NewVerification) error {
	if err := v.check(); err != nil {
		return err
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	keys := []string{
		s.keys.verification(v.ID),
		s.keys.lastSend(v.Channel, v.Key),
		s.keys.dailySends(v.Channel, v.Key),
	}
	return s.runOK(ctx, scriptCancelVerification, keys, nil, v.ID, v.UserID, v.Channel, v.Key)
}

// CheckCode compares the code in constant time; 5 wrong codes kill the
// verification (ErrInvalidCode). On success the verification is gone and
// token (stored hashed, TTL tokenTTL) is bound to its user, channel and key.
func (s *Store) CheckCode(ctx context.Context, id, code, token string, tokenTTL time.Duration) error {
	if id == "" || code == "" {
		return ErrInvalidCode
	}
	if token == "" || tokenTTL < time.Millisecond {
		return errors.New("store: CheckCode needs a token and its TTL")
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	keys := []string{s.keys.verification(id), s.keys.verificationToken(token)}
	return s.runOK(ctx, scriptCheckCode, keys, ErrInvalidCode, codeDigest(id, code), tokenTTL.Milliseconds(), maxWrongCodes)
}

// IssueSudo consumes verificationToken, which must be the user's and
// verify one of the user's currently bound contacts
// (ErrInvalidVerificationToken), and stores sudoToken (hashed, TTL).
func (s *Store) IssueSudo(ctx context.Context, userID, verificationToken, sudoToken string, ttl time.Duration) error {
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
	return s.issueSudo(ctx, keys, userID, ttl)
}

// SudoValid reports whether sudoToken is a live sudo token of userID.
func (s *Store) SudoValid(ctx context.Context, userID, sudoToken string) (bool, error) {
	if userID == "" || sudoToken == "" {
		return false, nil
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	owner, err := s.batch.get(ctx, s.keys.sudoToken(sudoToken))
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
