package store

import (
	"context"
	"sync"
	"time"
)

// opDeadline is deadline for Edit, which hands its context to the batcher
// only (the profile reads bound themselves with batcher.getWithin). context.WithTimeout cost five allocations each time (the context,
// its timer and the timer's function, its done channel, ...): garbage on
// every GET user/me and every edit. An opContext means the same and is
// reused, with its timer and channel, when its operation ended before
// anything fired: then nothing can still hold it, since the batcher lets
// go of a request before it answers it (batcher.flush closes done last)
// and a caller that left early left on a fired context. Other operations,
// which hand their context to go-redis directly, keep WithTimeout. The
// function returned must be called once, as the operation ends.
func (s *Store) opDeadline(parent context.Context) (context.Context, func()) {
	c, _ := opContexts.Get().(*opContext)
	if c == nil {
		c = newOpContext()
	}
	c.start(parent, s.timeout)
	return c, c.release
}

var opContexts sync.Pool // of *opContext

// opContext is context.WithTimeout's context: done when its deadline
// passes, when its parent is done, or when released, whichever is first.
type opContext struct {
	parent   context.Context
	deadline time.Time
	// timer ends the context at its deadline; made once, reset on reuse.
	timer *time.Timer
	// stopParent unregisters parentDone from the parent (context.AfterFunc);
	// nil when the parent cannot be done.
	stopParent func() bool
	parentDone func()
	// release is the context's cancel function, made once.
	release func()

	mu   sync.Mutex
	done chan struct{}
	err  error
}

func newOpContext() *opContext {
	c := &opContext{done: make(chan struct{})}
	c.timer = time.AfterFunc(time.Hour, func() { c.end(context.DeadlineExceeded) })
	c.timer.Stop()
	c.parentDone = func() { c.end(c.parent.Err()) }
	c.release = c.cancel
	return c
}

// start arms c for an operation of at most timeout under parent.
func (c *opContext) start(parent context.Context, timeout time.Duration) {
	c.parent = parent
	c.deadline = time.Now().Add(timeout)
	if d, ok := parent.Deadline(); ok && d.Before(c.deadline) {
		c.deadline = d
	}
	if err := parent.Err(); err != nil {
		c.end(err)
		return
	}
	if parent.Done() != nil {
		c.stopParent = context.AfterFunc(parent, c.parentDone)
	}
	c.timer.Reset(time.Until(c.deadline))
}

// end makes c done with err, once.
func (c *opContext) end(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
		close(c.done)
	}
	c.mu.Unlock()
}

// cancel is the CancelFunc: it ends c as canceled and returns it to
// opContexts if nothing had ended it before, and nothing will: its timer
// and its parent's hook stopped before running.
func (c *opContext) cancel() {
	timerStopped := c.timer.Stop()
	parentStopped := c.stopParent == nil || c.stopParent()
	c.mu.Lock()
	clean := c.err == nil && timerStopped && parentStopped
	if !clean && c.err == nil {
		c.err = context.Canceled
		close(c.done)
	}
	c.mu.Unlock()
	if !clean {
		return // left to the collector: someone may still be watching it
	}
	c.parent, c.stopParent = nil, nil
	opContexts.Put(c)
}

// Deadline implements context.Context.
func (c *opContext) Deadline() (time.Time, bool) { return c.deadline, true }

// Done implements context.Context.
func (c *opContext) Done() <-chan struct{} { return c.done }

// Err implements context.Context.
func (c *opContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Value implements context.Context.
func (c *opContext) Value(key any) any { return c.parent.Value(key) }
