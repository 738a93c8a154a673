package notify

import (
	"context"

	"go.uber.org/zap"

	"github.com/authedge/caddy-authedge/profile"
)

// Log is a development sender: it writes each code to the log at warn
// level instead of delivering it. It is the one place in authedge where a
// code is logged, which is why it must never run in production; warning
// about that at start-up is caddymodule's job. Contacts are masked all the
// same, since a log of a development box still outlives the codes in it.
type Log struct {
	logger *zap.Logger
}

// NewLog returns a sender writing to logger (zap.NewNop if nil).
func NewLog(logger *zap.Logger) *Log {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Log{logger: logger}
}

// Send logs m's code and never fails.
func (l *Log) Send(_ context.Context, m Message) error {
	l.logger.Warn("verification code (development sender: codes are logged, not delivered)",
		zap.String("verification_id", m.VerificationID),
		zap.String("channel", m.Channel),
		zap.String("to", profile.MaskContact(m.Channel == "email", m.To)),
		zap.String("code", m.Code),
		zap.String("usage", m.Usage),
		zap.Int("expires_in", m.ExpiresIn),
	)
	return nil
}
