package revoke

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"go.uber.org/zap"

	"github.com/authedge/caddy-authedge/store"
)

// readBatch is how many log entries one read takes.
const readBatch = 512

// monoEpoch makes nanotime monotonic (time.Since uses the monotonic clock)
// and never 0, which fresh reads as "never synced".
var monoEpoch = time.Now()

func nanotime() int64 { return int64(time.Since(monoEpoch)) + 1 }

// start launches the log reader: once, on the first check.
func (c *Checker) start() {
	select {
	case <-c.done:
		return // closed before any check
	default:
	}
	c.started.Store(true)
	go c.run()
}

// run reads the log every PollInterval, and when the channel nudges,
// until Close.
func (c *Checker) run() {
	defer close(c.stopped)
	nudges, stopWatch := c.src.WatchRevocations(func(err error) {
		// An operator's mistake, not an outage: said once, at warn.
		c.log.Warn("revocations made on other instances reach this one only by polling, every "+
			c.opts.PollInterval.String()+": give the Redis user the revocation channel (docs/configuration.md, \"A Redis ACL user\")",
			zap.Error(err))
	})
	defer func() { _ = stopWatch() }()
	ticker := time.NewTicker(c.opts.PollInterval)
	defer ticker.Stop()
	for {
		c.syncOnce()
		select {
		case <-c.done:
			return
		case <-ticker.C:
		case _, ok := <-nudges:
			if !ok {
				nudges = nil // reading from nil blocks: the ticker goes on alone
			}
		}
	}
}

// syncOnce reads the log once, bounded by the time the memory stays
// trusted, and logs a failure at debug: the checks themselves answer 503
// once the memory goes stale. A refusal by Redis's ACL is logged once at
// warn: the checks then work, asking Redis, and would show nothing.
func (c *Checker) syncOnce() {
	// Only the reader loads a replica: CatchUp, which a request waits
	// for, never does.
	c.mu.RLock()
	load := c.wantReplica()
	c.mu.RUnlock()
	if load {
		c.loadReplica()
	}
	ctx, cancel := context.WithTimeout(c.life, c.opts.StaleAfter)
	defer cancel()
	if err := c.sync(ctx); err != nil {
		// Redis refusing a command to its user is no outage, which the
		// checks' 503s would show: said once, at warn.
		if store.Refused(err) && c.refusedSync.CompareAndSwap(false, true) {
			c.log.Warn("revocation log not read: Redis refused a command to its user, so token checks ask Redis; "+
				"see docs/configuration.md, \"A Redis ACL user\"", zap.Error(err))
			return
		}
		if ce := c.log.Check(zap.DebugLevel, "revocation log not read"); ce != nil {
			ce.Write(zap.Error(err))
		}
	}
}

// sync brings the verdicts up to the log's last entry. Only when it has
// read to the end does it mark the memory fresh, as of when it began: a
// revocation recorded after that moment may not be applied yet.
func (c *Checker) sync(ctx context.Context) error {
	began := nanotime()
	for {
		c.mu.RLock()
		after := c.applied
		c.mu.RUnlock()
		epoch, seq, at, entries, err := c.src.RevocationsSince(ctx, after, readBatch)
		if err != nil {
			return err
		}
		if c.apply(began, after, epoch, seq, at, entries) {
			c.prune()
			return nil
		}
	}
}

