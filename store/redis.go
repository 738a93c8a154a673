package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Store is the Redis-backed profile store. Safe for concurrent use.
type Store struct {
	client  redis.UniversalClient
	keys    keys
	timeout time.Duration
	// readTimeout bounds a read alone: it never waits for replicas, so
	// it is not given timeout's allowance for WAIT.
	readTimeout time.Duration
	now         func() time.Time

	dial *dialer
	// clusters are the clients that are a Redis Cluster's (the master's
	// and the replicas'), to reload their slot maps after a failure
	// (topology.go).
	clusters []*redis.ClusterClient
	// batch coalesces concurrent commands into pipelines: the write
	// scripts, followed by WAIT when Options.WaitReplicas is set.
	batch *batcher
	// reads batches what needs no replica's confirmation (plain reads,
	// scripts marked noWait) on the master. With WaitReplicas it is a
	// batcher of its own, so that no read waits behind WAIT; else batch.
	reads *batcher
	// replicas is the client that reads from replicas (Options.
	// ReadFromReplicas), nil if none; lagging batches the reads that may
	// lag: through replicas if set, else reads.
	replicas redis.UniversalClient
	lagging  *batcher
	// replicaSkipUntil is when reads that may lag go to a replica again
	// (Unix nanoseconds) after one failed to answer (getMayLag).
	replicaSkipUntil atomic.Int64
}

// Defaults for the Options a caller leaves zero.
const (
	defaultPrefix  = "authedge"
	defaultTimeout = 500 * time.Millisecond
)

// redialHorizon is how long one go-redis dial keeps polling an unreachable
// Redis (see dialer). It bounds nothing a caller waits for: every
// operation has its own deadline of Options.Timeout.
const redialHorizon = time.Minute

// redialEvery is how soon a returning Redis is noticed.
const redialEvery = 50 * time.Millisecond

// New builds a Store. It connects lazily: no I/O happens here.
func New(opts Options) (*Store, error) {
	switch {
	case len(opts.Addresses) == 0 && opts.SentinelMaster == "":
		return nil, errors.New("store: no Redis address")
	case len(opts.Addresses) > 0 && opts.SentinelMaster != "":
		return nil, errors.New("store: Redis addresses and a Sentinel master are exclusive")
	case opts.SentinelMaster != "" && len(opts.SentinelAddresses) == 0:
		return nil, errors.New("store: no Sentinel address")
	case opts.ReadFromReplicas && opts.SentinelMaster == "" && len(opts.Addresses) < 2:
		return nil, errors.New("store: a single node has no replicas to read from; use Sentinel or a Cluster")
	}
	if opts.EnvironmentID == "" {
		return nil, errors.New("store: no environment ID")
	}
	if opts.Prefix == "" {
		opts.Prefix = defaultPrefix
	}
	// A brace would end or empty the hash tag and scatter an environment's
	// keys over several cluster slots.
	if strings.ContainsAny(opts.EnvironmentID+opts.Prefix, "{}") {
		return nil, errors.New("store: the environment ID and key prefix may not contain { or }")
	}
	if opts.Timeout < 0 || opts.DB < 0 {
		return nil, errors.New("store: the timeout and db may not be negative")
	}
	if opts.Timeout == 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.WaitReplicas < 0 || opts.WaitTimeout < 0 {
		return nil, errors.New("store: the replicas and timeout to wait for may not be negative")
	}
	if opts.WaitReplicas > 0 && opts.WaitTimeout < time.Millisecond {
		// WAIT's timeout is in milliseconds, and 0 would block for ever.
		return nil, errors.New("store: waiting for replicas needs a timeout of at least 1ms")
	}
	if len(opts.Addresses) > 1 && opts.DB != 0 {
		return nil, errors.New("store: Redis Cluster has no numbered databases; leave db at 0")
	}

	d := &dialer{timeout: opts.Timeout, closed: make(chan struct{})}
	if opts.TLS {
		d.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	s := &Store{
		keys: newKeys(opts.Prefix, opts.EnvironmentID),
		// An operation may wait for replicas on top of its round trips.
		timeout:     opts.Timeout + opts.WaitTimeout,
		readTimeout: opts.Timeout,
		now:         opts.Now,
		dial:        d,
	}
	s.client = s.newClient(opts, false)
	for _, h := range opts.Hooks {
		s.client.AddHook(h)
	}
	if cluster, ok := s.client.(*redis.ClusterClient); ok {
		s.followFailovers(cluster)
	}
	s.batch = newWaitingBatcher(s.client, opts.Timeout, waitPolicy{
		replicas: opts.WaitReplicas, timeout: opts.WaitTimeout, slotKey: s.keys.profile(""), hooks: opts.Hooks,
	})
	s.reads = s.batch
	if opts.WaitReplicas > 0 {
		s.reads = newBatcher(s.client, opts.Timeout)
	}
	s.lagging = s.reads
	if opts.ReadFromReplicas {
		s.replicas = s.newClient(opts, true)
		for _, h := range opts.Hooks {
			s.replicas.AddHook(h)
		}
		if cluster, ok := s.replicas.(*redis.ClusterClient); ok {
			s.followFailovers(cluster)
		}
		s.lagging = newBatcher(s.replicas, opts.Timeout)
	}
	return s, nil
}

// newClient is the go-redis client for opts: one address is a single
// node, more a Cluster, a Sentinel master name a failover client
// (NewUniversalClient decides the same way). readOnly makes it read from
// replicas: a Sentinel's replica, or a Cluster's replica of the slot.
// Retries are off: a script that timed out may have run, and running an
// edit twice is not ours to risk.
func (s *Store) newClient(opts Options, readOnly bool) redis.UniversalClient {
	addrs, horizon := opts.Addresses, redialHorizon
	if opts.SentinelMaster != "" {
		// The failover client asks a Sentinel for the master's address
		// on each dial, and the dialer then keeps to that address: a dial
		// kept polling a dead master for the whole horizon would never
		// learn of its successor. One timeout per dial, then ask again.
		addrs, horizon = opts.SentinelAddresses, opts.Timeout
	}
	return redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:            addrs,
		MasterName:       opts.SentinelMaster,
		SentinelPassword: opts.SentinelPassword,
		ReadOnly:         readOnly,
		// RESP2: authedge uses no push messages, and go-redis processes
		// RESP3 pushes on every call (about 5% of Caddy's CPU on /me).
		Protocol:      2,
		Username:      opts.Username,
		Password:      opts.Password,
		DB:            opts.DB,
		Dialer:        s.dial.dialContext,
		DialTimeout:   horizon,
		DialerRetries: 1,
		// A pipeline ending in WAIT is read for as long as WAIT may block.
		ReadTimeout:              opts.Timeout + opts.WaitTimeout,
		WriteTimeout:             opts.Timeout,
		ContextTimeoutEnabled:    true,
		PoolTimeout:              opts.Timeout,
		MaxRetries:               -1,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
}

// Close releases the connections. The Store is unusable afterwards.
func (s *Store) Close() error {
	s.batch.close()
	if s.reads != s.batch {
		s.reads.close()
	}
	if s.replicas != nil {
		s.lagging.close()
	}
	s.dial.close()
	err := s.client.Close()
	if s.replicas != nil {
		err = errors.Join(err, s.replicas.Close())
	}
	return err
}

// Ping checks that Redis answers within the timeout.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	return s.fail(s.client.Ping(ctx).Err())
}

