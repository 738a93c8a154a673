package store

import (
	"errors"
	"fmt"
	"time"
)

// errBadReply: a script answered something it never answers. It means the
// scripts and this code disagree, or the keys were written by someone else.
var errBadReply = errors.New("store: unexpected script reply")

// reply is a script's answer: a status word and its arguments, as every
// script in scripts/ returns.
type reply struct {
	status string
	args   []any
}

func parseReply(v any) (reply, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return reply{}, errBadReply
	}
	status, ok := list[0].(string)
	if !ok {
		return reply{}, errBadReply
	}
	return reply{status: status, args: list[1:]}, nil
}

// int reads argument i as an integer.
func (r reply) int(i int) (int64, error) {
	if i >= len(r.args) {
		return 0, fmt.Errorf("%w: %s without argument %d", errBadReply, r.status, i)
	}
	n, ok := r.args[i].(int64)
	if !ok {
		return 0, fmt.Errorf("%w: %s argument %d is not an integer", errBadReply, r.status, i)
	}
	return n, nil
}

// str reads argument i as a string.
func (r reply) str(i int) (string, error) {
	if i >= len(r.args) {
		return "", fmt.Errorf("%w: %s without argument %d", errBadReply, r.status, i)
	}
	s, ok := r.args[i].(string)
	if !ok {
		return "", fmt.Errorf("%w: %s argument %d is not a string", errBadReply, r.status, i)
	}
	return s, nil
}

// rateLimited reads a {'rate_limited', pttl} reply.
func (r reply) rateLimited() error {
	ms, err := r.int(0)
	if err != nil {
		return err
	}
	// Round up to a whole millisecond at least: "retry after 0" would invite
	// a retry that is refused again.
	if ms < 1 {
		ms = 1
	}
	return &RateLimitedError{RetryAfter: time.Duration(ms) * time.Millisecond}
}

func (r reply) unexpected() error {
	return fmt.Errorf("%w: %q", errBadReply, r.status)
}
