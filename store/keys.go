package store

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/authedge/caddy-authedge/profile"
)

// The whole key layout of an environment lives in this file. Every key is
//
//	<prefix>:{<environment>}:<kind>[:<id>]
//
// so that the hash tag puts one environment in one Redis Cluster slot and
// every script's keys in the same slot.
//
//	p:<user>          string the profile, profileLayout below
//	iu:<bucket>       hash  folded username → owner's user ID
//	ip:<bucket>       hash  E.164 phone → owner's user ID
//	ie:<bucket>       hash  email key (profile.EmailKey) → owner's user ID
//	rl:<user>         string edits counted in the current window (PX = window)
//	v:<id>            hash  a pending verification code: its digest in hk if keyed, in h if not (as versions before code keys kept it); o: "1" for a CUR_USER send (PX = code TTL)
//	vs:<contact>      string the last send to a contact asked by anyone (ANY, NOT_USER), holds its verification ID (PX = 60 s)
//	vd:<contact>      string sends to a contact asked by anyone (ANY, NOT_USER) in the current day (PX = 24 h)
//	vso:<contact>     string as vs:, for the owner's own CUR_USER sends, counted apart so strangers cannot spend them
//	vdo:<contact>     string as vd:, for the owner's own CUR_USER sends
//	cm:<user>         zset  codes a caller asked for in the last minute, whatever the target, refused NOT_USER requests and deliveries that certainly failed: verification IDs scored by Unix ms (a sliding window; PX = 60 s from the newest)
//	cd:<user>         zset  the same over the last day, at most 30 entries (PX = 24 h from the newest)
//	vf:<ip>           string wrong codes from one client IP in the current hour (PX = 1 h); <ip> as <contact>, of "ip:" and the address (an IPv6 one cut to its /64)
//	lk:<ip>           string lookups (checkIfUserExist, checkUsername, and code sends but CUR_USER ones and refused NOT_USER requests, one budget) from one client IP in the current window; <ip> as vf:'s
//	vt:<sha256>       hash  a verification token, by the SHA-256 of the token; o as v:'s, which sudo requires (PX = token TTL)
//	st:<sha256>       string a sudo token, by the SHA-256 of the token → user ID (PX = sudo TTL)
//	rt:<sha256>       string a revoked access token, by the SHA-256 of its signed content (TokenDigest) → "1" (PX = until its exp + leeway)
//	ru:<user>         string the user's revocation cutoff, Unix seconds: tokens issued up to it are revoked (PX = revocationHorizon)
//	rd:<user-device>  string the same for one device of a user (PX = revocationHorizon)
//	rv:<user>         string device revocations the user made in the current day (PX = 24 h)
//	rs                string the revocation sequence: the number of the last entry of rx (no expiry)
//	re                string the revocation log's epoch: set with the first entry of a new log, so a log that lost its entries and reuses their numbers is told apart (no expiry)
//	rx                stream the revocation log, entries <seq>-1 {k: t|u|d, a: digest or user, b: device, c: token end (Unix ms) or cutoff, n: random nonce}, trimmed to about revocationLogLength
//	rc                (a Pub/Sub channel, not a key) told the sequence of every new rx entry
//	h:<user>          string the user's history, oldest first: at most 50 entries (PX = 90 days after the latest; record.go)
//	events            stream the environment's change events, one field "event" holding the event's JSON (record.go)
//	_                 never read or written: fills an unused KEYS slot
//
// An index entry names its owner, so that one lookup answers "who holds
// this value" (Owner; user/query and checkIfUserExist need it), a script
// decides a conflict by that name alone (no entry: free; the target's
// own: a new spelling of its value; anyone else's: a conflict), and a
// repair never has to guess whose an entry is. The guarantee, which Audit
// checks in both directions: every entry names a user whose profile holds
// that value, and every unique value of a profile has an entry naming
// that profile's user. Every uniqueness key is computed in Go (uniqueKey):
// the scripts receive keys for the new values and for the current values
// the caller read, check that the stored values are still those, and
// compare; Lua cannot apply IDNA to an email's domain.
//
// Memory decides the rest of this layout: the bar is 540 bytes of
// used_memory per user with every field set, at a million users, owners
// included (docs/storage.md has the measurements; bench/memload redis
// -n 1000000 reproduces them). With bench/memload's profiles (20-character
// user IDs, 170 bytes of values), a hash per profile with owners in string
// index keys took 529 bytes.
//
//   - A profile is one string, its values joined by profileSeparator, not a
//     hash: a small hash is compact (listpack) only while every value fits
//     in 64 bytes (hash-max-listpack-value), and one longer avatar URL or
//     description, common in real profiles, would turn it into a hash table
//     of about twice the size. A string costs what its data costs.
//   - Each index is spread over indexBuckets small hashes, which stay
//     listpack-encoded (up to 128 entries, hash-max-listpack-entries). In a
//     listpack an entry costs its key and its owner plus about four bytes,
//     where a string key or a field of one big hash costs about 100 bytes
//     of overhead. The owner costs its length per entry, three per user
//     (about 60 bytes with 20-character IDs); a user ID that is a decimal
//     number, as CloudBase's are, costs about 10 bytes, since listpack stores
//     integers as integers. The bucket of a value is computed in Go only
//     (the scripts receive bucket keys in KEYS), and changing indexBuckets
//     needs a migration of the index.
//
// Together: 496.5 bytes per user at a million users, owners included
// (bench/memload redis -n 1000000), every index bucket still
// listpack-encoded; 389.6 with -values short (19-digit numeric user IDs).
//
// <contact> is the first 32 hex digits of SHA-256(channel ":" key): the key
// stays short and the contact itself does not appear in key names.
// <user-device> is the first 32 hex digits of SHA-256(user "\n" device): a
// device ID may hold ':', so joining the two as they are could name one
// key for two pairs.

