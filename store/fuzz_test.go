package store

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeProfile: whatever a profile string holds, decoding returns a
// profile or errCorruptProfile and never panics; values come back as
// stored.
func FuzzDecodeProfile(f *testing.F) {
	f.Add("1700000000000", "1700000000001", "Nick", "user", "+86 13000000000", "")
	f.Add("", "", "", "", "", "")
	f.Add("-1", "99999999999999999999", "x", "y", "z", "")
	f.Add("1e3", " 12", "x", "y", "z", "extra\x1fmore")
	f.Add("1\x1f2", "3", "a\x1fb", "", "", "")
	f.Fuzz(func(t *testing.T, created, updated, nick, user, phone, rest string) {
		stored := strings.Join([]string{created, updated, nick, user, phone}, profileSeparator)
		if rest != "" {
			stored += profileSeparator + profileSeparator + profileSeparator + profileSeparator + profileSeparator + rest
		}
		p, err := decodeProfile("u1", stored)
		parts := strings.Split(stored, profileSeparator)
		for len(parts) < len(profileLayout) {
			parts = append(parts, "")
		}
		c, cerr := strconv.ParseInt(parts[0], 10, 64)
		m, merr := strconv.ParseInt(parts[1], 10, 64)
		if cerr != nil || merr != nil || c < 0 || m < 0 {
			if !errors.Is(err, errCorruptProfile) {
				t.Fatalf("decode(%q) = %v, want corrupt", stored, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.UserID != "u1" || p.Nickname != parts[2] || p.Username != parts[3] || p.Phone != parts[4] ||
			p.Description != parts[8] || !p.CreatedAt.Equal(time.UnixMilli(c)) || !p.UpdatedAt.Equal(time.UnixMilli(m)) {
			t.Fatalf("decode(%q) = %+v", stored, p)
		}
	})
}

// FuzzProfileRoundTrip: what lib.lua's encode_profile writes, Go's
// decodeProfile reads back, and decode_profile then encode_profile keeps
// a stored string as it is.
func FuzzProfileRoundTrip(f *testing.F) {
	fx := newFixture(f)
	f.Add("Nick", "user", "+86 13000000000", "a@b.c", "", "MALE", "line\nline", "")
	f.Add("", "", "", "", "", "", "", "future\x1ffields")
	f.Add("", "", "", "", "", "", "", "\x1f")
	f.Fuzz(func(t *testing.T, n, u, p, e, a, g, d, rest string) {
		for _, v := range []string{n, u, p, e, a, g, d} {
			if strings.Contains(v, profileSeparator) {
				return // Edit refuses these
			}
		}
		script := scriptLib() + `
local p = { ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], '', '', '' }
if ARGV[10] ~= '' then p[PROFILE_REST] = ARGV[10] end
local s = encode_profile(p)
return { s, encode_profile(decode_profile(s)) }`
		res, err := fx.raw.Eval(ctxT(t), script, nil, "1700000000000", "1700000000001", n, u, p, e, a, g, d, rest).StringSlice()
		if err != nil {
			t.Fatal(err)
		}
		if res[0] != res[1] {
			t.Fatalf("decode_profile then encode_profile: %q became %q", res[0], res[1])
		}
		got, err := decodeProfile("u1", res[0])
		if err != nil {
			t.Fatal(err)
		}
		want := Profile{UserID: "u1", Nickname: n, Username: u, Phone: p, Email: e, AvatarURL: a, Gender: g, Description: d,
			CreatedAt: time.UnixMilli(1700000000000), UpdatedAt: time.UnixMilli(1700000000001)}
		if got != want {
			t.Fatalf("Go read %+v\nLua wrote %+v", got, want)
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
