package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// unavailableError is a failure to reach Redis. It is ErrUnavailable to
// errors.Is and keeps its cause for errors.As and the message.
type unavailableError struct {
	cause error
	dial  error // the last failed dial, when a connection was what was missing
}

func (e *unavailableError) Error() string {
	msg := ErrUnavailable.Error() + ": " + e.cause.Error()
	if e.dial != nil {
		msg += " (last dial: " + e.dial.Error() + ")"
	}
	return msg
}

func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }
func (e *unavailableError) Unwrap() error        { return e.cause }

// busyReplies are the Redis error replies that mean "not now" rather than
// "never": the server is loading its data, failing over, out of memory or
// unable to persist, or the cluster is reconfiguring.
var busyReplies = []string{
	"LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY",
	"NOREPLICAS", "MISCONF", "OOM", "ERR max number of clients reached",
	// A Cluster's redirections reach the store only where it sends to one
	// node itself (replication.go): the command did not run there.
	"MOVED", "ASK",
}

// fail turns a go-redis error into the store's: nil stays nil, a failure to
// reach Redis becomes ErrUnavailable, anything else (a bug, a wrong
// password, a script error) an internal error.
func (s *Store) fail(err error) error {
	if err == nil {
		return nil
	}
	if unreachable(err) {
		s.reloadTopology()
		return &unavailableError{cause: err, dial: s.dial.lastError()}
	}
	return fmt.Errorf("store: %w", err)
}

// Refused reports whether err is Redis refusing a command to the store's
// ACL user (a rule missing from docs/configuration.md's "A Redis ACL
// user"): NOPERM for a command sent, a script error for one a script ran.
// An operator's mistake, which no retry mends.
func Refused(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	msg := rerr.Error()
	return strings.HasPrefix(msg, "NOPERM") ||
		strings.Contains(msg, "The user executing the script can't") || // Redis 7.0
		strings.Contains(msg, "ACL failure in script") // Redis 7.2 and later
}

func unreachable(err error) bool {
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		for _, prefix := range busyReplies {
			if strings.HasPrefix(msg, prefix) {
				return true
			}
		}
		return false
	}
	var netErr net.Error
	return errors.Is(err, errNotReplicated) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) ||
		errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, redis.ErrPoolTimeout) ||
		errors.Is(err, redis.ErrPoolExhausted) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &netErr)
}
