package store

import (
	"context"
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"errors"
	"strings"

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
	v, err := s.do(ctx, sc, "evalsha", sc.sha, keys, args)
	if err != nil && isNoScript(err) {
		v, err = s.do(ctx, sc, "eval", sc.src, keys, args)
	}
	return v, err
}

// do sends verb (EVALSHA or EVAL) with body (sc's digest or source).
func (s *Store) do(ctx context.Context, sc *script, verb, body string, keys []string, args []any) (any, error) {
	cmdArgs := make([]any, 0, 3+len(keys)+len(args))
	cmdArgs = append(cmdArgs, verb, body, len(keys))
	for _, k := range keys {
		cmdArgs = append(cmdArgs, k)
	}
	cmdArgs = append(cmdArgs, args...)
	cmd := redis.NewCmd(ctx, cmdArgs...)
	via := s.batch
	if sc.noWait {
		via = s.reads
	}
	if err := via.process(ctx, onceCmd{Cmd: cmd, noWait: sc.noWait}); err != nil {
		return nil, err
	}
	return cmd.Val(), nil
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
func (onceCmd) NoRetry() bool { return true }

func isNoScript(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "NOSCRIPT")
}