// indexBuckets is how many hashes each unique index is spread over: 16384
// keeps the average bucket at about 61 entries at a million users, well
// inside listpack's 128, and compact up to about 1.5 million.
const indexBuckets = 1 << 14

// profileLayout is the order of the values in a profile string. The
// one-letter names are also how scripts and replies name the fields. New
// fields may only be appended; trailing empty values are left out.
var profileLayout = [...]string{
	fieldCreated, fieldUpdated,
	fieldNickname, fieldUsername, fieldPhone, fieldEmail, fieldAvatarURL, fieldGender, fieldDescription,
	fieldBirthdate, fieldZoneinfo, fieldLocale,
}

// profileSeparator joins a profile's values. It is a control character no
// field rule admits; Edit refuses values that contain it.
const profileSeparator = "\x1f"

// Profile fields, as the scripts name them.
const (
	fieldCreated     = "c" // Unix milliseconds
	fieldUpdated     = "m" // Unix milliseconds
	fieldNickname    = "n"
	fieldUsername    = "u"
	fieldPhone       = "p"
	fieldEmail       = "e"
	fieldAvatarURL   = "a"
	fieldGender      = "g"
	fieldDescription = "d"
	fieldBirthdate   = "b" // OIDC birthdate, YYYY-MM-DD
	fieldZoneinfo    = "z" // OIDC zoneinfo, an IANA time zone name
	fieldLocale      = "l" // OIDC locale, a canonical BCP 47 tag
)

// profileFields pairs each editable field's API name with its code, in the
// order edit.lua receives them.
var profileFields = [...]struct{ name, code string }{
	{"nickname", fieldNickname},
	{"username", fieldUsername},
	{"phone", fieldPhone},
	{"email", fieldEmail},
	{"avatar_url", fieldAvatarURL},
	{"gender", fieldGender},
	{"description", fieldDescription},
	{"birthdate", fieldBirthdate},
	{"zoneinfo", fieldZoneinfo},
	{"locale", fieldLocale},
}

// fieldCode maps an API field name to its code.
func fieldCode(name string) (string, bool) {
	for _, f := range profileFields {
		if f.name == name {
			return f.code, true
		}
	}
	return "", false
}

// fieldName maps a code back to its API name.
func fieldName(code string) (string, bool) {
	for _, f := range profileFields {
		if f.code == code {
			return f.name, true
		}
	}
	return "", false
}

// keys builds the key names of one environment.
type keys struct {
	base string // "<prefix>:{<env>}:"
	// filler is unused()'s answer, built once: Edit fills up to seven
	// KEYS slots with it on every call.
	filler string
	// eventsKey is events()'s answer, built once as well: every edit with
	// change events on names it.
	eventsKey string
	// patternBase is base as a SCAN pattern matches it (globEscape), for
	// every pattern below.
	patternBase string
}

func newKeys(prefix, env string) keys {
	base := prefix + ":{" + env + "}:"
	return keys{base: base, filler: base + "_", eventsKey: base + "events", patternBase: globEscape(base)}
}

func (k keys) profile(userID string) string        { return k.base + "p:" + userID }
func (k keys) profilePattern() string              { return k.patternBase + "p:*" }
func (k keys) profileUser(key string) string       { return strings.TrimPrefix(key, k.base+"p:") }
func (k keys) profilePrefix() string               { return k.base + "p:" }
func (k keys) editRate(userID string) string       { return k.base + "rl:" + userID }
func (k keys) verification(id string) string       { return k.base + "v:" + id }
func (k keys) verificationToken(t string) string   { return k.base + "vt:" + digest(t) }
func (k keys) sudoToken(t string) string           { return k.base + "st:" + digest(t) }
func (k keys) unused() string                      { return k.filler }
func (k keys) revokedToken(d string) string        { return k.base + "rt:" + d }
func (k keys) revokedUser(userID string) string    { return k.base + "ru:" + userID }
func (k keys) revocationSeq() string               { return k.base + "rs" }
func (k keys) revocationRate(userID string) string { return k.base + "rv:" + userID }
func (k keys) revocationLog() string               { return k.base + "rx" }
func (k keys) revocationEpoch() string             { return k.base + "re" }
func (k keys) revocationChannel() string           { return k.base + "rc" }