// apply applies entries read after after, with seq the log's last entry
// number, epoch its name and at the nonce of its entry after, and reports
// whether the verdicts now reflect all of it; if so, it marks the memory
// fresh as of began, the start of the read.
func (c *Checker) apply(began int64, after uint64, epoch string, seq uint64, at string, entries []store.Revocation) (done bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Marked under the lock: a replica installed behind the log unmarks
	// it (loadReplica), and a read that ended before that install must
	// not mark it again.
	defer func() {
		if done {
			c.synced.Store(began)
		}
	}()
	if c.applied != after {
		return false // CatchUp's read and run's crossed: read again
	}
	known := c.nonce
	if known == "" {
		// Unknown since a reset: the entry the state was read at is
		// taken as the log holds it now.
		c.nonce, c.unread = at, false
	}
	switch {
	case epoch != c.epoch && c.epoch == "" && c.applied == 0:
		// The first entry of a log this reader knew empty: nothing it
		// knows came from another log, so it adopts this one and applies
		// the entries (below) instead of forgetting everything.
		c.epoch = epoch
	case epoch != c.epoch:
		// Redis lost the log and began another (a restart without
		// persistence, a failover to a replica that never had it): its
		// numbers may be ones already applied from the lost one, so
		// nothing known is trusted.
		c.reset(seq)
		c.epoch = epoch
		return true
	case known != "" && at != "" && at != known:
		// The log's entry numbered after is not the one applied: Redis
		// lost the log's last entries (a failover to a replica that
		// missed them) and numbered new ones as those were. The new ones
		// at or below after would never be read, so nothing known is
		// trusted.
		c.reset(seq)
		return true
	case seq == after:
		return true
	case seq < after:
		// Redis lost revocations: start again from what it holds.
		c.reset(seq)
		return true
	case len(c.verdicts) == 0 && c.rep == nil:
		// Nothing is remembered that an entry could change. The nonce
		// of entry seq, when read, is kept: a verdict read at seq may be
		// remembered next, and only the nonce tells if a failover then
		// numbers a new entry seq.
		c.applied, c.nonce = seq, ""
		if n := len(entries); n > 0 && entries[n-1].Seq == seq {
			c.nonce = entries[n-1].Nonce
		} else {
			// More entries than one read takes: entry seq is read next.
			c.unread = true
		}
		return true
	}
	for _, e := range entries {
		if e.Seq != c.applied+1 && e.Seq > c.loadedAt+1 {
			// Entries were trimmed or lost before this reader saw them.
			c.reset(seq)
			return true
		}
		c.applyEntry(e)
		c.applied, c.nonce = e.Seq, e.Nonce
	}
	if len(entries) == 0 {
		c.reset(seq) // seq is ahead but the log holds nothing after us
		return true
	}
	return c.applied >= seq
}

// reset forgets every verdict, and the replica: what they missed cannot be
// known. The next read of the log loads a new replica.
func (c *Checker) reset(seq uint64) {
	c.rep = nil
	c.replicaAt = time.Time{}
	clear(c.verdicts)
	clear(c.byDigest)
	clear(c.bySubject)
	c.applied, c.nonce = seq, ""
	c.unread = seq > 0
	c.loadedAt = 0
	c.resets++
}

// applyEntry turns the verdicts one revocation covers. Revocations are
// final until the token ends, so a verdict turned revoked stays so.
func (c *Checker) applyEntry(e store.Revocation) {
	if c.rep != nil && !c.rep.add(e) {
		c.reset(c.applied)
		return
	}
	if c.rep != nil && c.rep.size() > c.opts.ReplicaSize {
		// The budget bounds the replica's memory after its load as well:
		// past it, new tokens go to Redis as they would had the load
		// found as many. The verdicts are empty (none is kept beside a
		// replica), so nothing else is forgotten.
		c.rep = nil
		c.replicaAt, c.replicaWait = time.Now(), replicaOverBudgetRetry
		if ce := c.log.Check(zap.InfoLevel, "more revocations than the replica holds: new tokens are checked in Redis"); ce != nil {
			ce.Write(zap.Int("replica_size", c.opts.ReplicaSize))
		}
	}
	switch e.Kind {
	case store.RevokedToken:
		var d [sha256.Size]byte
		if n, err := hex.Decode(d[:], []byte(e.TokenDigest)); err != nil || n != len(d) {
			// Not a digest this reader wrote: it cannot say which
			// verdict it is about, so none is trusted.
			c.reset(c.applied)
			return
		}
		if key, ok := c.byDigest[d]; ok {
			c.verdicts[key].revoked = true
		}
	case store.RevokedUser, store.RevokedDevice:
		for v := c.bySubject[e.UserID]; v != nil; v = v.next {
			if e.Kind == store.RevokedDevice && v.device != e.DeviceID {
				continue
			}
			if covers(e.Cutoff, v.iat) {
				v.revoked = true
			}
		}
	}
}

// prune drops ended revocations from the replica, once a prunePeriod.
func (c *Checker) prune() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rep != nil && time.Since(c.pruned) >= prunePeriod {
		c.rep.prune(time.Now())
		c.pruned = time.Now()
	}
}
