package revoke

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"go.uber.org/zap"

	"github.com/authedge/caddy-authedge/store"
)

// A replica is every revocation Redis holds, loaded once from a snapshot
// and kept by the same log entries that keep the verdicts. With it, a token
// never checked before is judged in memory (a SHA-256 and three lookups)
// instead of with a round trip: what a site whose clients each bring a new
// token pays on every request. It is an accelerator only: without one (not
// loaded yet, too big, lost with a gap in the log) a new token's verdict
// comes from Redis.

// DefaultReplicaSize bounds a replica: past it, revocations are not kept
// in memory (about 100 bytes each) and new tokens are read from Redis.
const DefaultReplicaSize = 250_000

// replicaRetry is how soon a replica that could not be loaded is tried
// again.
const replicaRetry = 10 * time.Second

// replicaOverBudgetRetry is how soon a replica found over its budget is
// tried again: revocations end with their tokens, over hours, and each try
// scans the node's keys until it is over the budget again.
const replicaOverBudgetRetry = 5 * time.Minute

// replicaLoadTimeout bounds one load; checks meanwhile go to Redis.
const replicaLoadTimeout = 30 * time.Second

// prunePeriod is how often ended revocations leave the replica.
const prunePeriod = time.Minute

type replica struct {
	tokens  map[[sha256.Size]byte]int64 // revoked token → its end, Unix ms
	users   map[string]int64            // user → cutoff, Unix s
	devices map[string]int64            // store.DeviceDigest → cutoff, Unix s
}

func newReplica() *replica {
	return &replica{
		tokens:  make(map[[sha256.Size]byte]int64),
		users:   make(map[string]int64),
		devices: make(map[string]int64),
	}
}

func (r *replica) size() int { return len(r.tokens) + len(r.users) + len(r.devices) }

// add records one revocation; cutoffs only move forward.
func (r *replica) add(e store.Revocation) bool {
	switch e.Kind {
	case store.RevokedToken:
		var d [sha256.Size]byte
		if n, err := hex.Decode(d[:], []byte(e.TokenDigest)); err != nil || n != len(d) {
			return false
		}
		r.tokens[d] = max(r.tokens[d], e.Until.UnixMilli())
	case store.RevokedUser:
		r.users[e.UserID] = max(r.users[e.UserID], e.Cutoff.Unix())
	case store.RevokedDevice:
		r.devices[e.DeviceDigest] = max(r.devices[e.DeviceDigest], e.Cutoff.Unix())
	default:
		return false
	}
	return true
}

// revokes judges a token as Redis would.
func (r *replica) revokes(digest [sha256.Size]byte, t *Token) bool {
	if _, ok := r.tokens[digest]; ok {
		return true
	}
	if cut, ok := r.users[t.Subject]; ok && coversUnix(cut, t.IssuedAt) {
		return true
	}
	// A device's digest is a SHA-256 and two allocations: not worth
	// computing when no device is revoked, as is usual.
	if t.DeviceID != "" && len(r.devices) > 0 {
		if cut, ok := r.devices[store.DeviceDigest(t.Subject, t.DeviceID)]; ok && coversUnix(cut, t.IssuedAt) {
			return true
		}
	}
	return false
}

func coversUnix(cutoff int64, iat time.Time) bool { return iat.IsZero() || iat.Unix() <= cutoff }

// prune drops revocations no token can need any more: tokens past their
// end, cutoffs older than Redis keeps them.
func (r *replica) prune(now time.Time) {
	ms := now.UnixMilli()
	for d, until := range r.tokens {
		if until < ms {
			delete(r.tokens, d)
		}
	}
	oldest := now.Add(-store.RevocationHorizon).Unix()
	for u, cut := range r.users {
		if cut < oldest {
			delete(r.users, u)
		}
	}
	for d, cut := range r.devices {
		if cut < oldest {
			delete(r.devices, d)
		}
	}
}

// loadReplica replaces the replica, and the verdicts with it, by a
// snapshot of Redis's revocations; the log entries after the snapshot are
// then applied by sync. A failure or a snapshot over the budget leaves no
// replica and tries again later.
func (c *Checker) loadReplica() {
	ctx, cancel := context.WithTimeout(c.life, replicaLoadTimeout)
	defer cancel()
	c.mu.RLock()
	resets := c.resets
	c.mu.RUnlock()
	rep := newReplica()
	tooBig := false
	epoch, seq, err := c.src.RevocationSnapshot(ctx, func(e store.Revocation) {
		if tooBig {
			return
		}
		if rep.size() >= c.opts.ReplicaSize {
			// The rest of the scan, through every key of the node,
			// would be read for nothing: it ends here.
			tooBig = true
			cancel()
			return
		}
		rep.add(e)
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replicaAt = time.Now()
	c.replicaWait = replicaRetry
	switch {
	case tooBig: // err is the scan cut short
		c.replicaWait = replicaOverBudgetRetry
		if ce := c.log.Check(zap.InfoLevel, "more revocations than the replica holds: new tokens are checked in Redis"); ce != nil {
			ce.Write(zap.Int("replica_size", c.opts.ReplicaSize))
		}
		return
	case err != nil:
		if store.Refused(err) && c.refusedLoad.CompareAndSwap(false, true) {
			c.log.Warn("revocations not loaded: Redis refused a command to its user, so every token check asks Redis; "+
				"see docs/configuration.md, \"A Redis ACL user\"", zap.Error(err))
			return
		}
		if ce := c.log.Check(zap.DebugLevel, "revocations not loaded"); ce != nil {
			ce.Write(zap.Error(err))
		}
		return
	}
	// The verdicts go too: they reflect the log up to c.applied, which
	// may be past seq, and the log from seq on is applied to both next.
	// The snapshot names its log, so that the next read of that log does
	// not take it for another and drop the replica just loaded.
	if seq < c.applied || resets != c.resets || (c.epoch != "" && epoch != c.epoch) {
		// A read of the log (CatchUp's, on the instance that has just
		// revoked) went past the snapshot while it was taken, forgot
		// what was known (the log went back, and its numbers were used
		// again), or took up another log than the snapshot's (Redis
		// lost its log and began a new one meanwhile): the replica lacks
		// revocations the memory was trusted to know, so checks ask
		// Redis until the next read brings it up to them.
		c.synced.Store(0)
	}
	c.reset(seq)
	// The snapshot's last entries are read again, and applied to the
	// replica, which changes nothing for those it holds. A failover just
	// after the snapshot, to a replica that missed them, gives their
	// numbers to new revocations, and the snapshot carries no nonce to
	// tell those apart: read only from seq on, they would never reach
	// the replica.
	c.applied = seq - min(seq, replayAfterLoad)
	c.unread = c.applied > 0
	c.loadedAt = seq
	c.epoch = epoch
	c.rep = rep
	c.pruned = time.Now()
}

// replayAfterLoad is how many of a snapshot's last log entries are read
// again after it is loaded: one read's worth, far more than a replica lags
// behind its master.
const replayAfterLoad = readBatch

// wantReplica reports whether a replica should be loaded now. Called
// with mu held.
func (c *Checker) wantReplica() bool {
	return c.opts.ReplicaSize > 0 && c.rep == nil && time.Since(c.replicaAt) >= c.replicaWait
}
