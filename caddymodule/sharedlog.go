package caddymodule

import (
	"slices"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// sharedLog is the log of a component that outlives the config that
// started it (a pool value: the remote JWKS, the revocation checker, the
// events worker). Such a component writes through the logger of the
// newest handler holding it, not of the first: Caddy builds each config's
// loggers from that config's `log` blocks and closes the writers the next
// config no longer names, so lines written through the first config's
// logger after a reload that moves or filters authedge's log would go to
// the old place, or nowhere. A handler that lets go (a config cleaned up,
// also one that failed to load) hands the log back to the newest holder
// left.
type sharedLog struct {
	mu      sync.Mutex
	holders []logHolder // oldest first
	current atomic.Pointer[zap.Logger]
}

type logHolder struct {
	handler *Handler
	logger  *zap.Logger
}

// newSharedLog starts a shared log held by h.
func newSharedLog(h *Handler) *sharedLog {
	s := &sharedLog{}
	s.hold(h)
	return s
}

// hold makes h's logger the one the component writes through, until h
// lets go or a newer handler holds it.
func (s *sharedLog) hold(h *Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holders = append(s.holders, logHolder{handler: h, logger: h.logger})
	s.current.Store(h.logger)
}

// letGo is hold undone. The last holder's logger stays: the component is
// stopped then, and a line it writes while stopping still goes somewhere.
func (s *sharedLog) letGo(h *Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holders = slices.DeleteFunc(s.holders, func(l logHolder) bool { return l.handler == h })
	if n := len(s.holders); n > 0 {
		s.current.Store(s.holders[n-1].logger)
	}
}

// holdLog records that h holds log, and makes h its holder if the
// component was already running (loaded): newSharedLog made the handler
// that started it the first.
func (h *Handler) holdLog(log *sharedLog, loaded bool) {
	if loaded {
		log.hold(h)
	}
	h.sharedLogs = append(h.sharedLogs, log)
}

// logger is what the component is given: a logger, named as the handlers'
// is, whose every entry goes to the current holder's logger.
func (s *sharedLog) logger() *zap.Logger {
	return zap.New(&handoffCore{log: s}).Named(s.current.Load().Name())
}

// handoffCore is the zapcore.Core of sharedLog.logger: it looks up the
// current holder's core at each entry. Its own fields (With) are applied
// to that core when an entry is written; these components log seldom, so
// that costs nothing that matters.
type handoffCore struct {
	log    *sharedLog
	fields []zapcore.Field
}

func (c *handoffCore) target() zapcore.Core { return c.log.current.Load().Core() }

func (c *handoffCore) Enabled(level zapcore.Level) bool { return c.target().Enabled(level) }

func (c *handoffCore) With(fields []zapcore.Field) zapcore.Core {
	return &handoffCore{log: c.log, fields: append(slices.Clip(c.fields), fields...)}
}

// Check asks the current core, so that its own sampling and filters (by
// logger name, Caddy's include and exclude) decide, then writes through
// this core, which adds the fields.
func (c *handoffCore) Check(entry zapcore.Entry, checked *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	target := c.target()
	if len(c.fields) > 0 {
		target = target.With(c.fields)
	}
	return target.Check(entry, checked)
}

func (c *handoffCore) Write(entry zapcore.Entry, fields []zapcore.Field) error {
	target := c.target()
	if len(c.fields) > 0 {
		target = target.With(c.fields)
	}
	return target.Write(entry, fields)
}

func (c *handoffCore) Sync() error { return c.target().Sync() }

// Interface guard.
var _ zapcore.Core = (*handoffCore)(nil)
