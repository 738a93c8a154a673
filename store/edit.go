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
// current unique values and their keys (to find the index entries it
// releases) from e.Current; when they have moved, it answers stale with
// the profile as it is, writing nothing, and runs again from that.
func (s *Store) Edit(ctx context.Context, e Edit) (EditResult, error) {
	call, err := s.editCall(e)
	if err != nil {
		return EditResult{}, err
	}
	if e.Current != nil {
		s.useCurrent(call, e.Current.unique)
	}
	// One deadline for every run, kept by the batcher (processWithin)
	// without deriving a context. Only a concurrent edit of the same
	// user's unique values makes the script answer stale twice; try until
	// the deadline.
	deadline := time.Now().Add(s.timeout)
	for {
		v, err := s.runLineUntil(ctx, deadline, scriptEdit, &call.scriptLine, call.nkeys)
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
		if ctx.Err() != nil || !time.Now().Before(deadline) {
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

// editCall is edit.lua's KEYS and ARGV for one Edit, as a script line
// (runLine). The unique fields' current values (their read value and its
// key in ARGV, their current bucket in KEYS) are filled in by useCurrent.
type editCall struct {
	scriptLine
	nkeys int
	// ints are the line's integer arguments: now, the rate limit's count
	// and window.
	ints [3]int64
	// unique lists, for each unique field given, the index in strs of its
	// read value (followed by its key) and of its current value's bucket.
	unique  [3]uniqueSlot
	nunique int
	// lineSpace and strSpace hold the line when it fits, as an edit of a
	// few fields does: two allocations fewer than making it apart.
	lineSpace [editInlineStrings + editFixedInts + scriptLinePrefix]any
	strSpace  [editInlineStrings]string
}

// editInlineStrings is how many strings an edit's line holds in editCall
// itself: enough for a nickname and a username (23), with a little room.
const editInlineStrings = 24

type uniqueSlot struct {
	field   string
	readArg int
	oldKey  int
}

// editFixedArgs is how many of edit.lua's ARGV come before the fields',
// editFixedInts of them integers. Then a field without an index takes
// editPlainArgs, a unique field editUniqueArgs, all strings; editFixedKeys
// KEYS come before two for each unique field.
const (
	editFixedArgs  = 12
	editFixedInts  = 3
	editPlainArgs  = 2
	editUniqueArgs = 5
	editFixedKeys  = 5
)

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
	if e.Events.MaxLen < 0 || (e.Events.MaxLen > 0 && e.Origin == nil) {
		return nil, errors.New("store: events need an origin and a stream length of at least 1")
	}

	unused := s.keys.unused()
	tokenKey := unused
	if e.VerificationToken != "" {
		tokenKey = s.keys.verificationToken(e.VerificationToken)
	}
	profileKey, rateKey, historyKey := s.keys.editKeys(e.Target, e.Actor, e.RateLimit.Count > 0, e.Origin != nil)
	now := s.now()
	rec, err := e.Origin.record(e.Events, now, e.Actor, e.Target)
	if err != nil {
		return nil, err
	}
	streamKey := unused
	if e.Events.MaxLen > 0 { // editCall's check above: events come with an origin
		streamKey = s.keys.events()
	}
	values := e.Changes.inOrder()
	argCount, uniqueGiven := editFixedArgs, 0
	for i, f := range profileFields {
		v := values[i]
		if v == nil {
			continue
		}
		if strings.Contains(*v, profileSeparator) {
			return nil, fmt.Errorf("store: %s contains U+001F, which profiles reserve", f.name)
		}
		argCount += editPlainArgs
		if isUnique(f.code) {
			argCount += editUniqueArgs - editPlainArgs
			uniqueGiven++
		}
	}
	c := &editCall{nkeys: editFixedKeys + 2*uniqueGiven}
	if strs := c.nkeys + argCount - editFixedInts; strs <= editInlineStrings {
		c.line, c.strs = c.lineSpace[:scriptLinePrefix], c.strSpace[:0]
	} else {
		c.scriptLine = newScriptLine(strs, editFixedInts)
	}
	// KEYS: the unique fields' buckets follow; their strings are placed
	// now, in KEYS' order, and filled in with the fields below.
	c.str(profileKey)
	c.str(rateKey)
	c.str(tokenKey)
	c.str(historyKey)
	c.str(streamKey)
	bucketKeys := len(c.strs)
	for range 2 * uniqueGiven {
		c.str(unused)
	}
	c.ints = [editFixedInts]int64{now.UnixMilli(), int64(e.RateLimit.Count), e.RateLimit.Window.Milliseconds()}
	c.str(e.Target)
	c.other(&c.ints[0])
	c.str(flag(e.CreateIfMissing))
	c.other(&c.ints[1])
	c.other(&c.ints[2])
	c.str(flag(e.SudoSatisfied))
	c.str(e.Sensitive.codes)
	c.str(e.VerifyChannels.codes)
	c.str(flag(e.VerificationToken != ""))
	c.str(rec.historyTail)
	c.str(rec.maxLen)
	c.str(rec.eventHead)
	for i, f := range profileFields {
		v := values[i]
		if v == nil {
			continue
		}
		c.str(f.code)
		c.str(*v)
		if !isUnique(f.code) {
			continue
		}
		key := ""
		if *v != "" {
			key = uniqueKey(f.code, *v)
		}
		// Until useCurrent says otherwise: no value yet, so "" read, its
		// key "" and no current bucket.
		c.str(key)
		read := c.str("")
		c.str("")
		if key != "" {
			c.strs[bucketKeys] = s.keys.index(f.code, key)
		}
		c.unique[c.nunique] = uniqueSlot{field: f.code, readArg: read, oldKey: bucketKeys + 1}
		c.nunique++
		bucketKeys += 2
	}
	return c, nil
}

// useCurrent tells the script the target's current unique values, as
// current gives them by field code, with their keys, and points it at
// their buckets.
func (s *Store) useCurrent(c *editCall, current func(field string) string) {
	for _, u := range c.unique[:c.nunique] {
		cur := current(u.field)
		c.strs[u.readArg] = cur
		c.strs[u.readArg+1] = ""
		c.strs[u.oldKey] = s.keys.unused()
		if cur != "" {
			key := uniqueKey(u.field, cur)
			c.strs[u.readArg+1] = key
			c.strs[u.oldKey] = s.keys.index(u.field, key)
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
		if len(r.args) > 1 {
			res.Changed = make([]string, 0, len(r.args)-1)
		}
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
		c.Birthdate, c.Zoneinfo, c.Locale,
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