// revocationPattern matches the keys of revoked tokens, users and devices.
func (k keys) revocationPattern() string { return k.patternBase + "r[tud]:*" }

// globEscape makes s match itself only in a SCAN or KEYS pattern: an
// environment ID or key prefix such as "prod[1" would otherwise be a
// broken pattern matching nothing, and "prod*" would match other
// environments' keys too.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (k keys) revokedDevice(userID, device string) string {
	return k.base + "rd:" + deviceDigest(userID, device)
}

func deviceDigest(userID, device string) string {
	sum := sha256.Sum256([]byte(userID + "\n" + device))
	return hex.EncodeToString(sum[:16])
}
func (k keys) history(userID string) string { return k.base + "h:" + userID }

// editKeys is profile(target), and editRate(actor) and history(target) if
// asked (else unused(): the script's filler), in one allocation rather
// than one each: an edit makes all three.
func (k keys) editKeys(target, actor string, rate, history bool) (profileKey, rateKey, historyKey string) {
	size := len(k.base) + len("p:") + len(target)
	if rate {
		size += len(k.base) + len("rl:") + len(actor)
	}
	if history {
		size += len(k.base) + len("h:") + len(target)
	}
	var b strings.Builder
	b.Grow(size)
	part := func(kind, id string) (start, end int) {
		start = b.Len()
		b.WriteString(k.base)
		b.WriteString(kind)
		b.WriteString(id)
		return start, b.Len()
	}
	ps, pe := part("p:", target)
	var rs, re, hs, he int
	if rate {
		rs, re = part("rl:", actor)
	}
	if history {
		hs, he = part("h:", target)
	}
	all := b.String()
	profileKey, rateKey, historyKey = all[ps:pe], k.filler, k.filler
	if rate {
		rateKey = all[rs:re]
	}
	if history {
		historyKey = all[hs:he]
	}
	return profileKey, rateKey, historyKey
}
func (k keys) historyPattern() string { return k.patternBase + "h:*" }
func (k keys) events() string         { return k.eventsKey }

func (k keys) lastSend(channel, key string) string {
	return k.base + "vs:" + contactDigest(channel, key)
}

func (k keys) dailySends(channel, key string) string {
	return k.base + "vd:" + contactDigest(channel, key)
}

func (k keys) ownerLastSend(channel, key string) string {
	return k.base + "vso:" + contactDigest(channel, key)
}

func (k keys) ownerDailySends(channel, key string) string {
	return k.base + "vdo:" + contactDigest(channel, key)
}

func (k keys) callerMinuteSends(userID string) string { return k.base + "cm:" + userID }
func (k keys) callerDailySends(userID string) string  { return k.base + "cd:" + userID }

func (k keys) wrongCodes(clientIP string) string {
	return k.base + "vf:" + contactDigest("ip", clientIP)
}

func (k keys) lookups(clientIP string) string {
	return k.base + "lk:" + contactDigest("ip", clientIP)
}

// indexKinds maps the unique fields to their index's key kind.
var indexKinds = map[string]string{
	fieldUsername: "iu:",
	fieldPhone:    "ip:",
	fieldEmail:    "ie:",
}

// index is the bucket of field's index (fieldUsername, fieldPhone or
// fieldEmail) that holds uniqueness key key.
func (k keys) index(field, key string) string {
	return k.indexBucket(field, bucketOf(key))
}

func (k keys) indexBucket(field string, bucket uint32) string {
	// The bucket's digits on the stack: FormatUint would allocate them
	// apart from the key they are copied into.
	var digits [8]byte
	return k.base + indexKinds[field] + string(strconv.AppendUint(digits[:0], uint64(bucket), 16))
}

// bucketOf spreads uniqueness keys over the index buckets: 32-bit FNV-1a,
// written out to spare an allocation per call.
func bucketOf(key string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return h % indexBuckets
}

// uniqueKey is the uniqueness key of a stored display value of field:
// folded username, email with its domain in IDNA ASCII form, phone without
// its space, other fields as they are. It is the only definition: the
// scripts receive keys, for new values and for the current values the
// caller read, and never compute one.
func uniqueKey(field, display string) string {
	switch field {
	case fieldUsername:
		return profile.FoldKey(display)
	case fieldEmail:
		return profile.EmailKey(display)
	case fieldPhone:
		return profile.PhoneKey(display)
	}
	return display
}

// digest is the hex SHA-256 of a secret: what Redis holds instead of it.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// codeDigest binds a code to its verification, so a stored digest says
// nothing about the same code under another ID.
func codeDigest(id, code string) string { return digest(id + ":" + code) }

func contactDigest(channel, key string) string {
	sum := sha256.Sum256([]byte(channel + ":" + key))
	return hex.EncodeToString(sum[:16])
}
