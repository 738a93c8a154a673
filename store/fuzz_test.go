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

// infoMemory is redis-server 7.0's reply to INFO memory, as it comes:
// lines end in \r\n.
const infoMemory = "" +
	"# Memory\r\n" +
	"used_memory:914600\r\n" +
	"used_memory_human:893.16K\r\n" +
	"used_memory_rss:12066816\r\n" +
	"used_memory_rss_human:11.51M\r\n" +
	"used_memory_peak:914600\r\n" +
	"used_memory_peak_human:893.16K\r\n" +
	"used_memory_peak_perc:102.32%\r\n" +
	"used_memory_overhead:876328\r\n" +
	"used_memory_startup:876128\r\n" +
	"used_memory_dataset:38272\r\n" +
	"used_memory_dataset_perc:99.48%\r\n" +
	"allocator_allocated:1690848\r\n" +
	"allocator_active:1826816\r\n" +
	"allocator_resident:4497408\r\n" +
	"total_system_memory:25276203008\r\n" +
	"total_system_memory_human:23.54G\r\n" +
	"used_memory_lua:32768\r\n" +
	"used_memory_vm_eval:32768\r\n" +
	"used_memory_lua_human:32.00K\r\n" +
	"used_memory_scripts_eval:0\r\n" +
	"number_of_cached_scripts:0\r\n" +
	"number_of_functions:0\r\n" +
	"number_of_libraries:0\r\n" +
	"used_memory_vm_functions:33792\r\n" +
	"used_memory_vm_total:66560\r\n" +
	"used_memory_vm_total_human:65.00K\r\n" +
	"used_memory_functions:200\r\n" +
	"used_memory_scripts:200\r\n" +
	"used_memory_scripts_human:200B\r\n" +
	"maxmemory:0\r\n" +
	"maxmemory_human:0B\r\n" +
	"maxmemory_policy:noeviction\r\n" +
	"allocator_frag_ratio:1.08\r\n" +
	"allocator_frag_bytes:135968\r\n" +
	"allocator_rss_ratio:2.46\r\n" +
	"allocator_rss_bytes:2670592\r\n" +
	"rss_overhead_ratio:2.68\r\n" +
	"rss_overhead_bytes:7569408\r\n" +
	"mem_fragmentation_ratio:13.77\r\n" +
	"mem_fragmentation_bytes:11190544\r\n" +
	"mem_not_counted_for_evict:0\r\n" +
	"mem_replication_backlog:0\r\n" +
	"mem_total_replication_buffers:0\r\n" +
	"mem_clients_slaves:0\r\n" +
	"mem_clients_normal:0\r\n" +
	"mem_cluster_links:0\r\n" +
	"mem_aof_buffer:0\r\n" +
	"mem_allocator:jemalloc-5.3.0\r\n" +
	"active_defrag_running:0\r\n" +
	"lazyfree_pending_objects:0\r\n" +
	"lazyfreed_objects:0\r\n"

// FuzzParseMemoryInfo: whatever INFO memory text a node returns, reading
// it never panics; a text without a maxmemory and a maxmemory_policy line,
// or with a maxmemory that is not a number, is an error; otherwise Policy
// is the last maxmemory_policy value and MaxMemory the last maxmemory
// value, and \r\n line ends read as \n ones.
func FuzzParseMemoryInfo(f *testing.F) {
	f.Add(infoMemory)
	for _, s := range []string{
		"", "maxmemory:0", "maxmemory_policy:noeviction", "maxmemory:0\nmaxmemory_policy:noeviction",
		"# Memory\r\nmaxmemory:104857600\r\nmaxmemory_human:100.00M\r\nmaxmemory_policy:allkeys-lru\r\n",
		"maxmemory:100\nmaxmemory:0\nmaxmemory_policy:allkeys-lru\nmaxmemory_policy:noeviction\n",
		"maxmemory:x\nmaxmemory:5\nmaxmemory_policy:volatile-lru", "maxmemory: 5\nmaxmemory_policy:",
		"maxmemory_human:0B\nmaxmemory_policy_x:noeviction", "  maxmemory:+1\t\r\n\tmaxmemory_policy:a:b \r",
		"maxmemory:99999999999999999999\nmaxmemory_policy:noeviction", "\r\n\n\r",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, info string) {
		p, err := parseMemoryInfo(info)
		var policy string
		var max int64
		var hasPolicy, hasMax, badMax bool
		for line := range strings.Lines(info) {
			line = strings.TrimSpace(line)
			if v, ok := strings.CutPrefix(line, "maxmemory_policy:"); ok {
				policy, hasPolicy = v, true
			}
			if v, ok := strings.CutPrefix(line, "maxmemory:"); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				max, hasMax, badMax = n, true, badMax || err != nil
			}
		}
		switch {
		case !hasPolicy || !hasMax || badMax:
			if err == nil {
				t.Fatalf("%q read as %+v, want an error", info, p)
			}
		case err != nil:
			t.Fatalf("%q: %v", info, err)
		case p.Policy != policy || p.MaxMemory != max:
			t.Fatalf("%q read as %+v, want policy %q and maxmemory %d", info, p, policy, max)
		}
		crlf, crlfErr := parseMemoryInfo(strings.ReplaceAll(info, "\n", "\r\n"))
		if crlf != p || (crlfErr == nil) != (err == nil) {
			t.Fatalf("%q read as %+v (%v), with \\r\\n line ends as %+v (%v)", info, p, err, crlf, crlfErr)
		}
	})
}
