package store

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseRevocation: whatever a revocation log entry holds (the log is
// read back from Redis by every instance), parseRevocation returns an
// entry of a known kind with the values as written, or errBadReply; it
// never panics.
func FuzzParseRevocation(f *testing.F) {
	f.Add("7-1", "t", strings.Repeat("ab", 32), "", "1700000000000", "n1")
	f.Add("8-1", "u", "u1", "", "1700000000", "")
	f.Add("9-1", "d", "u2", "dev-1", "", "n")
	f.Add("x-1", "u", "u1", "", "1", "")
	f.Add("1", "q", "", "", "", "")
	f.Add("2-1", "tt", "a", "b", "c", "d")
	f.Add("-1-1", "t", "a", "", "-5", "")
	f.Fuzz(func(t *testing.T, id, kind, a, b, c, nonce string) {
		item := []any{id, []any{"k", kind, "a", a, "b", b, "c", c, "n", nonce}}
		r, err := parseRevocation(item)
		if err != nil {
			if !errors.Is(err, errBadReply) {
				t.Fatalf("%q: %v", item, err)
			}
			return
		}
		seqText, _, _ := strings.Cut(id, "-")
		if seq, err := strconv.ParseUint(seqText, 10, 64); err != nil || seq != r.Seq {
			t.Fatalf("%q: seq %d", id, r.Seq)
		}
		if len(kind) != 1 || RevocationKind(kind[0]) != r.Kind || r.Nonce != nonce {
			t.Fatalf("%q: %+v", item, r)
		}
		switch r.Kind {
		case RevokedToken:
			ms, err := strconv.ParseInt(c, 10, 64)
			if err != nil || r.TokenDigest != a || r.Until.UnixMilli() != ms || r.UserID != "" {
				t.Fatalf("%q: %+v", item, r)
			}
		case RevokedUser, RevokedDevice:
			if r.UserID != a || r.TokenDigest != "" {
				t.Fatalf("%q: %+v", item, r)
			}
			if r.Kind == RevokedDevice && (r.DeviceID != b || r.DeviceDigest != DeviceDigest(a, b)) {
				t.Fatalf("%q: %+v", item, r)
			}
			if s, err := strconv.ParseInt(c, 10, 64); c != "" && (err != nil || r.Cutoff.Unix() != s) {
				t.Fatalf("%q: cutoff %v", item, r.Cutoff)
			}
		default:
			t.Fatalf("%q: kind %q accepted", item, r.Kind)
		}
	})
}

// FuzzRevocationRoundTrip: what Revoke records, revoke.lua writes to the
// log and to its key, and both readers (RevocationsSince, from the log;
// RevocationSnapshot, from the keys) read back as it was revoked; a
// revocation Revoke refuses writes nothing.
func FuzzRevocationRoundTrip(f *testing.F) {
	fx := newFixture(f)
	f.Add(byte('t'), strings.Repeat("0f", 32), "", "", int64(3_600_000), int64(0))
	f.Add(byte('u'), "", "u1", "", int64(0), int64(1_700_000_000))
	f.Add(byte('d'), "", "u:1*[x]", "dev-1", int64(0), int64(-5))
	f.Add(byte('d'), "", "u1", "", int64(0), int64(1))
	f.Add(byte('t'), "short", "", "", int64(-1), int64(0))
	f.Add(byte('x'), "", "u1", "", int64(0), int64(0))
	f.Fuzz(func(t *testing.T, kind byte, digest, user, device string, untilMs, cutoff int64) {
		ctx := ctxT(t)
		if err := fx.raw.FlushDB(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		now := fx.clock.Now()
		r := Revoke{Kind: RevocationKind(kind), TokenDigest: digest, Until: now.Add(time.Duration(untilMs) * time.Millisecond),
			UserID: user, DeviceID: device, Cutoff: time.Unix(cutoff, 0)}
		seq, err := fx.Revoke(ctx, r)
		keys, kerr := fx.raw.Keys(ctx, "*").Result()
		if kerr != nil {
			t.Fatal(kerr)
		}
		if err != nil || seq == 0 {
			if len(keys) != 0 {
				t.Fatalf("Revoke(%+v) = %d, %v, and wrote %q", r, seq, err, keys)
			}
			return
		}
		_, last, _, entries, err := fx.RevocationsSince(ctx, 0, 10)
		if err != nil || last != seq || len(entries) != 1 {
			t.Fatalf("Revoke(%+v) = %d; the log reads %d, %+v, %v", r, seq, last, entries, err)
		}
		e := entries[0]
		var snap []Revocation
		if _, _, err := fx.RevocationSnapshot(ctx, func(x Revocation) { snap = append(snap, x) }); err != nil || len(snap) != 1 {
			t.Fatalf("Revoke(%+v): the snapshot reads %+v, %v", r, snap, err)
		}
		s := snap[0]
		if e.Seq != seq || e.Kind != r.Kind || s.Kind != r.Kind {
			t.Fatalf("Revoke(%+v) = %d; log %+v, snapshot %+v", r, seq, e, s)
		}
		switch r.Kind {
		case RevokedToken:
			if e.TokenDigest != digest || s.TokenDigest != digest || e.Until.UnixMilli() != r.Until.UnixMilli() ||
				s.Until.After(r.Until) || s.Until.Before(r.Until.Add(-time.Minute)) {
				t.Fatalf("Revoke(%+v): log %+v, snapshot %+v", r, e, s)
			}
		case RevokedUser, RevokedDevice:
			if e.UserID != user || e.Cutoff.Unix() != cutoff {
				t.Fatalf("Revoke(%+v): log %+v", r, e)
			}
			if r.Kind == RevokedUser && s.UserID != user {
				t.Fatalf("Revoke(%+v): snapshot %+v", r, s)
			}
			if r.Kind == RevokedDevice && (e.DeviceID != device || e.DeviceDigest != DeviceDigest(user, device) || s.DeviceDigest != e.DeviceDigest) {
				t.Fatalf("Revoke(%+v): log %+v, snapshot %+v", r, e, s)
			}
			if !s.Cutoff.Equal(e.Cutoff) {
				t.Fatalf("Revoke(%+v): log cutoff %v, snapshot %v", r, e.Cutoff, s.Cutoff)
			}
		default:
			t.Fatalf("Revoke(%+v) accepted kind %q", r, r.Kind)
		}
	})
}
