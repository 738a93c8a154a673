package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authedge/caddy-authedge/events"
	"github.com/authedge/caddy-authedge/internal/redistest"
)

// aclDoc holds the ACL recipe operators copy; the test reads it there, so
// the documented line is the one proven.
const aclDoc = "../docs/configuration.md"

const (
	aclUser     = "authedge"
	aclPassword = "acl-test-password"
)

// aclRecipe is the documented ACL SETUSER line, as arguments, adapted to
// the test's environment and password.
func aclRecipe(t testing.TB) []string {
	t.Helper()
	doc, err := os.ReadFile(aclDoc)
	if err != nil {
		t.Fatal(err)
	}
	var line string
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "ACL SETUSER "+aclUser+" ") {
			if line != "" {
				t.Fatalf("%s has two ACL SETUSER lines", aclDoc)
			}
			line = sc.Text()
		}
	}
	if line == "" {
		t.Fatalf("%s has no ACL SETUSER %s line", aclDoc, aclUser)
	}
	line = strings.ReplaceAll(line, "authedge:{prod}:", defaultPrefix+":{"+testEnv+"}:")
	line = strings.ReplaceAll(line, ">change-me", ">"+aclPassword)
	return strings.Fields(line)
}

// aclCommands are the recipe's +command rules, without the +.
func aclCommands(recipe []string) []string {
	var cmds []string
	for _, r := range recipe {
		if c, ok := strings.CutPrefix(r, "+"); ok {
			cmds = append(cmds, c)
		}
	}
	return cmds
}

// aclOnlyElsewhere are the recipe's commands no flow here sends: go-redis
// sends the first four only in topologies this test does not run (a db
// other than 0, a Redis Cluster); PING checks a subscription idle for a
// minute; DECR un-counts a failed send to a contact sent to earlier that
// day, more than the 60 s a contact waits between two sends; XGROUP
// SETID follows events trimmed from the stream before any instance read
// them (events.TestEventsTrimmedUnreadAreReported).
var aclOnlyElsewhere = []string{"select", "readonly", "cluster|slots", "command", "ping", "decr", "xgroup|setid"}

// aclUpkeep are commands of the events worker's upkeep: taking over a dead
// instance's events (XAUTOCLAIM), renewing its own (XCLAIM, HEXISTS),
// forgetting dead instances (XINFO CONSUMERS, XGROUP DELCONSUMER). Without
// them the worker logs a warning each time; what breaks shows only when an
// instance dies.
var aclUpkeep = []string{"hexists", "xautoclaim", "xclaim", "xinfo|consumers", "xgroup|delconsumer"}