// deadline bounds one operation, all its round trips included.
func (s *Store) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// dialer opens connections for go-redis, and is what makes the store serve
// again within redialEvery of Redis coming back.
//
// go-redis dials in a goroutine of its own, detached from the caller who
// gave up at its deadline, and counts every failed dial; after PoolSize of
// them it stops dialing and probes once a second. A dial that fails fast
// would trip that at once in an outage. This dialer instead keeps trying
// every redialEvery until its context ends (go-redis's DialTimeout,
// redialHorizon), so a dial in flight when Redis returns connects at once
// and the pool never gives up in an outage shorter than redialHorizon. Each
// attempt is bounded by the store's timeout. TLS failures are not retried:
// they are not Redis being away but a misconfiguration to report.
type dialer struct {
	timeout time.Duration
	tls     *tls.Config

	closeOnce sync.Once
	closed    chan struct{}

	// lastErr is the last failed attempt, so a caller timed out waiting for
	// a connection learns why.
	lastErr atomic.Pointer[error]
}

func (d *dialer) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	for {
		conn, err := d.attempt(ctx, network, addr)
		if err == nil {
			d.lastErr.Store(nil)
			return conn, nil
		}
		d.lastErr.Store(&err)
		var opErr *net.OpError
		if !errors.As(err, &opErr) || opErr.Op != "dial" {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-d.closed:
			return nil, err
		case <-time.After(redialEvery):
		}
	}
}

func (d *dialer) attempt(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	nd := net.Dialer{KeepAlive: 30 * time.Second}
	conn, err := nd.DialContext(ctx, network, addr)
	if err != nil || d.tls == nil {
		return conn, err
	}
	cfg := d.tls.Clone()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// lastError is the last failed dial, nil once a dial succeeded.
func (d *dialer) lastError() error {
	if p := d.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (d *dialer) close() { d.closeOnce.Do(func() { close(d.closed) }) }
