package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// errContention: the target kept changing under Edit. It is reported as
// unavailable: the same request will very likely succeed later.
var errContention = errors.New("the profile kept changing under concurrent edits")

// Edit applies one atomic profile update (scripts/edit.lua): the rate
// limit, the target's existence, sudo, verification and uniqueness are all
// checked before anything is written. The script is told the target's
// current unique values (to find the index buckets it releases) from
// e.Current; when they have moved, it answers stale with the profile as it
// is, writing nothing, and runs again from that.
func (s *Store) Edit(ctx context.Context, e Edit) (EditResult, error) {
	call, err := s.editCall(e)
	if err != nil {
		return EditResult{}, err
	}
	if e.Current != nil {
		s.useCurrent(call, e.Current.unique)
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	// Only a concurrent edit of the same user's unique values makes the
	// script answer stale twice; try until the operation's deadline.
	for {
		v, err := s.run(ctx, scriptEdit, call.keys, call.args...)
		if err != nil {
			return EditResult{}, s.fail(err)
		}
		r, err := parseReply(v)
		if err != nil {
			return EditResult{}, err
		}
		if r.status != "stale" {
			return editResult(r)
		}
		if ctx.Err() != nil {
			return EditResult{}, &unavailableError{cause: errContention}
		}
		stored, err := r.str(0)
		if err != nil {
			return EditResult{}, err
		}
		current := splitProfile(stored)
		s.useCurrent(call, current.of)
	}
}

// editCall is edit.lua's KEYS and ARGV for one Edit. The unique fields'
// current values (their read value in args, their current bucket in keys)
// are filled in by useCurrent.
type editCall struct {
	keys []string
	args []any
	// unique lists, for each unique field given, its position in args (the
	// read value) and in keys (its current value's bucket).
	unique []uniqueSlot
}

type uniqueSlot struct {
	field   string
	readArg int
	oldKey  int
}

// editFixedArgs is how many of edit.lua's ARGV come before the fields' (4
// each, only for the fields given).
const editFixedArgs = 9

// isUnique reports whether a field code is one of the indexed fields.
func isUnique(code string) bool {
	return code == fieldUsername || code == fieldPhone || code == fieldEmail
}

func (s *Store) editCall(e Edit) (*editCall, error) {
	if e.Target == "" {
		return nil, errors.New("store: edit without a target")
	}
	if (e.Changes.Nickname != nil && *e.Changes.Nickname == "") || (e.Changes.Username != nil && *e.Changes.Username == "") {
		return nil, errors.New("store: nickname and username cannot be removed")
	}
	if e.RateLimit.Count < 0 || (e.RateLimit.Count > 0 && (e.RateLimit.Window < time.Millisecond || e.Actor == "")) {
		return nil, errors.New("store: a rate limit needs an actor and a window of a millisecond or more")
	}

	unused := s.keys.unused()
	tokenKey := unused
	if e.VerificationToken != "" {
		tokenKey = s.keys.verificationToken(e.VerificationToken)
	}
	rateKey := unused
	if e.RateLimit.Count > 0 {
		rateKey = s.keys.editRate(e.Actor)
	}
	values := e.Changes.inOrder()
	given, uniqueGiven := 0, 0
	for i, f := range profileFields {
		if values[i] != nil {
			given++
			if isUnique(f.code) {
				uniqueGiven++
			}
		}
	}
	c := &editCall{
		keys: append(make([]string, 0, 3+2*uniqueGiven), s.keys.profile(e.Target), rateKey, tokenKey),
		args: append(make([]any, 0, editFixedArgs+4*given),
			e.Target,
			s.now().UnixMilli(),
			flag(e.CreateIfMissing),
			e.RateLimit.Count,
			e.RateLimit.Window.Milliseconds(),
			flag(e.SudoSatisfied),
			e.Sensitive.codes,
			e.VerifyChannels.codes,
			flag(e.VerificationToken != ""),
		),
	}
	for i, f := range profileFields {
		v := values[i]
		if v == nil {
			continue
		}
		if strings.Contains(*v, profileSeparator) {
			return nil, fmt.Errorf("store: %s contains U+001F, which profiles reserve", f.name)
		}
		key := "" // a field without an index is its own key: not sent twice
		if *v != "" && isUnique(f.code) {
			key = uniqueKey(f.code, *v)
		}
		c.args = append(c.args, f.code, *v, key, "")
		if isUnique(f.code) {
			newBucket := unused
			if key != "" {
				newBucket = s.keys.index(f.code, key)
			}
			// Until useCurrent says otherwise: no value yet, so no
			// current bucket and "" read.
			c.keys = append(c.keys, newBucket, unused)
			c.unique = append(c.unique, uniqueSlot{field: f.code, readArg: len(c.args) - 1, oldKey: len(c.keys) - 1})
		}
	}
	return c, nil
}

// useCurrent tells the script the target's current unique values, as
// current gives them by field code, and points it at their buckets.
func (s *Store) useCurrent(c *editCall, current func(field string) string) {
	for _, u := range c.unique {
		cur := current(u.field)
		c.args[u.readArg] = cur
		c.keys[u.oldKey] = s.keys.unused()
		if cur != "" {
			c.keys[u.oldKey] = s.keys.index(u.field, uniqueKey(u.field, cur))
		}
	}
}

func editResult(r reply) (EditResult, error) {
	switch r.status {
	case "ok":
		created, err := r.int(0)
		if err != nil {
			return EditResult{}, err
		}
		res := EditResult{Created: created == 1}
		for i := 1; i < len(r.args); i++ {
			code, err := r.str(i)
			if err != nil {
				return EditResult{}, err
			}
			name, ok := fieldName(code)
			if !ok {
				return EditResult{}, r.unexpected()
			}
			res.Changed = append(res.Changed, name)
		}
		return res, nil
	case "rate_limited":
		return EditResult{}, r.rateLimited()
	case "user_not_found":
		return EditResult{}, ErrUserNotFound
	case "sudo_required":
		return EditResult{}, ErrSudoRequired
	case "verification_required":
		return EditResult{}, ErrVerificationRequired
	case "invalid_verification_token":
		return EditResult{}, ErrInvalidVerificationToken
	case "conflict":
		code, err := r.str(0)
		if err != nil {
			return EditResult{}, err
		}
		name, ok := fieldName(code)
		if !ok || !isUnique(code) {
			return EditResult{}, r.unexpected()
		}
		return EditResult{}, &ConflictError{Field: name}
	}
	return EditResult{}, r.unexpected()
}

// inOrder lists the changes in profileFields' order: an array, not a map
// built on every Edit.
func (c *Changes) inOrder() [len(profileFields)]*string {
	return [len(profileFields)]*string{
		c.Nickname, c.Username, c.Phone, c.Email, c.AvatarURL, c.Gender, c.Description,
	}
}

// fieldCodes turns API field names into the codes the script takes, run
// together. contactsOnly admits phone and email only.
func fieldCodes(names []string, contactsOnly bool) (string, error) {
	var b strings.Builder
	for _, name := range names {
		code, ok := fieldCode(name)
		if !ok || (contactsOnly && code != fieldPhone && code != fieldEmail) {
			return "", fmt.Errorf("store: %q cannot be named here", name)
		}
		b.WriteString(code)
	}
	return b.String(), nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
