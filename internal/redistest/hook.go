package redistest

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// CommandHook is a go-redis hook that calls itself with every command a
// client sends, alone or in a pipeline, just before it is sent: for tests
// that watch what reaches Redis, or act at that moment.
type CommandHook func(cmd redis.Cmder)

// DialHook leaves dialing as it is.
func (f CommandHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook calls f, then sends cmd.
func (f CommandHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		f(cmd)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook calls f for each command, then sends them.
func (f CommandHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			f(cmd)
		}
		return next(ctx, cmds)
	}
}

var _ redis.Hook = CommandHook(nil)
