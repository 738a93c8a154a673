package caddymodule

import (
	"context"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

func init() {
	// go-redis logs through a process-wide logger that writes to stderr,
	// bypassing Caddy's log pipeline. Its lines (failed dials while Redis
	// is down, every 50 ms) are diagnostics: the 503s they cause are what
	// operators see, so they go to Caddy's logger at debug.
	redis.SetLogger(redisLogger{})
}

// redisLogger forwards go-redis's log lines to Caddy's current logger.
type redisLogger struct{}

func (redisLogger) Printf(_ context.Context, format string, v ...any) {
	logger := caddy.Log().Named("http.handlers.authedge.redis")
	if ce := logger.Check(zap.DebugLevel, "go-redis"); ce != nil {
		ce.Write(zap.String("message", fmt.Sprintf(format, v...)))
	}
}