// setACLUser (re)creates the user by recipe on each server, with fresh
// data and an empty script cache and ACL log.
func setACLUser(t testing.TB, recipe []string, servers ...*redistest.Server) {
	t.Helper()
	for _, s := range servers {
		args := make([]any, len(recipe))
		for i, a := range recipe {
			args[i] = a
		}
		c := redis.NewClient(&redis.Options{Addr: s.Addr, Protocol: 2})
		ctx := ctxT(t)
		err := c.Do(ctx, args...).Err()
		if err == nil {
			err = c.Do(ctx, "acl", "log", "reset").Err()
		}
		if err == nil {
			err = c.Do(ctx, "config", "resetstat").Err()
		}
		_ = c.Close()
		if err != nil {
			t.Fatalf("%s on %s: %v", strings.Join(recipe, " "), s.Addr, err)
		}
	}
	c := redis.NewClient(&redis.Options{Addr: servers[0].Addr, Protocol: 2})
	defer c.Close()
	if err := c.FlushAll(ctxT(t)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ScriptFlush(ctxT(t)).Err(); err != nil {
		t.Fatal(err)
	}
}

// aclStore is a store connecting as the recipe's user.
func aclStore(t testing.TB, addr string, waitReplicas int) *Store {
	t.Helper()
	opts := Options{Addresses: []string{addr}, EnvironmentID: testEnv, Username: aclUser, Password: aclPassword, Timeout: 2 * time.Second}
	if waitReplicas > 0 {
		opts.WaitReplicas, opts.WaitTimeout = waitReplicas, 2*time.Second
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestACLRecipe proves the documented ACL user: every flow works as that
// user, Redis refuses none of their commands, every command the recipe
// grants is one they send, and without any one rule some flow fails.
func TestACLRecipe(t *testing.T) {
	recipe := aclRecipe(t)
	master := redistest.Start(t)
	replica := redistest.StartReplica(t, master)
	admin := redis.NewClient(&redis.Options{Addr: master.Addr, Protocol: 2})
	t.Cleanup(func() { _ = admin.Close() })

	t.Run("all flows", func(t *testing.T) {
		setACLUser(t, recipe, master, replica)
		if err := aclFlows(t, master.Addr, 1); err != nil {
			t.Fatal(err)
		}
		if log, err := admin.Do(ctxT(t), "acl", "log").Slice(); err != nil || len(log) != 0 {
			t.Errorf("ACL LOG = %v, %v; want it empty", log, err)
		}
		stats, err := admin.Info(ctxT(t), "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range aclCommands(recipe) {
			if slices.Contains(aclOnlyElsewhere, c) {
				continue
			}
			if !strings.Contains(stats, "cmdstat_"+c+":calls=") {
				t.Errorf("the recipe grants %s, which no flow sent", c)
			}
		}
	})

	// Each rule dropped in turn: some flow must fail without it, or, for
	// the events worker's upkeep, whose failures it logs as warnings and
	// no flow here waits for, Redis must have refused the command.
	for i, rule := range recipe {
		if i < 3 || slices.Contains([]string{"reset", "on", "resetchannels"}, rule) || strings.HasPrefix(rule, ">") ||
			slices.Contains(aclOnlyElsewhere, strings.TrimPrefix(rule, "+")) {
			continue
		}
		// -short: the channel, the commands the flows start with, and
		// one a script runs.
		if testing.Short() && !strings.HasPrefix(rule, "&") && !slices.Contains([]string{"+evalsha", "+xadd"}, rule) {
			continue
		}
		t.Run("without "+rule, func(t *testing.T) {
			less := slices.Delete(slices.Clone(recipe), i, i+1)
			setACLUser(t, less, master, replica)
			err := aclFlows(t, master.Addr, 1)
			if err != nil {
				t.Logf("without %s: %v", rule, err)
				return
			}
			cmd, upkeep := strings.CutPrefix(rule, "+")
			if !upkeep || !slices.Contains(aclUpkeep, cmd) {
				t.Fatalf("every flow worked without %s", rule)
			}
			log, err := admin.Do(ctxT(t), "acl", "log").Slice()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(fmt.Sprint(log), "object "+cmd+" ") {
				t.Errorf("every flow worked without %s, and Redis refused nothing: %v", rule, log)
			}
		})
	}
}

// aclFlows drives every flow as the ACL user against the Redis at addr,
// writes waiting for waitReplicas, and returns the first failure.
func aclFlows(t *testing.T, addr string, waitReplicas int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := aclStore(t, addr, waitReplicas)
	other := aclStore(t, addr, 0)
	limit := Limit{Count: 10, Window: time.Minute}

	// The other instance's revocation reader, listening from the start.
	refusal := make(chan error, 1)
	nudges, stop := other.WatchRevocations(func(err error) { refusal <- err })
	defer stop()

	// The start's check of the memory policy.
	if _, err := s.MemoryPolicy(ctx); err != nil {
		return fmt.Errorf("MemoryPolicy: %w", err)
	}
	// Edit, with history and events on.
	if _, err := s.Edit(ctx, Edit{Actor: "u1", Target: "u1", CreateIfMissing: true, SudoSatisfied: true, RateLimit: limit,
		Changes: Changes{Nickname: ptr("One"), Username: ptr("Alice"), Phone: ptr("+86 13000000000"), Email: ptr("a@example.com")},
		Origin:  testOrigin("d1"), Events: eventsOn}); err != nil {
		return fmt.Errorf("edit: %w", err)
	}
	// user/me.
	if _, err := s.EnsureProfile(ctx, "u1"); err != nil {
		return fmt.Errorf("EnsureProfile: %w", err)
	}
	if _, _, err := s.ProfileMayLag(ctx, "u1"); err != nil {
		return fmt.Errorf("ProfileMayLag: %w", err)
	}
	// Verification send, verify, sudo; a new contact bound with them.
	v := newVerification("cv1", "u1", "email", "a@example.com")
	v.Owner = true
	if _, err := s.StartVerification(ctx, v); err != nil {
		return fmt.Errorf("StartVerification: %w", err)
	}
	if err := s.CheckCode(ctx, testIP, "cv1", v.Code, "vt1", time.Minute); err != nil {
		return fmt.Errorf("CheckCode: %w", err)
	}
	if err := s.IssueSudo(ctx, "u1", "vt1", "st1", time.Minute, bothContacts); err != nil {
		return fmt.Errorf("IssueSudo: %w", err)
	}
	if ok, err := s.SudoValid(ctx, "u1", "st1"); err != nil || !ok {
		return fmt.Errorf("SudoValid = %v, %v", ok, err)
	}
	w := newVerification("cv2", "u1", "email", "b@example.com")
	if _, err := s.StartVerification(ctx, w); err != nil {
		return fmt.Errorf("StartVerification: %w", err)
	}
	if err := s.CancelVerification(ctx, w); err != nil {
		return fmt.Errorf("CancelVerification: %w", err)
	}
	w.ID = "cv3"
	if _, err := s.StartVerification(ctx, w); err != nil {
		return fmt.Errorf("StartVerification again: %w", err)
	}
	if err := s.CheckCode(ctx, testIP, "cv3", "000000", "vt0", time.Minute); !errors.Is(err, ErrInvalidCode) {
		return fmt.Errorf("CheckCode with a wrong code: %v", err)
	}
	if err := s.CheckCode(ctx, testIP, "cv3", w.Code, "vt2", time.Minute); err != nil {
		return fmt.Errorf("CheckCode: %w", err)
	}
	// A sixth code asked within a minute is refused, with its Retry-After.
	for i := 1; ; i++ {
		_, err := s.StartVerification(ctx, newVerification(fmt.Sprint("cx", i), "u1", "email", fmt.Sprintf("c%d@example.com", i)))
		var limited *RateLimitedError
		if errors.As(err, &limited) && i == 4 {
			break
		}
		if err != nil || i == 4 {
			return fmt.Errorf("StartVerification %d of the minute: %v", i+2, err)
		}
	}
	if _, err := s.Edit(ctx, Edit{Actor: "u1", Target: "u1", SudoSatisfied: true, Sensitive: fieldSet(t, "email"),
		VerifyChannels: contactSet(t, "email"), VerificationToken: "vt2", Changes: Changes{Email: ptr("b@example.com")},
		RateLimit: limit, Origin: testOrigin("d1"), Events: eventsOn}); err != nil {
		return fmt.Errorf("contact edit: %w", err)
	}
	// Profile edit by another user, refused by the index.
	if _, err := s.Edit(ctx, Edit{Actor: "u2", Target: "u2", CreateIfMissing: true, RateLimit: limit,
		Changes: Changes{Username: ptr("ALICE")}}); !isConflict(err) {
		return fmt.Errorf("conflicting edit: %v", err)
	}
	// checkUsername, checkIfUserExist.
	if owner, held, err := s.LookupOwner(ctx, testIP, "username", "alice", limit); err != nil || !held || owner != "u1" {
		return fmt.Errorf("LookupOwner = %q, %v, %v", owner, held, err)
	}
	if held, err := s.Exists(ctx, testIP, "email", "b@example.com", limit); err != nil || !held {
		return fmt.Errorf("Exists = %v, %v", held, err)
	}
	// user/query.
	if _, ok, err := s.ProfileByValue(ctx, "phone", "+8613000000000"); err != nil || !ok {
		return fmt.Errorf("ProfileByValue = %v, %v", ok, err)
	}
	if _, err := s.ProfilesByID(ctx, []string{"u1", "nobody"}); err != nil {
		return fmt.Errorf("ProfilesByID: %w", err)
	}
	if _, _, err := s.Owner(ctx, "email", "b@example.com"); err != nil {
		return fmt.Errorf("Owner: %w", err)
	}
	// History.
	if h, _, err := s.History(ctx, "u1", 0, 10); err != nil || len(h) != 2 {
		return fmt.Errorf("History = %d entries, %v", len(h), err)
	}

	// A token revoked here reaches the other instance by Pub/Sub.
	drain(nudges)
	seq, err := s.Revoke(ctx, Revoke{Kind: RevokedToken, TokenDigest: TokenDigest("a.b.c"), Until: time.Now().Add(time.Hour),
		Actor: "u1", UserID: "u1", Origin: testOrigin("d1"), Events: eventsOn})
	if err != nil {
		return fmt.Errorf("revoke a token: %w", err)
	}
	select {
	case _, ok := <-nudges:
		if !ok { // ended: refused
			return fmt.Errorf("the other instance was not told of the revocation by Pub/Sub: %w", <-refusal)
		}
	case err := <-refusal:
		return fmt.Errorf("the other instance was not told of the revocation by Pub/Sub: %w", err)
	case <-time.After(3 * time.Second):
		return errors.New("the other instance was not told of the revocation by Pub/Sub")
	}
	if _, last, _, entries, err := other.RevocationsSince(ctx, 0, 100); err != nil || last != seq || len(entries) != 1 {
		return fmt.Errorf("RevocationsSince = %d, %d entries, %v; want %d, 1", last, len(entries), err, seq)
	}
	if st, err := other.RevocationState(ctx, TokenDigest("a.b.c"), "u1", "d1"); err != nil || !st.TokenRevoked {
		return fmt.Errorf("RevocationState = %+v, %v", st, err)
	}
	// revoke/all.
	if _, err := s.Revoke(ctx, Revoke{Kind: RevokedUser, UserID: "u1", Cutoff: time.Now(), Actor: "u1", Origin: testOrigin("d1"), Events: eventsOn}); err != nil {
		return fmt.Errorf("revoke/all: %w", err)
	}
	var snapshot int
	if _, _, err := other.RevocationSnapshot(ctx, func(Revocation) { snapshot++ }); err != nil || snapshot != 2 {
		return fmt.Errorf("RevocationSnapshot = %d revocations, %v", snapshot, err)
	}

	// The events: delivered by the worker, read by events tail, and the
	// commands of events redeliver.
	// As caddymodule's events client: RESP2, no CLIENT SETINFO.
	client := redis.NewClient(&redis.Options{Addr: addr, Username: aclUser, Password: aclPassword, Protocol: 2, DisableIdentity: true})
	defer client.Close()
	keys := events.NewKeys(defaultPrefix, testEnv)
	edits := 0
	edit := func() error {
		edits++
		_, err := s.Edit(ctx, Edit{Actor: "u1", Target: "u1", Changes: Changes{Nickname: ptr(fmt.Sprint("Nick ", edits))}, RateLimit: limit,
			Origin: testOrigin("d1"), Events: eventsOn})
		return err
	}
	if err := aclEvents(ctx, client, keys, edit); err != nil {
		return err
	}
	return nil
}

func isConflict(err error) bool {
	var c *ConflictError
	return errors.As(err, &c)
}

func drain(c <-chan struct{}) {
	select {
	case <-c:
	default:
	}
}

// aclEvents runs the events worker and the events commands: an event
// the receiver refuses is dead-lettered, `caddy authedge events redeliver`
// moves it back, the worker delivers it, and `events tail` reads it. The
// worker's group starts when it does: edit makes an event after that.
func aclEvents(ctx context.Context, client redis.UniversalClient, keys events.Keys, edit func() error) error {
	var accept atomic.Bool
	var attempts atomic.Int32
	var once sync.Once
	got := make(chan struct{})
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		attempts.Add(1)
		if !accept.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		once.Do(func() { close(got) })
	}))
	defer receiver.Close()
	// Short timings, so that the worker also claims, renews and forgets
	// (ClaimIdle) and dead-letters (RetryFor) within the test.
	start := func() (*events.Worker, error) {
		wk, err := events.New(events.Options{Client: client, Keys: keys, URL: receiver.URL,
			Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", RetryFor: 400 * time.Millisecond,
			BackoffMin: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond, ClaimIdle: 300 * time.Millisecond})
		if err != nil {
			return nil, err
		}
		wk.Start()
		select {
		case <-wk.Ready():
			return wk, nil
		case <-time.After(5 * time.Second):
			wk.Stop()
			return nil, errors.New("the events worker did not join the group")
		}
	}
	wk, err := start()
	if err != nil {
		return err
	}
	if err := edit(); err != nil {
		return fmt.Errorf("edit: %w", err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		n, err := events.DeadLetters(ctx, client, keys)
		if err != nil {
			return fmt.Errorf("events dead letters: %w", err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the events worker dead-lettered no event")
		}
		time.Sleep(20 * time.Millisecond)
	}
	accept.Store(true)
	if n, err := events.Redeliver(ctx, client, keys, eventsOn.MaxLen); err != nil || n == 0 {
		return fmt.Errorf("events redeliver = %d, %v", n, err)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		return errors.New("the events worker delivered no event")
	}
	// Acknowledged: nothing handed out is left.
	for deadline := time.Now().Add(5 * time.Second); ; {
		lag, err := events.Lag(ctx, client, keys, time.Now())
		if err != nil {
			return fmt.Errorf("events lag: %w", err)
		}
		if lag == 0 {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the events worker did not acknowledge the delivered event")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A worker stopped holding nothing leaves the group; one stopped
	// while it holds an event checks whether the event was trimmed from
	// the stream meanwhile.
	wk.Stop()
	if wk, err = start(); err != nil {
		return err
	}
	accept.Store(false)
	before := attempts.Load()
	if err := edit(); err != nil {
		return fmt.Errorf("edit: %w", err)
	}
	for deadline := time.Now().Add(5 * time.Second); attempts.Load() == before; {
		if time.Now().After(deadline) {
			return errors.New("the events worker did not try to deliver the second event")
		}
		time.Sleep(5 * time.Millisecond)
	}
	wk.Stop()

	tailCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	if err := events.Tail(tailCtx, client, keys, "0", &out); err != nil || !strings.Contains(out.String(), `"user.updated"`) {
		return fmt.Errorf("events tail = %q, %v", out.String(), err)
	}
	return nil
}

// aclReplicaStore opens a store on o's Redis as the recipe's user,
// reading from replicas, watches the revocations (a refused subscription
// fails t), and makes user u1, named alice, with events on: what the
// topology tests then read and revoke. The store closes when t ends.
func aclReplicaStore(t *testing.T, o Options) (*Store, <-chan struct{}) {
	t.Helper()
	o.EnvironmentID, o.Username, o.Password = testEnv, aclUser, aclPassword
	o.ReadFromReplicas, o.Timeout = true, 2*time.Second
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	nudges, stop := s.WatchRevocations(func(err error) { t.Errorf("refused: %v", err) })
	t.Cleanup(func() { _ = stop() })
	if _, err := s.Edit(ctxT(t), Edit{Actor: "u1", Target: "u1", CreateIfMissing: true, SudoSatisfied: true,
		Changes: Changes{Username: ptr("alice")}, Origin: testOrigin("d1"), Events: eventsOn}); err != nil {
		t.Fatal(err)
	}
	return s, nudges
}

// TestACLRecipeCluster: in a Redis Cluster, reading from replicas, the
// recipe's user also has what go-redis sends there (the slot map, the
// command table, READONLY), and Redis refuses it nothing.
func TestACLRecipeCluster(t *testing.T) {
	recipe := aclRecipe(t)
	c := redistest.StartClusterWith(t, redistest.ClusterConfig{Masters: 3, ReplicasPerMaster: 1})
	args := make([]any, len(recipe))
	for i, a := range recipe {
		args[i] = a
	}
	admins := make([]*redis.Client, len(c.Nodes))
	var replicas []*redistest.Server
	for i, n := range c.Nodes {
		admins[i] = redis.NewClient(&redis.Options{Addr: n.Addr, Protocol: 2})
		t.Cleanup(func() { _ = admins[i].Close() })
		if err := admins[i].Do(ctxT(t), args...).Err(); err != nil {
			t.Fatal(err)
		}
		if info, err := admins[i].Info(ctxT(t), "replication").Result(); err != nil {
			t.Fatal(err)
		} else if strings.Contains(info, "role:slave") {
			replicas = append(replicas, n)
		}
	}
	c.WaitSlotsListReplicas(t, replicas, 10*time.Second)
	for _, a := range admins {
		if err := a.ConfigResetStat(ctxT(t)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	s, nudges := aclReplicaStore(t, Options{Addresses: c.Addrs()})
	ctx := ctxT(t)
	if _, ok, err := s.ProfileMayLag(ctx, "u1"); err != nil {
		t.Fatal(err)
	} else if !ok {
		t.Log("the replica had not the profile yet") // a lag, not a refusal
	}
	revokeUntilNudged(t, s, nudges)
	if _, _, err := s.RevocationSnapshot(ctx, func(Revocation) {}); err != nil {
		t.Fatal(err)
	}
	var stats string
	for i, a := range admins {
		if log, err := a.Do(ctx, "acl", "log").Slice(); err != nil || len(log) != 0 {
			t.Errorf("ACL LOG of %s = %v, %v; want it empty", c.Nodes[i].Addr, log, err)
		}
		st, err := a.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		stats += st
	}
	for _, cmd := range []string{"readonly", "cluster|slots", "command"} {
		if !strings.Contains(stats, "cmdstat_"+cmd+":calls=") {
			t.Errorf("no node was sent %s", cmd)
		}
	}

	replicaGets(t, admins)
	if _, _, err := s.ProfileMayLag(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if n := replicaGets(t, admins); n == 0 {
		t.Error("a read from replicas went to no replica")
	}

	// Without each of them, the user is refused it.
	for _, cmd := range []string{"readonly", "cluster|slots", "command"} {
		t.Run("without "+cmd, func(t *testing.T) {
			less := slices.DeleteFunc(slices.Clone(args), func(a any) bool { return a == "+"+cmd })
			for _, a := range admins {
				if err := a.Do(ctxT(t), less...).Err(); err != nil {
					t.Fatal(err)
				}
				if err := a.Do(ctxT(t), "acl", "log", "reset").Err(); err != nil {
					t.Fatal(err)
				}
			}
			s, err := New(Options{Addresses: c.Addrs(), EnvironmentID: testEnv, Username: aclUser, Password: aclPassword,
				ReadFromReplicas: true, Timeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			replicaGets(t, admins)
			_, editErr := s.Edit(ctxT(t), Edit{Actor: "u1", Target: "u1", Changes: Changes{Nickname: ptr("x")}})
			_, _, readErr := s.ProfileMayLag(ctxT(t), "u1")
			var refused bool
			for _, a := range admins {
				log, err := a.Do(ctxT(t), "acl", "log").Slice()
				if err != nil {
					t.Fatal(err)
				}
				refused = refused || len(log) > 0
			}
			t.Logf("edit: %v; read from a replica: %v; refused: %v", editErr, readErr, refused)
			if editErr != nil || readErr != nil {
				return
			}
			// go-redis routes a read to a replica by the command table; without
			// it the read goes to the master.
			if n := replicaGets(t, admins); cmd != "command" || n != 0 {
				t.Errorf("everything worked without %s (%d reads on replicas)", cmd, n)
			}
		})
	}
}

// replicaGets is how many GETs the replicas among nodes served since the
// last call, whose counts it resets.
func replicaGets(t *testing.T, nodes []*redis.Client) int {
	t.Helper()
	n := 0
	for _, a := range nodes {
		info, err := a.Info(ctxT(t), "replication", "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(info, "role:slave") {
			if _, rest, ok := strings.Cut(info, "cmdstat_get:calls="); ok {
				var calls int
				fmt.Sscan(strings.SplitN(rest, ",", 2)[0], &calls)
				n += calls
			}
		}
		if err := a.ConfigResetStat(ctxT(t)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// TestACLRecipeSentinel: through Sentinel, reading from a replica, the
// recipe's user needs nothing more: Redis refuses it nothing.
func TestACLRecipeSentinel(t *testing.T) {
	recipe := aclRecipe(t)
	master, replica, sentinel := sentinelWithReplica(t)
	setACLUser(t, recipe, master, replica)
	s, nudges := aclReplicaStore(t, Options{SentinelMaster: "authedge", SentinelAddresses: []string{sentinel}})
	ctx := ctxT(t)
	admins := []*redis.Client{
		redis.NewClient(&redis.Options{Addr: master.Addr, Protocol: 2}),
		redis.NewClient(&redis.Options{Addr: replica.Addr, Protocol: 2}),
	}
	for _, a := range admins {
		defer a.Close()
	}
	if err := admins[1].ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ProfileMayLag(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if st, _ := admins[1].Info(ctx, "commandstats").Result(); !strings.Contains(st, "cmdstat_get:calls=") {
		t.Error("the read from a replica went to no replica")
	}
	revokeUntilNudged(t, s, nudges)
	for i, a := range admins {
		if log, err := a.Do(ctx, "acl", "log").Slice(); err != nil || len(log) != 0 {
			t.Errorf("ACL LOG of node %d = %v, %v; want it empty", i, log, err)
		}
	}
}
