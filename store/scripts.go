package store

import (
	"context"
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed scripts/*.lua
var scriptFiles embed.FS

// script is one operation's Lua, run with EVALSHA and sent whole only when
// Redis answers NOSCRIPT (after a restart or SCRIPT FLUSH).
type script struct {
	name string
	src  string
	sha  string
	// noWait marks a script whose answer needs no replica to confirm it
	// (Options.WaitReplicas): it only reads, or writes nothing a failover
	// should keep (a rate-limit counter). It goes through the reads'
	// batcher, so a lagging replica never holds it up.
	noWait bool
}

// The scripts, one per operation. Each is scripts/lib.lua followed by its
// own file, so that what lib.lua defines is defined once.
var (
	scriptEnsureProfile      = loadScript("ensure_profile")
	scriptEdit               = loadScript("edit")
	scriptStartVerification  = loadScript("start_verification")
	scriptCancelVerification = loadScript("cancel_verification")
	scriptCheckCode          = loadScript("check_code")
	scriptIssueSudo          = loadScript("issue_sudo")
	scriptRevoke             = loadScript("revoke")
	scriptRevocationsSince   = loadScript("revocations_since").withoutWait()
	// lookup writes only its client IP's lookup counter: a count lost in
	// a failover lets that client ask a little more, which is not worth a
	// 503 while a replica lags.
	scriptLookup = loadScript("lookup").withoutWait()
	scriptQuery  = loadScript("query").withoutWait()
	// ensure_profile writes (it creates a missing profile), so it waits;
	// EnsureProfile reads an existing one without it.
)

func loadScript(name string) *script {
	lib, err := scriptFiles.ReadFile("scripts/lib.lua")
	if err != nil {
		panic(err)
	}
	own, err := scriptFiles.ReadFile("scripts/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	src := string(lib) + "\n" + string(own)
	sum := sha1.Sum([]byte(src))
	return &script{name: name, src: src, sha: hex.EncodeToString(sum[:])}
}

// withoutWait marks sc as needing no replica's confirmation (noWait).
func (sc *script) withoutWait() *script {
	sc.noWait = true
	return sc
}

// run executes sc once. A NOSCRIPT answer means Redis lost its script
// cache, which nothing else would fix: load it by running it with EVAL.
func (s *Store) run(ctx context.Context, sc *script, keys []string, args ...any) (any, error) {
	l := &scriptLine{line: make([]any, scriptLinePrefix, scriptLinePrefix+len(keys)+len(args))}
	for i := range keys {
		l.line = append(l.line, &keys[i])
	}
	l.line = append(l.line, args...)
	return s.runLine(ctx, sc, l, len(keys))
}

// A script's command line, as go-redis sends it, is EVALSHA (or EVAL),
// the script's digest (or source), the number of keys, the keys, then the
// arguments, in one []any. Boxing a string into an any copies its header
// to the heap: one allocation per key and per string argument, 30 of them
// for an edit. The keys and string arguments are given as pointers instead
// (to the caller's keys, to scriptLine's one array of strings), which box
// for free and which go-redis writes as the strings they point to
// (proto.Writer.WriteArg) and routes by in a cluster (baseCmd.stringArg).
// The strings must not change while the command is in flight.
const scriptLinePrefix = 3

// scriptLine is a script's command line and the strings it points to, in
// one array whose capacity is fixed when it is made: appending past it
// would move the array away from the pointers already taken.
type scriptLine struct {
	line []any
	strs []string
	// cmd is the command sending line, kept here so that passing it as a
	// redis.Cmder boxes a pointer, which costs no allocation.
	cmd onceCmd
}

// newScriptLine makes a line for strings string arguments (keys
// included) and others of other kinds.
func newScriptLine(strings, others int) scriptLine {
	return scriptLine{
		line: make([]any, scriptLinePrefix, scriptLinePrefix+strings+others),
		strs: make([]string, 0, strings),
	}
}

// str appends v to the line and returns its index in strs, by which it
// may be changed before the line is sent.
func (l *scriptLine) str(v string) int {
	if len(l.strs) == cap(l.strs) {
		panic("store: scriptLine is full")
	}
	l.strs = append(l.strs, v)
	l.line = append(l.line, &l.strs[len(l.strs)-1])
	return len(l.strs) - 1
}

// other appends a value that boxes without allocating: a pointer, or an
// integer below 256.
func (l *scriptLine) other(v any) { l.line = append(l.line, v) }

// runLine executes sc with l's line, whose first scriptLinePrefix entries
// it fills in; nkeys keys follow them.
func (s *Store) runLine(ctx context.Context, sc *script, l *scriptLine, nkeys int) (any, error) {
	return s.runLineUntil(ctx, time.Time{}, sc, l, nkeys)
}

// runLineUntil is runLine that also gives up at deadline, unless it is
// zero, with context.DeadlineExceeded (batcher.processWithin).
func (s *Store) runLineUntil(ctx context.Context, deadline time.Time, sc *script, l *scriptLine, nkeys int) (any, error) {
	l.line[0], l.line[1], l.line[2] = "evalsha", &sc.sha, nkeys
	v, err := s.do(ctx, deadline, sc, l)
	if err != nil && isNoScript(err) {
		l.line[0], l.line[1] = "eval", &sc.src
		v, err = s.do(ctx, deadline, sc, l)
	}
	return v, err
}

// do sends l's complete line through sc's batcher, by deadline if it is
// not zero.
func (s *Store) do(ctx context.Context, deadline time.Time, sc *script, l *scriptLine) (any, error) {
	var timeout time.Duration
	if !deadline.IsZero() {
		if timeout = time.Until(deadline); timeout <= 0 {
			return nil, context.DeadlineExceeded
		}
	}
	l.cmd = onceCmd{Cmd: redis.NewCmd(ctx, l.line...), noWait: sc.noWait}
	via := s.batch
	if sc.noWait {
		via = s.reads
	}
	if err := via.processWithin(ctx, timeout, &l.cmd); err != nil {
		return nil, err
	}
	return l.cmd.Val(), nil
}

// onceCmd keeps go-redis from sending a script a second time after a
// network error or timeout: the first may have run, and a second run of a
// write would count twice or find its verification token already spent.
// Commands Redis refused before running them (MOVED, ASK, NOSCRIPT) are
// still redirected or reloaded.
type onceCmd struct {
	*redis.Cmd
	// noWait is its script's: WAIT need not follow it.
	noWait bool
}

// NoRetry implements redis.Cmder.
func (*onceCmd) NoRetry() bool { return true }

func isNoScript(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "NOSCRIPT")
}
