// Package revoke answers "is this verified access token revoked?" for one
// authedge handler, cheaply and without ever letting a revoked token through
// for longer than a second after Redis recorded its revocation, whichever
// Caddy instance sharing that Redis recorded it. It knows nothing of HTTP or
// Caddy: handler asks it, caddymodule closes it with the handler.
//
// The design (docs/revocation.md and docs/DECISIONS.md tell why):
//
//   - Redis holds the revocations (store/revocation.go), and every one is
//     also an entry of a numbered log, written by the same script.
//   - It keeps a replica of every revocation (replica.go), so that a
//     token is judged in memory, without a round trip, and without
//     remembering anything per token: a site whose every request brings
//     a new token pays a few map lookups, and its memory does not grow
//     with the tokens.
//   - Without a replica (still loading, too big, lost with a gap in the
//     log), a Checker remembers, per token, the verdict Redis gave and
//     keeps it true by applying every log entry to what it remembers: a
//     revoked token's verdict turns to revoked, a user's or device's
//     cutoff turns the verdicts of the tokens it covers. A token checked
//     again costs a map lookup, not a round trip.
//   - It reads the log every PollInterval, and at once when the Pub/Sub
//     channel says there is a new entry. Its memory is trusted only while
//     the last complete read of the log began less than StaleAfter ago:
//     with Redis or the network down, every check goes to Redis, and fails.
package revoke

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.uber.org/zap"

	"github.com/authedge/caddy-authedge/store"
)

// Source is where revocations live: *store.Store.
type Source interface {
	RevocationState(ctx context.Context, tokenDigest, userID, deviceID string) (store.RevocationState, error)
	RevocationsSince(ctx context.Context, after uint64, limit int) (epoch string, seq uint64, at string, entries []store.Revocation, err error)
	WatchRevocations(refused func(error)) (nudges <-chan struct{}, stop func() error)
	RevocationSnapshot(ctx context.Context, fn func(store.Revocation)) (epoch string, seq uint64, err error)
}

// Defaults of the Options left zero.
const (
	DefaultPollInterval = 250 * time.Millisecond
	DefaultStaleAfter   = 750 * time.Millisecond
	DefaultCacheSize    = 100_000
)

// Options tunes a Checker. The zero value is the defaults.
type Options struct {
	// PollInterval is how often the revocation log is read when no
	// Pub/Sub message says to read it sooner.
	PollInterval time.Duration
	// StaleAfter is how long after the start of the last complete read of
	// the log the remembered verdicts are trusted: the longest a revoked
	// token can pass here. It must exceed PollInterval.
	StaleAfter time.Duration
	// CacheSize bounds the remembered verdicts, kept only while no
	// replica is loaded. Negative: remember none; without a replica, ask
	// Redis on every check.
	CacheSize int
	// ReplicaSize bounds the revocations kept in memory to judge tokens
	// never checked before without Redis (replica.go); 0 means
	// DefaultReplicaSize, negative keeps none.
	ReplicaSize int
	// Logger receives debug lines when the log cannot be read. nil: none.
	Logger *zap.Logger
}

// Token is what a check needs of a verified access token.
type Token struct {
	// Raw is the compact JWS as presented.
	Raw string
	// ContentDigest is the SHA-256 of store.TokenContent(Raw), the name
	// Redis and the log give the token, if the caller has it already (the
	// verifier hashes that content to check an RS256 or ES256 signature,
	// token.Claims.ContentDigest); zero: the check computes it. A wrong
	// one would let a revoked token through: give it only from the same
	// Raw.
	ContentDigest [sha256.Size]byte
	// Subject is sub; DeviceID the device claim ("" if unbound).
	Subject  string
	DeviceID string
	// IssuedAt is iat; zero if the token has none (it then counts as
	// issued before any cutoff).
	IssuedAt time.Time
}

