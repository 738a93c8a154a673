package store

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeProfile: whatever a profile hash holds, decoding returns a
// profile or errCorruptProfile, never panics, and keeps the values as they
// are.
func FuzzDecodeProfile(f *testing.F) {
	f.Add("Nick", "user", "+86 13000000000", "1700000000000", "1700000000001")
	f.Add("", "", "", "", "")
	f.Add("x", "y", "z", "-1", "99999999999999999999")
	f.Add("x", "y", "z", "1e3", " 12")
	f.Fuzz(func(t *testing.T, nick, user, phone, created, updated string) {
		fields := map[string]string{fieldNickname: nick, fieldUsername: user, fieldPhone: phone, fieldCreated: created, fieldUpdated: updated}
		p, err := decodeProfile("u1", fields)
		c, cerr := strconv.ParseInt(created, 10, 64)
		m, merr := strconv.ParseInt(updated, 10, 64)
		valid := cerr == nil && merr == nil && c >= 0 && m >= 0
		if !valid {
			if !errors.Is(err, errCorruptProfile) {
				t.Fatalf("decode(%q, %q) = %v, want corrupt", created, updated, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.UserID != "u1" || p.Nickname != nick || p.Username != user || p.Phone != phone ||
			!p.CreatedAt.Equal(time.UnixMilli(c)) || !p.UpdatedAt.Equal(time.UnixMilli(m)) {
			t.Fatalf("decoded %+v", p)
		}
	})
}

// fuzzReply builds a script reply from text: words separated by spaces,
// a word that parses as an integer becomes one.
func fuzzReply(s string) any {
	if s == "" {
		return nil
	}
	var list []any
	for _, w := range strings.Split(s, " ") {
		if n, err := strconv.ParseInt(w, 10, 64); err == nil {
			list = append(list, n)
		} else {
			list = append(list, w)
		}
	}
	return list
}

// FuzzEditReply: any reply maps to a result or one error, never a panic;
// the replies edit.lua gives map to the documented errors.
func FuzzEditReply(f *testing.F) {
	for _, s := range []string{
		"ok 0", "ok 1 n u p e a g d", "ok", "ok x", "ok 0 z", "ok 0 1",
		"rate_limited 1500", "rate_limited 0", "rate_limited -2", "rate_limited",
		"user_not_found", "sudo_required", "verification_required", "invalid_verification_token",
		"conflict u", "conflict p", "conflict e", "conflict n", "conflict", "conflict 7",
		"stale", "", "7", "what",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseReply(fuzzReply(s))
		if err != nil {
			if !errors.Is(err, errBadReply) {
				t.Fatalf("parse %q: %v", s, err)
			}
			return
		}
		res, err := editResult(r)
		if err == nil {
			if r.status != "ok" {
				t.Fatalf("%q accepted as success", s)
			}
			for _, name := range res.Changed {
				if _, ok := fieldCode(name); !ok {
					t.Fatalf("%q: changed %q", s, name)
				}
			}
			return
		}
		var ce *ConflictError
		var rl *RateLimitedError
		switch {
		case errors.As(err, &ce):
			if ce.Field != "username" && ce.Field != "phone" && ce.Field != "email" {
				t.Fatalf("%q: conflict on %q", s, ce.Field)
			}
		case errors.As(err, &rl):
			if rl.RetryAfter <= 0 {
				t.Fatalf("%q: RetryAfter %v", s, rl.RetryAfter)
			}
		case errors.Is(err, ErrUserNotFound), errors.Is(err, ErrSudoRequired),
			errors.Is(err, ErrVerificationRequired), errors.Is(err, ErrInvalidVerificationToken),
			errors.Is(err, errBadReply):
		default:
			t.Fatalf("%q: unexpected error %v", s, err)
		}
		if errors.Is(err, ErrUnavailable) {
			t.Fatalf("%q: a script reply is never unavailable", s)
		}
	})
}

func TestEditReplyMapping(t *testing.T) {
	for s, want := range map[string]error{
		"user_not_found":             ErrUserNotFound,
		"sudo_required":              ErrSudoRequired,
		"verification_required":      ErrVerificationRequired,
		"invalid_verification_token": ErrInvalidVerificationToken,
		"conflict n":                 errBadReply,
		"bogus":                      errBadReply,
	} {
		r, _ := parseReply(fuzzReply(s))
		if _, err := editResult(r); !errors.Is(err, want) {
			t.Errorf("%q → %v, want %v", s, err, want)
		}
	}
	r, _ := parseReply(fuzzReply("ok 1 n e"))
	res, err := editResult(r)
	if err != nil || !res.Created || strings.Join(res.Changed, ",") != "nickname,email" {
		t.Errorf("ok → %+v, %v", res, err)
	}
	r, _ = parseReply(fuzzReply("rate_limited 0"))
	var rl *RateLimitedError
	if _, err := editResult(r); !errors.As(err, &rl) || rl.RetryAfter != time.Millisecond {
		t.Errorf("rate_limited 0 → %v", err)
	}
}
