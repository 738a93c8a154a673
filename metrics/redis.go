package metrics

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisHook returns the go-redis hook that times every command and counts
// the failed ones, to add to a client with AddHook (store.Options.Hooks).
// Nil for a nil Set.
//
// Commands sent together in one pipeline are each timed with the
// pipeline's round trip, which is what each of their callers waited.
// XREAD and XREADGROUP are not timed, only their errors counted: they may
// block waiting for new events by design. A missing key (redis.Nil) and a
// NOSCRIPT reply are not errors (see failed).
func (s *Set) RedisHook() redis.Hook {
	if s == nil {
		return nil
	}
	return s.redisHook
}

type redisHook struct{ s *Set }

func (h *redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		// go-redis sets cmd's error only once the hooks return.
		h.observe(cmd.Name(), time.Since(start), err)
		return err
	}
}

func (h *redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		d := time.Since(start)
		for _, cmd := range cmds {
			h.observe(cmd.Name(), d, cmd.Err())
		}
		return err
	}
}

func (h *redisHook) observe(name string, d time.Duration, err error) {
	c := &h.s.redisCmd[hotCommandOf(name)]
	if !blocking(name) {
		c.duration.Observe(d.Seconds())
	}
	if failed(err) {
		c.errors.Inc()
	}
}

// The commands of nearly every request: a profile read and a script.
var redisGet, redisEvalsha = redisCommandOf("get"), redisCommandOf("evalsha")

// hotCommandOf is redisCommandOf, with the commands of nearly every request
// found without a map lookup (a third of the hook's time per command).
func hotCommandOf(name string) redisCommand {
	switch name {
	case "get":
		return redisGet
	case "evalsha":
		return redisEvalsha
	}
	return redisCommandOf(name)
}

// blocking reports whether a command named name may wait for data by
// design, so that its time says nothing of Redis's health.
func blocking(name string) bool { return name == "xread" || name == "xreadgroup" }

// failed reports whether err is a failure. A missing key is an answer,
// and NOSCRIPT is Redis asking for a script it has not cached yet (after a
// start or a restart), which the store then sends: neither is a failure.
func failed(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	var reply redis.Error
	return !errors.As(err, &reply) || !strings.HasPrefix(reply.Error(), "NOSCRIPT")
}

var _ redis.Hook = (*redisHook)(nil)