// Checker decides whether tokens are revoked. Safe for concurrent use.
type Checker struct {
	src  Source
	opts Options
	log  *zap.Logger
	// refusedLoad and refusedSync: Redis's ACL refused a command of the
	// snapshot (of the log's read), and that was logged: once is enough.
	refusedLoad, refusedSync atomic.Bool

	// seeds key the verdicts (see tokenKey).
	seeds [2]maphash.Seed

	mu sync.RWMutex
	// verdicts by tokenKey, and the key of each token's SHA-256 (the log
	// names revoked tokens by digest). Only while rep is nil: with a
	// replica, nothing is remembered per token.
	verdicts map[tokenKey]*verdict
	byDigest map[[sha256.Size]byte]tokenKey
	// bySubject heads each user's list of verdicts (verdict.prev, next):
	// a user's or device's cutoff touches only those, however many tokens
	// are remembered, for two pointers per verdict rather than a map per
	// user.
	bySubject map[string]*verdict
	// rep is every revocation, when loaded (replica.go); replicaAt is when
	// a load was last tried, and replicaWait how long after it the next
	// may be; pruned when rep was last pruned.
	rep         *replica
	replicaAt   time.Time
	replicaWait time.Duration
	pruned      time.Time
	// applied is the last log entry the verdicts reflect.
	applied uint64
	// resets counts the times everything known was forgotten (reset): a
	// verdict read from Redis before one may come from the log forgotten,
	// whose numbers say nothing of the new one's.
	resets uint64
	// epoch names the log applied is a number of: a log Redis began anew
	// reuses the numbers, and only its epoch tells it apart.
	epoch string
	// nonce is the Nonce of entry applied, "" if unknown: a log that lost
	// its last entries in a failover keeps its epoch and reuses their
	// numbers, and only the nonce tells the new entry from the applied one.
	nonce string
	// unread: applied was reached without reading its entry (a reset, or
	// a skip past more entries than one read takes), so its nonce is not
	// known until the next read of the log. Meanwhile a failover that
	// reuses applied's number could not be told from the entry applied:
	// no verdict is remembered and the replica does not judge.
	unread bool
	// loadedAt is the log entry the last replica's snapshot was taken at
	// (0 until a load, and after a reset): its last entries are read
	// again after the load (replayAfterLoad), and entries missing among
	// them are no gap, since the snapshot holds what they revoked. A
	// replica dropped over its budget leaves it set, harmlessly: applied
	// is past it by then, and no later entry is at or below it.
	loadedAt uint64
	// synced is when the last complete read of the log began (Unix
	// nanoseconds, monotonic enough: see fresh); 0 before the first,
	// and after a replica was installed behind the log (loadReplica).
	synced atomic.Int64

	startOnce sync.Once
	closeOnce sync.Once
	// life ends with Close: a read of the log in flight stops at once.
	life    context.Context
	endLife context.CancelFunc
	done    chan struct{}
	stopped chan struct{}
	started atomic.Bool
}

// tokenKey names a token in memory: two 64-bit hashes of it under secret
// random seeds. Hashing the token on every check with SHA-256 would cost
// about 2 µs on CPUs without SHA instructions, and keeping the token
// itself about a kilobyte per entry; this costs some 150 ns and 16 bytes,
// and two tokens meet on one key with odds of 2^-128, seeds no client can
// learn.
type tokenKey [2]uint64

// tokenKey keys a token's verdict by its signed content
// (store.TokenContent), as its digest is: every valid signature over the
// same content shares one verdict, so a log entry that turns one turns
// them all (store.TokenDigest).
func (c *Checker) tokenKey(content string) tokenKey {
	return tokenKey{maphash.String(c.seeds[0], content), maphash.String(c.seeds[1], content)}
}

// verdict is what Redis said of one token, kept true by the log.
type verdict struct {
	key     tokenKey
	digest  [sha256.Size]byte
	subject string
	device  string
	iat     time.Time
	revoked bool
	// prev and next link the verdicts of one subject (Checker.bySubject).
	prev, next *verdict
}

