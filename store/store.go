// Package store keeps profiles, their unique indexes and the verification
// state in Redis. Lua scripts (scripts/*.lua, embedded) are the only writers:
// one script per operation, all its keys under the environment's hash tag,
// run with EVALSHA and reloaded on NOSCRIPT. It knows nothing about HTTP or
// tokens beyond the opaque strings it is handed.
//
// Choices made where docs/storage.md is silent:
//   - A profile is one string of its values (keys.go says why); times in it
//     are Unix milliseconds. updated_at moves only when an
//     edit changes a stored value (or creates the profile), and always at
//     least a millisecond past its last value, since it names the change's
//     history entry (record.go); a no-op edit still counts toward the rate
//     limit.
//   - A unique-index entry names its owner's user ID; every uniqueness key
//     is computed in Go, and the scripts only compare (keys.go,
//     docs/storage.md).
//   - Every operation is one attempt bounded by Options.Timeout: a script is
//     never sent twice after a timeout, since the first may have run.
//   - Secrets are stored only as SHA-256 digests: codes bound to their
//     verification ID, verification and sudo tokens by themselves. Contacts
//     in send-limit key names are digested too.
//   - The send limits are a 60 s marker and a day counter per contact
//     (channel and key), the day a fixed window from the first send.
package store

import (
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configures a Store.
type Options struct {
	// Addresses: one is a single node, more is a Redis Cluster.
	Addresses []string
	// SentinelMaster, instead of Addresses, is the name under which the
	// Sentinels at SentinelAddresses monitor the master; SentinelPassword
	// is theirs. The store follows the master they elect.
	SentinelMaster    string
	SentinelAddresses []string
	SentinelPassword  string
	// ReadFromReplicas sends the reads that may lag (EnsureProfile's read,
	// ProfileMayLag, ProfilesByID) to a replica: a Sentinel's, or a
	// Cluster's replica of the environment's slot, or the master when the
	// replica does not answer (getMayLag). Never the reads that decide a
	// write.
	ReadFromReplicas bool
	Username         string
	Password         string
	DB               int
	TLS              bool
	// Prefix and EnvironmentID make every key "<prefix>:{<env>}:...".
	Prefix        string
	EnvironmentID string
	// Timeout bounds every operation, dial included; zero means the
	// default, negative is refused.
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Hooks are added to the go-redis client, in order (metrics: the
	// commands' latency and errors, docs/metrics.md).
	Hooks []redis.Hook
	// WaitReplicas, when positive, makes every write script be followed
	// by WAIT on the same connection: the write is acknowledged only once
	// that many replicas have it, and is ErrUnavailable (it may stand on
	// the master) when fewer confirm within WaitTimeout.
	WaitReplicas int
	WaitTimeout  time.Duration
}

// Profile is a user's stored profile. Empty strings are absent values.
type Profile struct {
	UserID      string
	Nickname    string
	Username    string
	Phone       string // display form "+86 13000000000"
	Email       string
	AvatarURL   string
	Gender      string
	Description string
	Birthdate   string // OIDC birthdate, YYYY-MM-DD
	Zoneinfo    string // OIDC zoneinfo, an IANA time zone name
	Locale      string // OIDC locale, a canonical BCP 47 tag
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Changes are the fields an edit sets, already validated and normalised.
// nil means "leave as is"; a pointer to "" removes the value (never for
// Nickname or Username, which the handler refuses to clear).
type Changes struct {
	Nickname    *string
	Username    *string
	Phone       *string // display form; its key is derived by removing the space
	Email       *string
	AvatarURL   *string
	Gender      *string
	Description *string
	Birthdate   *string
	Zoneinfo    *string
	Locale      *string
}

// Limit is a fixed-window rate limit.
type Limit struct {
	Count  int
	Window time.Duration
}

// Edit is one atomic profile update.
type Edit struct {
	// Actor is the caller's user ID: the rate limit is per caller.
	Actor string
	// Target is the user being edited.
	Target string
	// CreateIfMissing creates the profile when Target has none (a user
	// editing themselves); otherwise a missing profile is ErrUserNotFound.
	CreateIfMissing bool
	Changes         Changes
	// RateLimit counts this edit against Actor; zero Count means no limit.
	RateLimit Limit
	// SudoSatisfied false makes the script refuse (ErrSudoRequired) to
	// replace or remove an already bound value of a field in Sensitive, and
	// to bind a first phone or email while the other contact is bound and
	// in Sensitive (docs/storage.md).
	SudoSatisfied bool
	// Sensitive are the fields ("phone", "email") that need sudo.
	Sensitive FieldSet
	// VerifyChannels names the contacts ("phone", "email") whose change to
	// a new non-empty value (one whose key differs from the bound one)
	// needs VerificationToken: missing is ErrVerificationRequired, not
	// matching (user, channel, key) or spent is
	// ErrInvalidVerificationToken. A valid token is consumed by the edit.
	VerifyChannels    FieldSet
	VerificationToken string
	// Origin, if set, is where the edit came from: the edit's script
	// records a change in the target's history and, with Events, as an
	// event in the environment's stream (record.go). nil records nothing:
	// for tools and measurements; every request passes one.
	Origin *Origin
	// Events appends the change's event to the stream; it needs Origin.
	Events EventStream
	// Current, if the caller has read the target's profile, is that
	// profile: the script starts from its username, phone and email. nil
	// guesses the target has none, as on a first edit. A wrong start costs
	// a second script, never a wrong write.
	Current *Profile
}

// FieldSet is a set of profile fields in the form edit.lua takes them.
// Edits take their sets from configuration: they are named and checked
// once, by NewFieldSet or NewContactSet, not on every edit.
type FieldSet struct{ codes string }

// NewFieldSet is the set of the named editable fields ("nickname",
// "phone", ...).
func NewFieldSet(names ...string) (FieldSet, error) {
	codes, err := fieldCodes(names, false)
	return FieldSet{codes}, err
}

// NewContactSet is the set of the named contact fields: "phone", "email".
func NewContactSet(names ...string) (FieldSet, error) {
	codes, err := fieldCodes(names, true)
	return FieldSet{codes}, err
}

// EditResult says what an applied edit changed.
type EditResult struct {
	// Changed lists the profile fields whose stored value changed
	// (nickname, username, phone, email, avatar_url, gender, description,
	// birthdate, zoneinfo, locale).
	Changed []string
	// Created reports that the profile was created by this edit.
	Created bool
}

var (
	// ErrUserNotFound: the target has no profile.
	ErrUserNotFound = errors.New("store: user not found")
	// ErrSudoRequired: a sensitive bound value would change without sudo.
	ErrSudoRequired = errors.New("store: sudo required")
	// ErrVerificationRequired: a contact change needs a verification token.
	ErrVerificationRequired = errors.New("store: verification required")
	// ErrInvalidVerificationToken: the token is unknown, expired, spent, or
	// bound to another user, channel or contact.
	ErrInvalidVerificationToken = errors.New("store: invalid verification token")
	// ErrInvalidCode: unknown, expired or killed verification, or a wrong code.
	ErrInvalidCode = errors.New("store: invalid verification code")
	// ErrNotBound: a CUR_USER send names a contact that is not the
	// requester's bound one (any more).
	ErrNotBound = errors.New("store: the contact is not bound to the requester")
	// ErrUnavailable wraps every failure to reach Redis (timeouts, refused
	// connections, LOADING, cluster down). errors.Is(err, ErrUnavailable).
	ErrUnavailable = errors.New("store: unavailable")
)

// ConflictError: Field ("username", "phone", "email") is bound to another user.
type ConflictError struct{ Field string }

func (e *ConflictError) Error() string { return "store: " + e.Field + " already exists" }

// RateLimitedError: too many events; retry after RetryAfter.
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string { return "store: rate limited" }

// The rest of the API lives with its concern: New, Close and Ping in
// redis.go; Profile and EnsureProfile in profile.go; Edit in edit.go; the
// verification codes, tokens and sudo in verification.go; Audit in
// audit.go. The key layout is keys.go, the scripts scripts/*.lua.