// New builds a Checker. Its log reader starts with the first check.
func New(src Source, opts Options) (*Checker, error) {
	if src == nil {
		return nil, errors.New("revoke: no Source")
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.StaleAfter == 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.ReplicaSize == 0 {
		opts.ReplicaSize = DefaultReplicaSize
	}
	if opts.PollInterval < 0 || opts.StaleAfter <= opts.PollInterval {
		return nil, errors.New("revoke: StaleAfter must exceed a positive PollInterval")
	}
	c := &Checker{
		src:      src,
		opts:     opts,
		log:      opts.Logger,
		seeds:    [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		verdicts: make(map[tokenKey]*verdict),
		byDigest: make(map[[sha256.Size]byte]tokenKey),

		bySubject: make(map[string]*verdict),
		done:      make(chan struct{}),
		stopped:   make(chan struct{}),
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	c.life, c.endLife = context.WithCancel(context.Background())
	return c, nil
}

// Revoked reports whether t, already verified, is revoked. An error means
// Redis could not say (store.ErrUnavailable): the caller must refuse the
// token as unverifiable, never accept it.
func (c *Checker) Revoked(ctx context.Context, t Token) (bool, error) {
	c.startOnce.Do(c.start)
	fresh := c.fresh()
	if fresh {
		if revoked, ok := c.fromReplica(&t); ok {
			return revoked, nil
		}
	}
	content := store.TokenContent(t.Raw)
	if fresh {
		key := c.tokenKey(content)
		c.mu.RLock()
		v := c.verdicts[key]
		var revoked bool
		if v != nil {
			revoked = v.revoked
		}
		c.mu.RUnlock()
		if v != nil {
			return revoked, nil
		}
	}
	d := contentDigest(&t)
	c.mu.RLock()
	resets := c.resets
	c.mu.RUnlock()
	st, err := c.src.RevocationState(ctx, hex.EncodeToString(d[:]), t.Subject, t.DeviceID)
	if err != nil {
		return false, err
	}
	revoked := st.TokenRevoked || covers(st.UserCutoff, t.IssuedAt) ||
		(t.DeviceID != "" && covers(st.DeviceCutoff, t.IssuedAt))
	c.remember(content, d, t, revoked, st.Seq, resets)
	return revoked, nil
}

// RevokedItself reports whether t was revoked by its own digest, its
// user's and device's cutoffs left aside: a token's own revocation lasts
// to its end, where a cutoff may end first (POST /auth/v1/revoke asks it
// of a token that may outlive a cutoff). It remembers nothing; an error is
// Revoked's.
func (c *Checker) RevokedItself(ctx context.Context, t Token) (bool, error) {
	c.startOnce.Do(c.start)
	d := contentDigest(&t)
	if c.fresh() {
		c.mu.RLock()
		if c.rep != nil && !c.unread {
			_, revoked := c.rep.tokens[d]
			c.mu.RUnlock()
			return revoked, nil
		}
		c.mu.RUnlock()
	}
	st, err := c.src.RevocationState(ctx, hex.EncodeToString(d[:]), t.Subject, "")
	if err != nil {
		return false, err
	}
	return st.TokenRevoked, nil
}

// fromReplica judges t from the replica, remembering nothing: the
// replica is kept true by the same log that would keep a verdict true,
// so a verdict would save only the lookups it costs. ok is false without
// a replica. Called only while fresh.
func (c *Checker) fromReplica(t *Token) (revoked, ok bool) {
	given := t.ContentDigest != ([sha256.Size]byte{})
	c.mu.RLock()
	if c.rep == nil || c.unread {
		c.mu.RUnlock()
		return false, false
	}
	if given {
		revoked = c.rep.revokes(t.ContentDigest, t)
		c.mu.RUnlock()
		return revoked, true
	}
	c.mu.RUnlock()
	// Hashed outside the lock: the log reader waits for no SHA-256.
	d := contentDigest(t)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.rep == nil || c.unread {
		return false, false
	}
	return c.rep.revokes(d, t), true
}

// contentDigest is t's ContentDigest, computed from its content if not
// given. The content's bytes are hashed in place: []byte(content) would
// copy the token to the heap on every check, and sha256.Sum256 neither
// keeps nor changes its input.
func contentDigest(t *Token) [sha256.Size]byte {
	if t.ContentDigest != ([sha256.Size]byte{}) {
		return t.ContentDigest
	}
	content := store.TokenContent(t.Raw)
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(content), len(content)))
}

// covers reports whether a cutoff revokes a token issued at iat: issued at
// or before it, in whole seconds as iat is given; no iat counts as before.
func covers(cutoff, iat time.Time) bool {
	if cutoff.IsZero() {
		return false
	}
	return iat.IsZero() || iat.Unix() <= cutoff.Unix()
}

// remember keeps the verdict Redis gave t, read at log entry seq when
// c.resets was resets. A verdict read before the last entry applied may miss
// that entry, and is dropped: the next check asks Redis again. So is one
// read before a reset: it may come from the log Redis lost, numbered
// past the new log's entries, which would then never turn it. With a
// replica nothing is remembered: the replica judges.
func (c *Checker) remember(content string, digest [sha256.Size]byte, t Token, revoked bool, seq, resets uint64) {
	if c.opts.CacheSize < 0 {
		return
	}
	key := c.tokenKey(content)
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq < c.applied || resets != c.resets || c.rep != nil || c.unread {
		return
	}
	if old := c.verdicts[key]; old != nil {
		c.forget(old)
	} else if len(c.verdicts) >= c.opts.CacheSize {
		c.evictOne()
	}
	v := &verdict{key: key, digest: digest, subject: t.Subject, device: t.DeviceID, iat: t.IssuedAt, revoked: revoked}
	c.verdicts[key] = v
	c.byDigest[digest] = key
	if head := c.bySubject[v.subject]; head != nil {
		v.next, head.prev = head, v
	}
	c.bySubject[v.subject] = v
}

// forget drops v. Called with mu held.
func (c *Checker) forget(v *verdict) {
	delete(c.verdicts, v.key)
	delete(c.byDigest, v.digest)
	switch {
	case v.prev != nil:
		v.prev.next = v.next
	case v.next != nil:
		c.bySubject[v.subject] = v.next
	default:
		delete(c.bySubject, v.subject)
	}
	if v.next != nil {
		v.next.prev = v.prev
	}
	v.prev, v.next = nil, nil
}

// evictOne drops an arbitrary verdict (Go's map iteration order is
// random): cheap, and a dropped verdict costs only a round trip later.
// Called with mu held.
func (c *Checker) evictOne() {
	for _, v := range c.verdicts {
		c.forget(v)
		return
	}
}

// CatchUp reads the revocation log now, for an instance that has just
// written a revocation: its own next check must not wait for the reader.
// A failure leaves it to the reader (and to staleness).
func (c *Checker) CatchUp(ctx context.Context) error {
	if !c.started.Load() {
		return nil // nothing checked, nothing remembered
	}
	select {
	case <-c.done:
		return nil // closed: no reader keeps the memory fresh, so none is trusted
	default:
	}
	return c.sync(ctx)
}

// Fresh reports whether the remembered verdicts may answer checks now (the
// log reader is keeping up); while not, every check asks Redis.
func (c *Checker) Fresh() bool { return c.fresh() }

// Replicated reports whether the copy of every revocation is loaded, so
// that tokens never checked before are judged without Redis while Fresh.
func (c *Checker) Replicated() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rep != nil
}

// fresh reports whether the replica and the remembered verdicts may
// answer: the last complete read of the log began less than StaleAfter
// ago.
func (c *Checker) fresh() bool {
	at := c.synced.Load()
	return at != 0 && time.Duration(nanotime()-at) < c.opts.StaleAfter
}

// Close stops the log reader and its subscription. The Checker still
// answers afterwards, from Redis on every check.
func (c *Checker) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		c.endLife()
		// A Checker never checked has no reader to wait for; one whose
		// start races with Close sees done closed and returns at once.
		c.startOnce.Do(func() {})
		if c.started.Load() {
			<-c.stopped
		}
	})
	return nil
}
